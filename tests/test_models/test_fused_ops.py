# Copyright (c) mmx3d contributors. All rights reserved.
"""The fused training operations give the plain modules' values, gradients
and BN running statistics.

Exactness is checked in float64 (where any real mistake shows far above
rounding); float32 channels-last runs check the production setting with a
float32 tolerance.
"""
import copy

import pytest
import torch
import torch.nn as nn

from mmx3d.models.backbones.x3d import X3DBackbone, X3DBottleneck
from mmx3d.models.layers import SEModule, SubBatchNorm3d
from mmx3d.models.utils import (
    bn_relu_channelwise_conv,
    bn_se_swish_conv,
    can_fuse_block,
    can_fuse_channelwise_conv,
    channelwise_conv,
)

CL = torch.channels_last_3d


def _randomise_bn(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm3d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.5, 0.5, generator=g)
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)


def _grads(module):
    return {n: p.grad.clone() for n, p in module.named_parameters()
            if p.grad is not None}


def _assert_close_rel(a, b, rtol):
    scale = max(a.abs().max().item(), 1e-12)
    assert (a - b).abs().max().item() <= rtol * scale


def _run(fn, x, weight):
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    (out * weight).sum().backward()
    return out.detach(), x.grad


@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('train', [True, False])
@pytest.mark.parametrize('momentum', [0.1, None])
def test_bn_relu_channelwise_conv_matches_modules(stride, train, momentum):
    torch.manual_seed(0)
    c = 6
    bn = nn.BatchNorm3d(c, momentum=momentum).double()
    conv = nn.Conv3d(c, c, 3, stride=(1, stride, stride), padding=1,
                     groups=c, bias=False).double()
    _randomise_bn(bn)
    bn.train(train)
    bn2, conv2 = copy.deepcopy(bn), copy.deepcopy(conv)
    x = torch.randn(3, c, 4, 6, 6, dtype=torch.float64) * 2 + 0.3
    w = torch.randn(3, c, 4, 6 // stride, 6 // stride, dtype=torch.float64)

    out1, gx1 = _run(lambda t: conv(torch.relu(bn(t))), x, w)
    out2, gx2 = _run(lambda t: bn_relu_channelwise_conv(t, bn2, conv2), x,
                     w)
    torch.testing.assert_close(out2, out1, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gx2, gx1, rtol=1e-10, atol=1e-10)
    for p1, p2 in zip(list(bn.parameters()) + list(conv.parameters()),
                      list(bn2.parameters()) + list(conv2.parameters())):
        torch.testing.assert_close(p2.grad, p1.grad, rtol=1e-10, atol=1e-10)
    for b1, b2 in zip(bn.buffers(), bn2.buffers()):
        torch.testing.assert_close(b2, b1, rtol=0, atol=1e-12)


@pytest.mark.parametrize('with_se', [True, False])
@pytest.mark.parametrize('train', [True, False])
def test_bn_se_swish_conv_matches_modules(with_se, train):
    torch.manual_seed(1)
    c = 8
    bn = nn.BatchNorm3d(c).double()
    se = SEModule(c, 4).double() if with_se else None
    conv = nn.Conv3d(c, 5, 1, bias=False).double()
    _randomise_bn(bn, seed=3)
    bn.train(train)
    mods = nn.ModuleList([bn, conv] + ([se] if se is not None else []))
    mods2 = copy.deepcopy(mods)
    se2 = mods2[2] if with_se else None
    x = torch.randn(2, c, 3, 5, 5, dtype=torch.float64) * 1.5 - 0.2
    w = torch.randn(2, 5, 3, 5, 5, dtype=torch.float64)

    def plain(t):
        t = bn(t)
        if se is not None:
            t = se(t)
        return conv(t * torch.sigmoid(t))

    out1, gx1 = _run(plain, x, w)
    out2, gx2 = _run(lambda t: bn_se_swish_conv(t, mods2[0], se2, mods2[1]),
                     x, w)
    torch.testing.assert_close(out2, out1, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gx2, gx1, rtol=1e-10, atol=1e-10)
    g1, g2 = _grads(mods), _grads(mods2)
    assert g1.keys() == g2.keys()
    for k in g1:
        torch.testing.assert_close(g2[k], g1[k], rtol=1e-10, atol=1e-10)
    for b1, b2 in zip(mods.buffers(), mods2.buffers()):
        torch.testing.assert_close(b2, b1, rtol=0, atol=1e-12)


@pytest.mark.parametrize('kernel,padding,dilation', [
    ((5, 1, 1), (2, 0, 0), 1), ((3, 3, 3), (1, 2, 2), (1, 2, 2))])
def test_channelwise_conv_matches_module(kernel, padding, dilation):
    torch.manual_seed(4)
    c = 5
    conv = nn.Conv3d(c, c, kernel, padding=padding, dilation=dilation,
                     groups=c, bias=False).double()
    conv2 = copy.deepcopy(conv)
    assert can_fuse_channelwise_conv(conv2)
    x = torch.randn(2, c, 6, 7, 7, dtype=torch.float64)
    w = torch.randn(2, c, 6, 7, 7, dtype=torch.float64)
    out1, gx1 = _run(conv, x, w)
    out2, gx2 = _run(lambda t: channelwise_conv(t, conv2), x, w)
    torch.testing.assert_close(out2, out1, rtol=0, atol=0)
    torch.testing.assert_close(gx2, gx1, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(conv2.weight.grad, conv.weight.grad,
                               rtol=1e-10, atol=1e-10)
    strided = nn.Conv3d(c, c, 3, stride=(1, 2, 2), padding=1, groups=c,
                        bias=False)
    assert not can_fuse_channelwise_conv(strided)
    assert not can_fuse_channelwise_conv(nn.Conv3d(c, c, 3, padding=1))


def test_backbone_fused_equals_plain_float64():
    """The whole backbone, the stem's temporal conv included, in float64."""
    torch.manual_seed(3)
    plain = X3DBackbone('xs', gamma_d=1.0)
    _randomise_bn(plain)
    fused = copy.deepcopy(plain)
    fused.fused_ops = True
    for m in fused.modules():
        if isinstance(m, X3DBottleneck):
            m.fused_ops = True
    plain, fused = plain.double().train(), fused.double().train()
    x = torch.randn(2, 3, 4, 32, 32, dtype=torch.float64)
    w = torch.randn(2, 192, 4, 1, 1, dtype=torch.float64)
    calls = []
    fused.stem.conv_t.register_forward_hook(lambda *a: calls.append(1))
    out1, gx1 = _run(plain, x, w)
    out2, gx2 = _run(fused, x, w)
    assert calls == []  # the stem conv ran as channelwise_conv
    torch.testing.assert_close(out2, out1, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gx2, gx1, rtol=1e-9, atol=1e-10)
    g1, g2 = _grads(plain), _grads(fused)
    assert g1.keys() == g2.keys()
    for k in g1:
        torch.testing.assert_close(g2[k], g1[k], rtol=1e-8, atol=1e-9,
                                   msg=k)


def _block_pair(downsample, se, stride, dtype=torch.float64):
    torch.manual_seed(2)
    kw = dict(spatial_stride=stride, downsample=downsample,
              se_ratio=1 / 16 if se else None)
    plain = X3DBottleneck(8, 18, 12 if downsample else 8, **kw)
    _randomise_bn(plain)
    fused = copy.deepcopy(plain)
    fused.fused_ops = True
    return plain.to(dtype).train(), fused.to(dtype).train()


@pytest.mark.parametrize('downsample,se,stride', [(True, True, 2),
                                                   (False, False, 1),
                                                   (False, True, 1)])
def test_block_fused_equals_plain(downsample, se, stride):
    plain, fused = _block_pair(downsample, se, stride)
    assert can_fuse_block(fused)
    cin = 8
    x = torch.randn(2, cin, 3, 8, 8, dtype=torch.float64)
    cout = 12 if downsample else 8
    w = torch.randn(2, cout, 3, 8 // stride, 8 // stride,
                    dtype=torch.float64)
    out1, gx1 = _run(plain, x, w)
    out2, gx2 = _run(fused, x, w)
    torch.testing.assert_close(out2, out1, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gx2, gx1, rtol=1e-10, atol=1e-10)
    g1, g2 = _grads(plain), _grads(fused)
    assert g1.keys() == g2.keys() and len(g1) > 0
    for k in g1:
        torch.testing.assert_close(g2[k], g1[k], rtol=1e-9, atol=1e-10)
    for (n, b1), b2 in zip(plain.named_buffers(), fused.buffers()):
        torch.testing.assert_close(b2, b1, rtol=0, atol=1e-12, msg=n)


def test_fused_path_is_taken_and_saves_memory():
    """The fused block stores fewer activation bytes for backward."""
    plain, fused = _block_pair(True, True, 2, dtype=torch.float32)

    def saved_bytes(block):
        total = 0
        storages = set()

        def pack(t):
            nonlocal total
            key = t.untyped_storage().data_ptr()
            if key not in storages:
                storages.add(key)
                total += t.untyped_storage().nbytes()
            return t

        x = torch.randn(2, 8, 4, 16, 16, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            block(x).sum()
        return total

    names = []
    hook = fused.conv_b.register_forward_hook(
        lambda *a: names.append('conv_b called'))
    fused(torch.randn(2, 8, 4, 16, 16, requires_grad=True))
    hook.remove()
    assert names == []  # conv_b runs inside the fused function
    assert saved_bytes(fused) < 0.6 * saved_bytes(plain)


def test_backbone_fused_channels_last_float32():
    """The production setting: float32, channels-last, whole backbone."""
    torch.manual_seed(0)
    plain = X3DBackbone('xs', channels_last=True)
    _randomise_bn(plain)
    fused = copy.deepcopy(plain)
    for m in fused.modules():
        if isinstance(m, X3DBottleneck):
            m.fused_ops = True
    x = torch.randn(2, 3, 4, 64, 64)
    w = torch.randn(2, 192, 4, 2, 2)
    out1, gx1 = _run(plain.train(), x, w)
    out2, gx2 = _run(fused.train(), x, w)
    assert out2.is_contiguous(memory_format=CL)
    # the forward runs the same kernels in the same order: bitwise equal
    torch.testing.assert_close(out2, out1, rtol=0, atol=0)
    # the backward sums in another order: float32 rounding, amplified by
    # the batch statistics of 26 BN layers over tiny feature maps
    _assert_close_rel(gx1, gx2, 1e-4)
    g1, g2 = _grads(plain), _grads(fused)
    assert g1.keys() == g2.keys()
    for k in g1:
        _assert_close_rel(g1[k], g2[k], 1e-3)
    # in eval mode both use the plain path
    with torch.no_grad():
        torch.testing.assert_close(fused.eval()(x), plain.eval()(x))


def test_backbone_option_reaches_every_block():
    m = X3DBackbone('xs', fused_ops=True)
    blocks = [b for b in m.modules() if isinstance(b, X3DBottleneck)]
    assert len(blocks) == 26
    assert all(b.fused_ops and can_fuse_block(b) for b in blocks)
    assert not any(b.fused_ops for b in X3DBackbone('xs').modules()
                   if isinstance(b, X3DBottleneck))


def test_unsupported_blocks_keep_the_plain_path():
    b = X3DBottleneck(8, 16, 8, fused_ops=True,
                      norm_cfg=dict(type='SubBatchNorm3d', group_size=2))
    assert isinstance(b.bn_a, SubBatchNorm3d)
    assert not can_fuse_block(b)
    b2 = X3DBottleneck(8, 16, 8, fused_ops=True, use_swish=False)
    assert not can_fuse_block(b2)
    b3 = X3DBottleneck(8, 16, 8, fused_ops=True)
    assert can_fuse_block(b3)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert not can_fuse_block(b3)
    # and they still train
    x = torch.randn(4, 8, 2, 4, 4, requires_grad=True)
    b(x).sum().backward()
    assert x.grad is not None
