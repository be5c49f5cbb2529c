# Copyright (c) mmx3d contributors. All rights reserved.
"""Precise BN: every BN layer in training mode (the head's included) gets the
exact average of its batch statistics; eval-mode BN layers are untouched."""
import os
import os.path as osp

import pytest
import torch
from mmaction.structures import ActionDataSample
from torch.nn.modules.batchnorm import _BatchNorm

from mmx3d.engine.hooks import update_bn_stats
from mmx3d.registry import MODELS
from tests.helpers.bn_stats import (
    assert_exact_averages,
    bn_state,
    record_bn_inputs,
)

NUM_CLASSES = 5


def _recognizer(arch, **backbone_kwargs):
    model = MODELS.build(
        dict(
            type='Recognizer3D',
            backbone=dict(type='X3DBackbone', arch=arch, **backbone_kwargs),
            cls_head=dict(type='X3DClsHead', num_classes=NUM_CLASSES,
                          in_channels=192, mid_channels=432),
            data_preprocessor=dict(
                type='ActionDataPreprocessor',
                mean=[114.75, 114.75, 114.75],
                std=[57.38, 57.38, 57.38],
                format_shape='NCTHW')))
    model.init_weights()
    # statistics that are neither the reset values nor the batch averages
    g = torch.Generator().manual_seed(5)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + .5)
            m.num_batches_tracked.fill_(11)
    return model.eval()


def _batches(num, batch_size=4, frames=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        inputs = [
            torch.randint(0, 256, (1, 3, frames, size, size), generator=g,
                          dtype=torch.uint8) for _ in range(batch_size)
        ]
        samples = [
            ActionDataSample().set_gt_label(i % NUM_CLASSES)
            for i in range(batch_size)
        ]
        out.append(dict(inputs=inputs, data_samples=samples))
    return out


@pytest.mark.parametrize('arch,norm_cfg', [
    ('xs', dict(type='BN3d')),
    ('s', dict(type='SubBatchNorm3d', group_size=2)),
])
def test_every_trainable_bn_is_the_exact_average(arch, norm_cfg):
    model = _recognizer(arch, norm_cfg=norm_cfg)
    num_batches = 3
    seen, handles = record_bn_inputs(model)
    used = update_bn_stats(model, iter(_batches(5)), num_batches)
    for h in handles:
        h.remove()
    assert used == num_batches
    assert not model.training  # mode restored
    bns = {n: m for n, m in model.named_modules()
           if isinstance(m, _BatchNorm)}
    assert 'cls_head.conv5_bn' in bns and len(bns) == 84
    assert_exact_averages(model, seen, num_batches)
    for bn in bns.values():
        assert bn.momentum == 0.1  # restored


@pytest.mark.parametrize('backbone_kwargs,frozen_prefixes', [
    (dict(frozen_stages=1), ('backbone.stem.', 'backbone.res2.')),
    (dict(norm_eval=True), ('backbone.', )),
])
def test_eval_mode_bn_is_left_alone(backbone_kwargs, frozen_prefixes):
    model = _recognizer('xs', **backbone_kwargs)
    before = bn_state(model)
    assert update_bn_stats(model, iter(_batches(2)), 2) == 2
    after = bn_state(model)
    frozen = [n for n in before if n.startswith(frozen_prefixes)]
    trained = [n for n in before if n not in frozen]
    assert frozen and 'cls_head.conv5_bn' in trained
    for name in frozen:
        for a, b in zip(before[name], after[name]):
            assert torch.equal(a, b), name
    for name in trained:
        assert int(after[name][2]) == 2, name
        assert not torch.equal(before[name][0], after[name][0]), name


def test_no_batches_keeps_the_statistics():
    model = _recognizer('xs')
    before = bn_state(model)
    assert update_bn_stats(model, iter([]), 4) == 0
    for name, tensors in bn_state(model).items():
        for a, b in zip(before[name], tensors):
            assert torch.equal(a, b), name


@pytest.mark.slow
def test_hook_in_a_real_training_run(synthetic_data, tmp_path):
    """The best checkpoint of a real Runner run carries recomputed head-BN
    statistics (before the fix: mean 0 / var 1 / 0 batches tracked)."""
    from mmx3d.apis import build_runner
    from mmx3d.utils.compat import safe_torch_load
    from tests.helpers.tiny import tiny_synthetic_cfg
    cfg = tiny_synthetic_cfg(synthetic_data, str(tmp_path), max_epochs=1)
    cfg.custom_hooks = [dict(type='PreciseBNHook', num_batches=3)]
    runner = build_runner(cfg, seed=0)
    runner.train()
    best = [f for f in os.listdir(runner.work_dir) if f.startswith('best_')]
    assert len(best) == 1, best
    state = safe_torch_load(osp.join(runner.work_dir, best[0]))['state_dict']
    assert int(state['cls_head.conv5_bn.num_batches_tracked']) == 3
    assert int(state['backbone.stem.bn.num_batches_tracked']) == 3
    assert state['cls_head.conv5_bn.running_mean'].abs().max() > 1e-3
    assert (state['cls_head.conv5_bn.running_var'] - 1).abs().max() > 1e-3
