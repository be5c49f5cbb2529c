# Copyright (c) mmx3d contributors. All rights reserved.
"""Channels-last-3D end to end: same values and gradients, and every feature
map of the backbone really is channels-last."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmx3d.models.data_preprocessors import (
    X3DDataPreprocessor,
    to_channels_last_3d,
)
from mmx3d.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CL = torch.channels_last_3d
NORM = dict(mean=[114.75] * 3, std=[57.375] * 3, format_shape='NCTHW')


def _data(n=2, views=1, shape=(4, 32, 32)):
    from mmaction.structures import ActionDataSample
    g = torch.Generator().manual_seed(0)
    inputs = [
        torch.randint(0, 256, (views, 3, *shape), dtype=torch.uint8,
                      generator=g) for _ in range(n)
    ]
    samples = []
    for i in range(n):
        s = ActionDataSample()
        s.set_gt_label(torch.tensor([i % 3]))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_to_channels_last_3d_layouts():
    x5 = torch.randn(2, 3, 4, 5, 6)
    y5 = to_channels_last_3d(x5)
    assert y5.is_contiguous(memory_format=CL) and torch.equal(x5, y5)
    x6 = torch.randn(2, 3, 3, 4, 5, 6)
    y6 = to_channels_last_3d(x6)
    assert torch.equal(x6, y6)
    flat = y6.view(-1, 3, 4, 5, 6)  # what Recognizer3D does
    assert flat.is_contiguous(memory_format=CL)
    x4 = torch.randn(2, 3, 4, 5)
    assert to_channels_last_3d(x4) is x4


def test_data_preprocessor_same_values_channels_last():
    from mmaction.models.data_preprocessors import ActionDataPreprocessor
    plain = ActionDataPreprocessor(**NORM)
    cl = X3DDataPreprocessor(channels_last=True, **NORM)
    data = _data(views=3)
    a = plain(copy.deepcopy(data), False)['inputs']
    b = cl(copy.deepcopy(data), False)['inputs']
    assert torch.equal(a, b)
    assert b.view(-1, *b.shape[2:]).is_contiguous(memory_format=CL)
    off = X3DDataPreprocessor(**NORM)(copy.deepcopy(data), False)['inputs']
    assert off.is_contiguous()


def _recognizer(channels_last, fused_ops=False):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_xs_kinetics400.py'))
    cfg.model.backbone.update(gamma_d=1.0, channels_last=channels_last,
                              fused_ops=fused_ops)
    cfg.model.cls_head.dropout_ratio = 0.0
    cfg.model.data_preprocessor.update(type='X3DDataPreprocessor',
                                       channels_last=channels_last)
    return MODELS.build(cfg.model)


def _loss_and_grads(model, data, dtype):
    model.train()
    d = model.data_preprocessor(copy.deepcopy(data), True)
    loss = model(d['inputs'].to(dtype), d['data_samples'],
                 mode='loss')['loss_cls']
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize('threads', [1, 2])
@pytest.mark.parametrize('fused', [False, True])
def test_recognizer_channels_last_end_to_end(threads, fused):
    """float32, as trained: every conv of the backbone gets, and every stage
    returns, channels-last tensors (also with one thread, where PyTorch runs
    convs with 1x1 spatial kernels with a kernel that returns contiguous
    tensors); the loss matches the default layout's."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _check_end_to_end(fused)
    finally:
        torch.set_num_threads(before)


def _check_end_to_end(fused):
    torch.manual_seed(0)
    plain = _recognizer(False)
    cl = _recognizer(True, fused_ops=fused)
    cl.load_state_dict(plain.state_dict())
    seen = []

    def check(module, inp, out):
        seen.append(inp[0].is_contiguous(memory_format=CL))

    for m in cl.backbone.modules():
        if isinstance(m, torch.nn.Conv3d) and m.kernel_size != (1, 1, 1):
            m.register_forward_hook(check)
    feats = []
    for stage in ('res2', 'res3', 'res4', 'res5'):
        getattr(cl.backbone, stage).register_forward_hook(
            lambda m, i, o: feats.append(o.is_contiguous(memory_format=CL)))
    data = _data()
    loss1, _ = _loss_and_grads(plain, data, torch.float32)
    loss2, _ = _loss_and_grads(cl, data, torch.float32)
    assert feats == [True] * 4
    if not fused:  # the fused blocks call conv_b functionally
        assert len(seen) == 2 + 11 and all(seen)  # stem 2 + conv_b x 11
    with torch.no_grad():  # and in eval mode
        cl.eval()
        feats.clear()
        d = cl.data_preprocessor(copy.deepcopy(data), False)
        cl(d['inputs'], mode='tensor', stage='head')
        assert feats == [True] * 4
    torch.testing.assert_close(loss2, loss1, rtol=1e-5, atol=1e-6)


def test_recognizer_channels_last_same_gradients_float64():
    """float64, where rounding cannot hide a wrong gradient."""
    torch.manual_seed(0)
    plain = _recognizer(False).double()
    cl = _recognizer(True).double()
    cl.load_state_dict(plain.state_dict())
    data = _data()
    loss1, g1 = _loss_and_grads(plain, data, torch.float64)
    loss2, g2 = _loss_and_grads(cl, data, torch.float64)
    torch.testing.assert_close(loss2, loss1, rtol=1e-12, atol=1e-12)
    for n in g1:
        torch.testing.assert_close(g2[n], g1[n], rtol=1e-8, atol=1e-10,
                                   msg=n)
