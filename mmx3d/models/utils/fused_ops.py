# Copyright (c) mmx3d contributors. All rights reserved.
"""Memory-saving fused operations for the X3D bottleneck (training).

Two autograd functions cover the element-wise stretches of the X3D block
around its channel-wise convolution. Each keeps only its *input* for the
backward pass and recomputes the cheap element-wise intermediates there,
instead of letting autograd store every intermediate tensor:

* :func:`bn_relu_channelwise_conv`: ``conv_b(ReLU(BN_a(x)))``. Autograd
  would keep ``BN_a``'s input *and* the ReLU output (the channel-wise conv's
  input, at the pre-stride resolution in the first block of each stage);
  this keeps only ``x`` and the batch statistics. Its backward also computes
  the channel-wise conv's input gradient (stride 1) as a forward convolution
  with the flipped kernel, which oneDNN runs 2-3x faster on CPU than the
  generic depthwise backward.
* :func:`scale_swish_conv`: ``conv_c(Swish(x * s))`` (``s`` the SE gate).
  Autograd would keep ``x``, ``x * s``, ``sigmoid`` and the Swish output;
  this keeps ``x`` and ``s``.

Values and gradients equal the unfused modules' up to float rounding;
``tests/test_perf`` checks both. BatchNorm running statistics are updated
exactly as :class:`torch.nn.BatchNorm3d` does.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

_conv_backward = torch.ops.aten.convolution_backward
_bn_forward = torch.ops.aten.native_batch_norm
_bn_backward = torch.ops.aten.native_batch_norm_backward


def _per_channel(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v.view((1, -1) + (1, ) * (ndim - 2))


def _bn_momentum(bn: nn.modules.batchnorm._BatchNorm) -> float:
    """The running-statistics factor of ``bn`` for this step (as
    :class:`torch.nn.BatchNorm3d` computes it, counting the batch)."""
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats:
        if bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
            if bn.momentum is None:
                momentum = 1.0 / float(bn.num_batches_tracked)
    return momentum


class _BNReLUChannelwiseConv(torch.autograd.Function):
    """``conv3d(relu(batch_norm(x)), w, groups=C)`` keeping only ``x``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bn_weight: torch.Tensor,
                bn_bias: torch.Tensor, running_mean: Optional[torch.Tensor],
                running_var: Optional[torch.Tensor], batch_stats: bool,
                momentum: float, eps: float, weight: torch.Tensor,
                stride: Tuple[int, ...], padding: Tuple[int, ...],
                dilation: Tuple[int, ...]) -> torch.Tensor:
        y, mean, invstd = _bn_forward(x, bn_weight, bn_bias, running_mean,
                                      running_var, batch_stats, momentum, eps)
        y.relu_()
        groups = x.shape[1]
        out = F.conv3d(y, weight, None, stride, padding, dilation, groups)
        if not batch_stats:
            # normalisation with the running statistics (frozen BN)
            mean = running_mean.clone()
            invstd = torch.rsqrt(running_var + eps)
        ctx.save_for_backward(x, bn_weight, bn_bias, running_mean,
                              running_var, mean, invstd, weight)
        ctx.conf = (batch_stats, eps, stride, padding, dilation)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (x, bn_weight, bn_bias, running_mean, running_var, mean, invstd,
         weight) = ctx.saved_tensors
        batch_stats, eps, stride, padding, dilation = ctx.conf
        nd = x.dim()
        scale = bn_weight * invstd
        shift = bn_bias - mean * scale
        y = torch.addcmul(_per_channel(shift, nd), x, _per_channel(scale, nd))
        y.relu_()
        groups = x.shape[1]
        need_w = ctx.needs_input_grad[8]
        if all(s == 1 for s in stride):
            # same-padded stride-1 correlation: the input gradient is the
            # correlation of grad_out with the flipped kernel
            grad_y = F.conv3d(grad_out, weight.flip(2, 3, 4), None, 1,
                              padding, dilation, groups)
            grad_w = None
            if need_w:
                grad_w = _conv_backward(grad_out, y, weight, None, stride,
                                        padding, dilation, False,
                                        [0] * (nd - 2), groups,
                                        [False, True, False])[1]
        else:
            grad_y, grad_w, _ = _conv_backward(grad_out, y, weight, None,
                                               stride, padding, dilation,
                                               False, [0] * (nd - 2), groups,
                                               [True, need_w, False])
        grad_y = torch.ops.aten.threshold_backward(grad_y, y, 0)
        del y
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1],
                ctx.needs_input_grad[2]]
        if batch_stats:
            gx, gw, gb = _bn_backward(grad_y, x, bn_weight, running_mean,
                                      running_var, mean, invstd, True, eps,
                                      mask)
        else:
            gx = grad_y * _per_channel(scale, nd) if mask[0] else None
            dims = [0] + list(range(2, nd))
            gb = grad_y.sum(dims) if mask[2] else None
            gw = None
            if mask[1]:
                xhat = (x - _per_channel(mean, nd)) * _per_channel(invstd, nd)
                gw = (grad_y * xhat).sum(dims)
        return (gx, gw, gb, None, None, None, None, None, grad_w, None, None,
                None)


