# Copyright (c) mmx3d contributors. All rights reserved.
"""Memory-saving fused operations for training the X3D bottleneck.

Autograd keeps every intermediate tensor of the X3D block alive until the
backward pass, although most of them are cheap functions of their
neighbours. Two autograd functions cover the two halves of the block's
branch around the channel-wise convolution; each keeps only its *input*
and recomputes the rest in its backward pass::

    x ─┬─ [conv_bn_relu_channelwise_conv] ─┬─ [bn_se_swish_conv] ─ BN_c ─
       │  conv_a ─ BN_a ─ ReLU ─ conv_b     │  BN_b ─ SE ─ Swish ─ conv_c
       └ saved (the block input)            └ saved (conv_b's output)

* :func:`conv_bn_relu_channelwise_conv` stores nothing but the batch
  statistics: the block input is stored anyway (by the previous block's
  ReLU and the shortcut), and ``conv_a``'s output, the BN output and the
  ReLU output (at the pre-stride resolution in the first block of a stage)
  are recomputed; recomputing the 1x1x1 ``conv_a`` costs a few per cent of
  a CPU training step. Its backward also computes the stride-1 input
  gradient of the channel-wise convolution as a forward convolution with
  the flipped kernel, which oneDNN runs 2-3x faster on CPU than its
  depthwise backward-data kernel (the weight gradient keeps the native
  kernel).
* :func:`bn_se_swish_conv` stores ``conv_b``'s output instead of the BN
  output, the SE product, the sigmoid and the Swish output (four tensors in
  MMAction2's block, three with a recomputing Swish). The SE module's two
  small fully connected layers are differentiated by hand.

Per block, the stored branch-width activations drop from six or seven
(MMAction2) to one. The forward pass runs the same kernels in the same order as
the plain modules (bitwise equal outputs); gradients match to float rounding
(``tests/test_models/test_fused_ops.py`` checks both, exactly in float64). BN
running statistics and ``num_batches_tracked`` are updated as
:class:`torch.nn.BatchNorm3d` does, in training and in eval (frozen BN) mode.
Unsupported modules (``SyncBatchNorm``, ``SubBatchNorm3d``, a non-Swish
activation, ...) and autocast are detected by :func:`can_fuse_block`, and such
blocks keep the plain path.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

_conv_backward = torch.ops.aten.convolution_backward
_bn_forward = torch.ops.aten.native_batch_norm
_bn_backward = torch.ops.aten.native_batch_norm_backward
_silu_backward = torch.ops.aten.silu_backward.grad_input
_CL = torch.channels_last_3d

#: BN classes whose forward is exactly ``F.batch_norm``.
_PLAIN_BN = (nn.BatchNorm3d, )
#: conv classes whose forward is exactly ``F.conv3d`` (MMCV's wrapper only
#: adds support for empty batches)
_PLAIN_CONV = (nn.Conv3d, )
try:
    from mmcv.cnn.bricks.wrappers import Conv3d as _MMCVConv3d
    _PLAIN_CONV += (_MMCVConv3d, )
except ImportError:  # pragma: no cover
    pass


def _per_channel(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """View a (C,) or (N, C) tensor so it broadcasts over (N, C, ...)."""
    if v.dim() == 1:
        return v.view((1, -1) + (1, ) * (ndim - 2))
    return v.view(tuple(v.shape) + (1, ) * (ndim - 2))


def keep_memory_format(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``t`` in channels-last-3D layout if ``like`` is.

    With one thread and fewer than 16 clips, PyTorch runs stride-1 1x1x1
    convolutions with its own kernel, which returns contiguous tensors; this
    keeps a channels-last network channels-last (a no-op otherwise).
    """
    if (like.dim() == 5 and t.dim() == 5
            and like.is_contiguous(memory_format=_CL)
            and not t.is_contiguous(memory_format=_CL)):
        return t.contiguous(memory_format=_CL)
    return t


