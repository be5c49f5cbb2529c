# Copyright (c) mmx3d contributors. All rights reserved.
"""A short CPU training run on the synthetic AVA data reaches mAP >= 0.8."""
import glob
import json
import os.path as osp
import time

import pytest
import torch
from mmengine.config import Config

from tests.helpers.paths import redirect

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs/x3d/x3d_xs_ava_synthetic.py')


@pytest.mark.slow
def test_train_synthetic_reaches_map(ava_synthetic, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'mmx3d_train_tool', osp.join(ROOT, 'tools/train.py'))
    train_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_tool)

    cfg = Config.fromfile(CONFIG)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'test_evaluator'):
        cfg[key] = redirect(cfg[key].to_dict(), 'data/ava_synthetic',
                             ava_synthetic['root'])
    iters = 60
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=10),
        dict(type='CosineAnnealingLR', T_max=iters, by_epoch=False,
             begin=0, end=iters),
    ]
    cfg.default_hooks.checkpoint = dict(
        type='AtomicCheckpointHook', interval=iters, by_epoch=False,
        save_best=None, max_keep_ckpts=1)
    cfg_file = str(tmp_path / 'x3d_xs_ava_synthetic_test.py')
    cfg.dump(cfg_file)
    work_dir = str(tmp_path / 'work_dir')

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core, as on a shared CI machine
    t0 = time.time()
    try:
        train_tool.main([cfg_file, '--work-dir', work_dir, '--seed', '0'])
    finally:
        torch.set_num_threads(threads)
    elapsed = time.time() - t0

    scalars = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert scalars, 'no scalars.json written'
    maps = []
    with open(scalars[0]) as f:
        for line in f:
            rec = json.loads(line)
            if 'ava/frame_mAP@0.5' in rec:
                maps.append(rec['ava/frame_mAP@0.5'])
    assert maps, 'the evaluator never ran'
    # the official-format result file lies in the work dir
    csvs = glob.glob(osp.join(work_dir, '*', f'ava_detections_iter{iters}.csv'))
    assert csvs
    with open(csvs[0]) as f:
        row = f.readline().strip().split(',')
    assert len(row) == 8 and row[0].startswith('syn_val_')
    print(f'frame-mAP@0.5 {maps[-1]:.4f} after {iters} iterations '
          f'({elapsed:.0f} s)')
    assert maps[-1] >= 0.8