class _ScaleSwishConv(torch.autograd.Function):
    """``conv3d(swish(x * s), w)`` (1x1x1, no bias) keeping ``x`` and
    ``s``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, s: Optional[torch.Tensor],
                weight: torch.Tensor) -> torch.Tensor:
        z = x * s if s is not None else x.clone()
        z.mul_(torch.sigmoid(z))
        out = F.conv3d(z, weight)
        ctx.save_for_backward(x, s, weight)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, s, weight = ctx.saved_tensors
        z = x * s if s is not None else x
        sig = torch.sigmoid(z)
        y = z * sig
        nd = x.dim()
        grad_y, grad_w, _ = _conv_backward(grad_out, y, weight, None,
                                           [1] * (nd - 2), [0] * (nd - 2),
                                           [1] * (nd - 2), False,
                                           [0] * (nd - 2), 1,
                                           [True, ctx.needs_input_grad[2],
                                            False])
        del y
        # d swish / dz = sig * (1 + z * (1 - sig))
        d = torch.sub(1, sig).mul_(z).add_(1).mul_(sig)
        del sig
        grad_z = grad_y.mul_(d)
        del d
        grad_s = None
        if s is not None and ctx.needs_input_grad[1]:
            grad_s = (grad_z * x).sum(tuple(range(2, nd)), keepdim=True)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_z.mul_(s) if s is not None else grad_z
        return grad_x, grad_s, grad_w


def bn_relu_channelwise_conv(x: torch.Tensor, bn: nn.Module,
                             conv: nn.Conv3d) -> torch.Tensor:
    """``conv(relu(bn(x)))`` for a channel-wise ``conv``, saving memory.

    Args:
        x (Tensor): Input (N, C, T, H, W) of ``bn``.
        bn (nn.BatchNorm3d): An affine batch norm over C channels.
        conv (nn.Conv3d): A channel-wise (``groups == C``) conv without
            bias.

    Returns:
        Tensor: The conv's output.
    """
    batch_stats = bn.training or not bn.track_running_stats
    momentum = _bn_momentum(bn)
    return _BNReLUChannelwiseConv.apply(
        x, bn.weight, bn.bias,
        bn.running_mean if not bn.training or bn.track_running_stats else
        None, bn.running_var
        if not bn.training or bn.track_running_stats else None, batch_stats,
        momentum, bn.eps, conv.weight, tuple(conv.stride),
        tuple(conv.padding), tuple(conv.dilation))


def scale_swish_conv(x: torch.Tensor, s: Optional[torch.Tensor],
                     conv: nn.Conv3d) -> torch.Tensor:
    """``conv(swish(x * s))`` for a 1x1x1 ``conv`` without bias.

    Args:
        x (Tensor): Input (N, C, T, H, W).
        s (Tensor, optional): Per-sample channel gate (N, C, 1, 1, 1), e.g.
            the SE gate; None for no gating.
        conv (nn.Conv3d): A 1x1x1 conv without bias.

    Returns:
        Tensor: The conv's output.
    """
    return _ScaleSwishConv.apply(x, s, conv.weight)


def can_fuse_bn_relu_conv(bn: nn.Module, conv: nn.Module) -> bool:
    """Whether :func:`bn_relu_channelwise_conv` supports ``bn`` and
    ``conv``."""
    return (type(bn) in (nn.BatchNorm3d, nn.BatchNorm2d, nn.BatchNorm1d)
            and bn.affine and type(conv) is nn.Conv3d
            and conv.bias is None and conv.groups == conv.in_channels
            and conv.in_channels == conv.out_channels
            and conv.padding_mode == 'zeros'
            and isinstance(conv.padding, Sequence)
            and all(p == d * (k - 1) // 2 for p, d, k in zip(
                conv.padding, conv.dilation, conv.kernel_size)))


def can_fuse_swish_conv(conv: nn.Module) -> bool:
    """Whether :func:`scale_swish_conv` supports ``conv``."""
    return (type(conv) is nn.Conv3d and conv.bias is None
            and conv.groups == 1 and tuple(conv.kernel_size) == (1, 1, 1)
            and tuple(conv.stride) == (1, 1, 1)
            and tuple(conv.padding) == (0, 0, 0))