def _bn_args(bn: nn.modules.batchnorm._BatchNorm
             ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor], bool,
                        float]:
    """Running buffers, batch-statistics flag and averaging factor of one
    ``bn`` call, as :meth:`torch.nn.modules.batchnorm._BatchNorm.forward`
    computes them (this also counts the batch in ``num_batches_tracked``)."""
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats:
        if bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
            if bn.momentum is None:
                factor = 1.0 / float(bn.num_batches_tracked)
    batch_stats = bn.training or (bn.running_mean is None
                                  and bn.running_var is None)
    use_buffers = not bn.training or bn.track_running_stats
    return (bn.running_mean if use_buffers else None,
            bn.running_var if use_buffers else None, batch_stats, factor)


def _bn_scale_shift(weight: torch.Tensor, bias: torch.Tensor,
                    running_mean: Optional[torch.Tensor],
                    running_var: Optional[torch.Tensor], mean: torch.Tensor,
                    invstd: torch.Tensor, batch_stats: bool,
                    eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``scale, shift`` with ``BN(x) = x * scale + shift``."""
    if not batch_stats:
        mean = running_mean
        invstd = torch.rsqrt(running_var + eps)
    scale = weight * invstd
    return scale, bias - mean * scale


class _ChannelwiseConv(torch.autograd.Function):
    """A stride-1, same-padded channel-wise ``conv3d`` whose input gradient
    is a forward convolution with the flipped kernel (2-4x faster on CPU
    than oneDNN's depthwise backward-data kernel); the weight gradient
    keeps the native kernel."""

    @staticmethod
    def forward(ctx, x, weight, padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.conf = (padding, dilation)
        return F.conv3d(x, weight, None, 1, padding, dilation, x.shape[1])

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        padding, dilation = ctx.conf
        groups = x.shape[1]
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = keep_memory_format(
                F.conv3d(grad_out, weight.flip(2, 3, 4), None, 1, padding,
                         dilation, groups), x)
        if ctx.needs_input_grad[1]:
            gw = _conv_backward(grad_out, x, weight, None, [1] * 3, padding,
                                dilation, False, [0] * 3, groups,
                                [False, True, False])[1]
        return gx, gw, None, None


def channelwise_conv(x: torch.Tensor, conv: nn.Conv3d) -> torch.Tensor:
    """``conv(x)`` for a stride-1, zero-padded channel-wise ``conv`` (the
    X3D stem's temporal conv), with the faster input gradient of
    :class:`_ChannelwiseConv`. Same values; gradients to float rounding."""
    return _ChannelwiseConv.apply(x, conv.weight, tuple(conv.padding),
                                  tuple(conv.dilation))


def can_fuse_channelwise_conv(conv: nn.Module) -> bool:
    """Whether :func:`channelwise_conv` computes ``conv`` (stride 1,
    zero-padded to the same size, channel-wise, no bias) and autocast is
    off."""
    if _autocast_on():
        return False
    return (_is_conv(conv, depthwise=True)
            and tuple(conv.stride) == (1, 1, 1))


class _ConvBNReLUChannelwiseConv(torch.autograd.Function):
    """``conv3d(relu(batch_norm(pre(x))), w, groups=C)`` keeping only ``x``,
    where ``pre`` is an optional 1x1x1 conv (recomputed in backward)."""

    @staticmethod
    def forward(ctx, x, pre_weight, bn_weight, bn_bias, running_mean,
                running_var, batch_stats, factor, eps, weight, stride,
                padding, dilation):
        a = x if pre_weight is None else keep_memory_format(
            F.conv3d(x, pre_weight), x)
        y, mean, invstd = _bn_forward(a, bn_weight, bn_bias, running_mean,
                                      running_var, batch_stats, factor, eps)
        del a
        y.relu_()
        out = F.conv3d(y, weight, None, stride, padding, dilation,
                       y.shape[1])
        ctx.save_for_backward(x, pre_weight, bn_weight, bn_bias,
                              running_mean, running_var, mean, invstd, weight)
        ctx.conf = (batch_stats, eps, stride, padding, dilation)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (x, pre_weight, bn_weight, bn_bias, running_mean, running_var, mean,
         invstd, weight) = ctx.saved_tensors
        batch_stats, eps, stride, padding, dilation = ctx.conf
        need = ctx.needs_input_grad
        nd = x.dim()
        zeros, ones = [0] * (nd - 2), [1] * (nd - 2)
        a = x if pre_weight is None else keep_memory_format(
            F.conv3d(x, pre_weight), x)
        groups = a.shape[1]
        scale, shift = _bn_scale_shift(bn_weight, bn_bias, running_mean,
                                       running_var, mean, invstd,
                                       batch_stats, eps)
        y = torch.addcmul(_per_channel(shift, nd), a, _per_channel(scale, nd))
        y.relu_()
        if all(s == 1 for s in stride):
            # the input gradient of a same-padded stride-1 correlation is
            # the correlation of grad_out with the flipped kernel
            grad_y = F.conv3d(grad_out, weight.flip(2, 3, 4), None, 1,
                              padding, dilation, groups)
            grad_w = None
            if need[9]:
                grad_w = _conv_backward(grad_out, y, weight, None, stride,
                                        padding, dilation, False, zeros,
                                        groups, [False, True, False])[1]
        else:
            grad_y, grad_w, _ = _conv_backward(grad_out, y, weight, None,
                                               stride, padding, dilation,
                                               False, zeros, groups,
                                               [True, need[9], False])
        # ReLU backward written over y (no new buffer: at the first block
        # of res2 each full-size tensor is a fresh 72 MB mapping)
        grad_y = torch.ops.aten.threshold_backward.grad_input(
            grad_y, y, 0, grad_input=y)
        del y
        need_a = need[0] or need[1]
        ga, gw, gb = _bn_backward(grad_y, a, bn_weight, running_mean,
                                  running_var, mean, invstd, batch_stats, eps,
                                  [need_a, need[2], need[3]])
        del grad_y, a
        gx = g_pre = None
        if pre_weight is None:
            gx = ga
        elif need_a:
            gx, g_pre, _ = _conv_backward(ga, x, pre_weight, None, ones,
                                          zeros, ones, False, zeros, 1,
                                          [need[0], need[1], False])
            if gx is not None:
                gx = keep_memory_format(gx, x)
        return (gx, g_pre, gw, gb, None, None, None, None, None, grad_w,
                None, None, None)


class _BNSESwishConv(torch.autograd.Function):
    """``conv3d(swish(se(batch_norm(x))), w)`` (1x1x1) keeping only ``x``.

    ``se(y) = y * sigmoid(fc2(relu(fc1(mean_thw(y)))))``; without SE
    weights the SE step is skipped.
    """

    @staticmethod
    def forward(ctx, x, bn_weight, bn_bias, running_mean, running_var,
                batch_stats, factor, eps, fc1_w, fc1_b, fc2_w, fc2_b,
                weight):
        y, mean, invstd = _bn_forward(x, bn_weight, bn_bias, running_mean,
                                      running_var, batch_stats, factor, eps)
        nd = x.dim()
        se = fc1_w is not None
        pooled = h = s = None
        if se:
            # the same ops as SEModule, so the forward is bitwise equal
            pooled = y.mean(tuple(range(2, nd)), keepdim=True)
            h = F.conv3d(pooled, fc1_w, fc1_b)
            s = torch.sigmoid(F.conv3d(h.relu(), fc2_w, fc2_b))
            y.mul_(s)
            pooled, h, s = (t.flatten(1) for t in (pooled, h, s))  # (N, C)
        F.silu(y, inplace=True)  # the kernel of Swish's forward
        out = keep_memory_format(F.conv3d(y, weight), x)
        ctx.save_for_backward(x, bn_weight, bn_bias, running_mean,
                              running_var, mean, invstd, fc1_w, fc2_w, pooled,
                              h, s, weight)
        ctx.conf = (batch_stats, eps)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (x, bn_weight, bn_bias, running_mean, running_var, mean, invstd,
         fc1_w, fc2_w, pooled, h, s, weight) = ctx.saved_tensors
        batch_stats, eps = ctx.conf
        nd = x.dim()
        zeros, ones = [0] * (nd - 2), [1] * (nd - 2)
        se = fc1_w is not None
        scale, shift = _bn_scale_shift(bn_weight, bn_bias, running_mean,
                                       running_var, mean, invstd,
                                       batch_stats, eps)
        # z = BN(x) * s = x * (scale * s) + shift * s
        if se:
            z = torch.addcmul(_per_channel(shift * s, nd), x,
                              _per_channel(scale * s, nd))
        else:
            z = torch.addcmul(_per_channel(shift, nd), x,
                              _per_channel(scale, nd))
        swish = F.silu(z)
        grad_y, grad_w, _ = _conv_backward(grad_out, swish, weight, None,
                                           ones, zeros, ones, False, zeros,
                                           1, [True, ctx.needs_input_grad[12],
                                               False])
        del swish
        grad_y = keep_memory_format(grad_y, x)
        # d loss / d (BN(x) * s): Swish's backward kernel, one pass, written
        # over grad_y
        grad_z = _silu_backward(grad_y, z, grad_input=grad_y)
        grads_se = [None] * 4
        if se:
            c = x.shape[1]
            dims = tuple(range(2, nd))
            # d loss / d s: the sum over T, H, W of grad_z * BN(x); the
            # product goes into z's buffer, which is free now (Dynamo does
            # not trace out= into a channels-last tensor)
            if torch.compiler.is_compiling():
                gzx = (grad_z * x).sum(dims)
            else:
                gzx = torch.mul(grad_z, x, out=z).sum(dims)
            gs = scale * gzx + shift * grad_z.sum(dims)
            gg = gs * s * (1 - s)  # through the sigmoid, (N, C)
            hr = h.relu()
            g_fc2_w = (gg.t() @ hr).view_as(fc2_w)
            g_fc2_b = gg.sum(0)
            gh = (gg @ fc2_w.view(c, -1)) * (h > 0)
            g_fc1_w = (gh.t() @ pooled).view_as(fc1_w)
            g_fc1_b = gh.sum(0)
            g_pooled = gh @ fc1_w.view(-1, c)  # (N, C)
            numel = x[0, 0].numel()
            # d loss / d BN(x): through the product and the pooling
            grad_z.mul_(_per_channel(s, nd)).add_(
                _per_channel(g_pooled / numel, nd))
            grads_se = [g_fc1_w, g_fc1_b, g_fc2_w, g_fc2_b]
        del z
        gx, gw, gb = _bn_backward(grad_z, x, bn_weight, running_mean,
                                  running_var, mean, invstd, batch_stats, eps,
                                  list(ctx.needs_input_grad[:3]))
        return (gx, gw, gb, None, None, None, None, None, *grads_se, grad_w)


def conv_bn_relu_channelwise_conv(x: torch.Tensor,
                                  pre_conv: Optional[nn.Conv3d],
                                  bn: nn.Module,
                                  conv: nn.Conv3d) -> torch.Tensor:
    """``conv(relu(bn(pre_conv(x))))`` for a channel-wise ``conv``, keeping
    only ``x`` for the backward pass.

    ``pre_conv``'s output is recomputed in the backward pass (a 1x1x1 conv,
    a few per cent of the step on CPU) instead of being stored: in X3D's
    block ``x`` is the block input, which is stored anyway, so the whole
    ``conv_a`` - ``BN_a`` - ReLU - ``conv_b`` stretch stores nothing of its
    own but the batch statistics.

    Args:
        x (Tensor): Input (N, Cin, T, H, W).
        pre_conv (nn.Conv3d, optional): A 1x1x1 conv without bias
            (``conv_a``); None to start at ``bn``.
        bn (nn.BatchNorm3d): An affine batch norm over C channels.
        conv (nn.Conv3d): A channel-wise (``groups == C``), zero-padded conv
            without bias; padding ``dilation * (kernel - 1) / 2``.

    Returns:
        Tensor: The conv's output.
    """
    running_mean, running_var, batch_stats, factor = _bn_args(bn)
    return _ConvBNReLUChannelwiseConv.apply(
        x, None if pre_conv is None else pre_conv.weight, bn.weight, bn.bias,
        running_mean, running_var, batch_stats, factor, bn.eps, conv.weight,
        tuple(conv.stride), tuple(conv.padding), tuple(conv.dilation))


def bn_relu_channelwise_conv(x: torch.Tensor, bn: nn.Module,
                             conv: nn.Conv3d) -> torch.Tensor:
    """``conv(relu(bn(x)))``: :func:`conv_bn_relu_channelwise_conv` without
    the 1x1x1 conv."""
    return conv_bn_relu_channelwise_conv(x, None, bn, conv)


def bn_se_swish_conv(x: torch.Tensor, bn: nn.Module, se: Optional[nn.Module],
                     conv: nn.Conv3d) -> torch.Tensor:
    """``conv(swish(se(bn(x))))`` keeping only ``x`` for the backward pass.

    Args:
        x (Tensor): Input (N, C, T, H, W) of ``bn``.
        bn (nn.BatchNorm3d): An affine batch norm over C channels.
        se (SEModule, optional): Squeeze-and-excitation with 1x1x1 ``fc1``
            and ``fc2`` convs (with bias) and a ReLU between them; None to
            skip it.
        conv (nn.Conv3d): A 1x1x1 conv without bias.

    Returns:
        Tensor: The conv's output.
    """
    running_mean, running_var, batch_stats, factor = _bn_args(bn)
    fc = [None] * 4
    if se is not None:
        fc = [se.fc1.weight, se.fc1.bias, se.fc2.weight, se.fc2.bias]
    return _BNSESwishConv.apply(x, bn.weight, bn.bias, running_mean,
                                running_var, batch_stats, factor, bn.eps,
                                *fc, conv.weight)


def _autocast_on() -> bool:
    """Whether autocast (AMP) is on: the recomputation in the fused
    backward passes assumes one dtype."""
    return (torch.is_autocast_enabled('cuda')
            or torch.is_autocast_enabled('cpu'))


def _is_plain_bn(bn: nn.Module) -> bool:
    return type(bn) in _PLAIN_BN and bn.affine


def _is_conv(conv: nn.Module, kernel: Optional[Tuple[int, ...]] = None,
             depthwise: bool = False) -> bool:
    if type(conv) not in _PLAIN_CONV or conv.bias is not None:
        return False
    if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
        return False
    if kernel is not None and tuple(conv.kernel_size) != kernel:
        return False
    if depthwise:
        return (conv.groups == conv.in_channels == conv.out_channels
                and all(p == d * (k - 1) // 2 and k % 2 == 1
                        for p, d, k in zip(conv.padding, conv.dilation,
                                           conv.kernel_size)))
    return (conv.groups == 1 and tuple(conv.stride) == (1, 1, 1)
            and tuple(conv.padding) == (0, 0, 0))


def can_fuse_block(block: nn.Module) -> bool:
    """Whether an :class:`~mmx3d.models.backbones.x3d.X3DBottleneck` can use
    the fused operations now: plain affine ``BatchNorm3d``, a zero-padded
    channel-wise ``conv_b``, bias-free 1x1x1 ``conv_c``, Swish after an
    optional standard SE, and autocast (AMP) off (the recomputation in the
    backward pass assumes one dtype)."""
    from ..layers import SEModule, Swish
    if _autocast_on():
        return False
    se = block.se
    if se is not None:
        if type(se) is not SEModule or not isinstance(se.relu, nn.ReLU):
            return False
        if se.fc1.bias is None or se.fc2.bias is None:
            return False
    return (_is_plain_bn(block.bn_a) and _is_plain_bn(block.bn_b)
            and _is_conv(block.conv_a, kernel=(1, 1, 1))
            and _is_conv(block.conv_b, depthwise=True)
            and _is_conv(block.conv_c, kernel=(1, 1, 1))
            and type(block.act_b) is Swish)
