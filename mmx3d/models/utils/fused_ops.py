# Copyright (c) mmx3d contributors. All rights reserved.
"""Memory-saving fused operations for training the X3D bottleneck.

Autograd keeps every intermediate tensor of the X3D block alive until the
backward pass, although most of them are cheap element-wise functions of
their neighbours. Two autograd functions cover the element-wise stretches on
both sides of the channel-wise convolution; each keeps only its *input* and
recomputes the rest in its backward pass::

    x ─ conv_a ─┬─ [bn_relu_channelwise_conv] ──┬─ [bn_se_swish_conv] ─ bn_c ─
                │  BN_a ─ ReLU ─ conv_b (3x3x3)  │  BN_b ─ SE ─ Swish ─ conv_c
                └ saved                          └ saved

* :func:`bn_relu_channelwise_conv` stores ``conv_a``'s output and the batch
  statistics, not the ReLU output (which the first block of every stage has
  at 4x the resolution of the block's output). Its backward computes the
  stride-1 input gradient of the channel-wise convolution as a forward
  convolution with the flipped kernel, which oneDNN runs 2-3x faster on CPU
  than its depthwise backward-data kernel (the weight gradient still uses
  the native kernel).
* :func:`bn_se_swish_conv` stores ``conv_b``'s output, not the BN output,
  the SE product, the sigmoid and the Swish output (four tensors in
  MMAction2's block, three with a recomputing Swish). The SE module's two
  small fully connected layers are differentiated by hand.

Values and gradients match the unfused modules up to float rounding (checked
by ``tests/test_perf``); BN running statistics and ``num_batches_tracked``
are updated exactly as :class:`torch.nn.BatchNorm3d` does, in training and
in eval (frozen BN) mode. Unsupported module types (``SyncBatchNorm``,
``SubBatchNorm3d``, a non-Swish activation, ...) are detected by
:func:`can_fuse_block` and keep the unfused path.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

_conv_backward = torch.ops.aten.convolution_backward
_bn_forward = torch.ops.aten.native_batch_norm
_bn_backward = torch.ops.aten.native_batch_norm_backward

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


class _BNReLUChannelwiseConv(torch.autograd.Function):
    """``conv3d(relu(batch_norm(x)), w, groups=C)`` keeping only ``x``."""

    @staticmethod
    def forward(ctx, x, bn_weight, bn_bias, running_mean, running_var,
                batch_stats, factor, eps, weight, stride, padding, dilation):
        y, mean, invstd = _bn_forward(x, bn_weight, bn_bias, running_mean,
                                      running_var, batch_stats, factor, eps)
        y.relu_()
        out = F.conv3d(y, weight, None, stride, padding, dilation,
                       x.shape[1])
        ctx.save_for_backward(x, bn_weight, bn_bias, running_mean,
                              running_var, mean, invstd, weight)
        ctx.conf = (batch_stats, eps, stride, padding, dilation)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (x, bn_weight, bn_bias, running_mean, running_var, mean, invstd,
         weight) = ctx.saved_tensors
        batch_stats, eps, stride, padding, dilation = ctx.conf
        nd, groups = x.dim(), x.shape[1]
        scale, shift = _bn_scale_shift(bn_weight, bn_bias, running_mean,
                                       running_var, mean, invstd,
                                       batch_stats, eps)
        y = torch.addcmul(_per_channel(shift, nd), x, _per_channel(scale, nd))
        y.relu_()
        need_w = ctx.needs_input_grad[8]
        zeros = [0] * (nd - 2)
        if all(s == 1 for s in stride):
            # the input gradient of a same-padded stride-1 correlation is
            # the correlation of grad_out with the flipped kernel
            grad_y = F.conv3d(grad_out, weight.flip(2, 3, 4), None, 1,
                              padding, dilation, groups)
            grad_w = None
            if need_w:
                grad_w = _conv_backward(grad_out, y, weight, None, stride,
                                        padding, dilation, False, zeros,
                                        groups, [False, True, False])[1]
        else:
            grad_y, grad_w, _ = _conv_backward(grad_out, y, weight, None,
                                               stride, padding, dilation,
                                               False, zeros, groups,
                                               [True, need_w, False])
        grad_y = torch.ops.aten.threshold_backward(grad_y, y, 0)
        del y
        gx, gw, gb = _bn_backward(grad_y, x, bn_weight, running_mean,
                                  running_var, mean, invstd, batch_stats, eps,
                                  list(ctx.needs_input_grad[:3]))
        return (gx, gw, gb, None, None, None, None, None, grad_w, None, None,
                None)


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
        y.mul_(torch.sigmoid(y))
        out = F.conv3d(y, weight)
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
        sig = torch.sigmoid(z)
        z.mul_(sig)  # z now holds the Swish output
        grad_y, grad_w, _ = _conv_backward(grad_out, z, weight, None, ones,
                                           zeros, ones, False, zeros, 1,
                                           [True, ctx.needs_input_grad[12],
                                            False])
        # d swish / dz = sig * (1 + z * (1 - sig)) = sig + swish * (1 - sig)
        sig.addcmul_(sig, z, value=-1).add_(z)
        del z
        grad_b = grad_y.mul_(sig)
        del sig
        grads_se = [None] * 4
        if se:
            c = x.shape[1]
            dims = tuple(range(2, nd))
            # d loss / d s: sum over T,H,W of grad_z * BN(x)
            gs = scale * (grad_b * x).sum(dims) + shift * grad_b.sum(dims)
            gg = gs * s * (1 - s)  # through the sigmoid, (N, C)
            hr = h.relu()
            g_fc2_w = (gg.t() @ hr).view_as(fc2_w)
            g_fc2_b = gg.sum(0)
            gh = (gg @ fc2_w.view(c, -1)) * (h > 0)
            g_fc1_w = (gh.t() @ pooled).view_as(fc1_w)
            g_fc1_b = gh.sum(0)
            g_pooled = gh @ fc1_w.view(-1, c)  # (N, C)
            numel = x[0, 0].numel()
            grad_b.mul_(_per_channel(s, nd)).add_(
                _per_channel(g_pooled / numel, nd))
            grads_se = [g_fc1_w, g_fc1_b, g_fc2_w, g_fc2_b]
        gx, gw, gb = _bn_backward(grad_b, x, bn_weight, running_mean,
                                  running_var, mean, invstd, batch_stats, eps,
                                  list(ctx.needs_input_grad[:3]))
        return (gx, gw, gb, None, None, None, None, None, *grads_se, grad_w)


def bn_relu_channelwise_conv(x: torch.Tensor, bn: nn.Module,
                             conv: nn.Conv3d) -> torch.Tensor:
    """``conv(relu(bn(x)))`` for a channel-wise ``conv``, keeping only ``x``
    for the backward pass.

    Args:
        x (Tensor): Input (N, C, T, H, W) of ``bn``.
        bn (nn.BatchNorm3d): An affine batch norm over C channels.
        conv (nn.Conv3d): A channel-wise (``groups == C``), zero-padded conv
            without bias; padding ``dilation * (kernel - 1) / 2``.

    Returns:
        Tensor: The conv's output.
    """
    running_mean, running_var, batch_stats, factor = _bn_args(bn)
    return _BNReLUChannelwiseConv.apply(x, bn.weight, bn.bias, running_mean,
                                        running_var, batch_stats, factor,
                                        bn.eps, conv.weight,
                                        tuple(conv.stride),
                                        tuple(conv.padding),
                                        tuple(conv.dilation))


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
    if torch.is_autocast_enabled('cuda') or torch.is_autocast_enabled('cpu'):
        return False
    se = block.se
    if se is not None:
        if type(se) is not SEModule or not isinstance(se.relu, nn.ReLU):
            return False
        if se.fc1.bias is None or se.fc2.bias is None:
            return False
    return (_is_plain_bn(block.bn_a) and _is_plain_bn(block.bn_b)
            and _is_conv(block.conv_b, depthwise=True)
            and _is_conv(block.conv_c, kernel=(1, 1, 1))
            and type(block.act_b) is Swish)
