# Copyright (c) mmx3d contributors. All rights reserved.
"""Forwards run for a side purpose (FLOP counting, the inference-cost hook)
count the whole recognizer and leave its BN statistics and modes alone."""
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmx3d.utils.complexity import count_flops, recognizer_complexity


def _bn_buffers(model):
    return [(n, b.clone()) for n, b in model.named_buffers()
            if 'running' in n or 'num_batches' in n]


def _head_macs(head, t, h, w):
    """conv5 (1x1x1) + lin5 + classifier, by hand."""
    return (head.conv5.in_channels * head.conv5.out_channels * t * h * w +
            head.lin5.in_features * head.lin5.out_features +
            head.fc_cls.in_features * head.fc_cls.out_features)


def test_recognizer_complexity_counts_the_head_and_keeps_bn(synthetic_data,
                                                            tmp_path):
    from mmx3d.apis import build_runner
    from tests.helpers.tiny import tiny_synthetic_cfg
    cfg = tiny_synthetic_cfg(synthetic_data, str(tmp_path))
    cfg.model.backbone.frozen_stages = 1
    runner = build_runner(cfg)
    model = runner.model
    model.train()
    before = _bn_buffers(model)

    shape = (4, 36, 36)
    gflops = recognizer_complexity(model, shape)['gflops']

    for (name, a), (_, b) in zip(before, _bn_buffers(model)):
        assert torch.equal(a, b), name
    assert model.training and model.cls_head.conv5_bn.training
    assert not model.backbone.stem.bn.training  # frozen stays frozen
    backbone = count_flops(model.backbone.eval(), torch.zeros(1, 3, *shape))
    t, h, w = shape[0], -(-shape[1] // 32), -(-shape[2] // 32)
    assert round(gflops * 1e9) == backbone + _head_macs(model.cls_head, t,
                                                         h, w)


def test_inference_cost_hook_in_a_real_test_run(synthetic_data, tmp_path):
    """``tools/test.py`` adds the hook: the test metrics carry views x
    GFLOPs of the whole recognizer at the test pipeline's clip shape."""
    from mmx3d.apis import build_runner
    from tests.helpers.tiny import tiny_synthetic_cfg
    cfg = tiny_synthetic_cfg(synthetic_data, str(tmp_path))
    cfg.custom_hooks = [dict(type='InferenceCostHook')]
    runner = build_runner(cfg)
    bns = [m for m in runner.model.modules() if isinstance(m, _BatchNorm)]
    before = [m.running_mean.clone() for m in bns]
    metrics = runner.test()
    for m, b in zip(bns, before):
        assert torch.equal(m.running_mean, b)
    pipeline = cfg.test_dataloader.dataset.pipeline
    sample = next(s for s in pipeline if s['type'].endswith('SampleFrames'))
    crops = next(s for s in pipeline if s['type'] == 'ThreeCrop')
    t, size = sample['clip_len'], crops['crop_size']
    assert metrics['views'] == sample['num_clips'] * 3
    model = runner.model
    macs = count_flops(model.backbone.eval(),
                       torch.zeros(1, 3, t, size, size)) + _head_macs(
                           model.cls_head, t, -(-size // 32), -(-size // 32))
    assert abs(metrics['gflops_per_view'] - macs / 1e9) < 1e-4
    assert abs(metrics['gflops_per_video'] -
               metrics['views'] * macs / 1e9) < 1e-3
