# Copyright (c) mmx3d contributors. All rights reserved.
"""``tools/model_converters/precise_bn.py``: repair a checkpoint whose head
BN was reset by the old precise BN."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmx3d.registry import MODELS
from mmx3d.utils.compat import safe_torch_load
from tests.helpers.tiny import tiny_synthetic_cfg

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.slow
def test_precise_bn_tool_repairs_a_reset_head_bn(synthetic_data, tmp_path):
    cfg = tiny_synthetic_cfg(synthetic_data, str(tmp_path))
    cfg.train_dataloader.batch_size = 2
    cfg_path = str(tmp_path / 'tiny.py')
    cfg.dump(cfg_path)
    model = MODELS.build(cfg.model)
    model.init_weights()
    head_bn = model.cls_head.conv5_bn
    head_bn.reset_running_stats()  # what the old precise BN left behind
    old = str(tmp_path / 'old.pth')
    torch.save(dict(meta=dict(epoch=3), state_dict=model.state_dict(),
                    optimizer=dict(state={}, param_groups=[])), old)
    fixed = str(tmp_path / 'fixed.pth')
    proc = subprocess.run(
        [sys.executable, 'tools/model_converters/precise_bn.py', cfg_path,
         old, '--out', fixed, '--num-batches', '3'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'over 3 training batches' in proc.stdout
    before = safe_torch_load(old)
    after = safe_torch_load(fixed)
    assert after['meta']['epoch'] == 3 and 'optimizer' in after
    assert after['meta']['precise_bn']['num_batches'] == 3
    sd = after['state_dict']
    assert int(sd['cls_head.conv5_bn.num_batches_tracked']) == 3
    assert (sd['cls_head.conv5_bn.running_var'] - 1).abs().max() > 1e-3
    for k, v in before['state_dict'].items():
        if 'running' not in k and 'num_batches' not in k:
            assert torch.equal(v, sd[k]), k  # weights untouched

    same = subprocess.run(
        [sys.executable, 'tools/model_converters/precise_bn.py', cfg_path,
         old, '--out', old], cwd=ROOT, capture_output=True, text=True)
    assert same.returncode != 0 and 'must differ' in same.stderr
