# Copyright (c) mmx3d contributors. All rights reserved.
"""Batch norm with statistics over fixed-size groups of clips."""
import torch
import torch.nn as nn

from mmx3d.registry import MODELS


@MODELS.register_module()
class SubBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d whose training statistics come from groups of clips.

    The paper computes BN statistics within each 8 clips even when a GPU
    holds more. In training, a batch of ``N = G * group_size`` clips is
    normalised per contiguous group of ``group_size`` clips. The running
    statistics are updated with the statistics of the *whole* batch,
    assembled exactly from the group statistics (mean of means; mean of
    variances plus variance of means), so eval mode needs no extra
    aggregation step (unlike MMAction2's ``SubBatchNorm3D``, whose eval BN
    keeps its initial statistics until ``aggregate_stats`` is called by hand).

    A batch that is not a multiple of ``group_size``, or not larger than it,
    is normalised as one group (plain BN).

    Args:
        num_features (int): Channels.
        group_size (int): Clips per statistics group. Defaults to 8.
        kwargs: Arguments of :class:`torch.nn.BatchNorm3d`.
    """

    def __init__(self, num_features: int, group_size: int = 8,
                 **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        if group_size < 1:
            raise ValueError(f'group_size must be >= 1, got {group_size}')
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if (not self.training or n <= self.group_size
                or n % self.group_size != 0):
            return super().forward(x)
        groups = n // self.group_size
        c = x.shape[1]
        dims = (1, 3, 4, 5)
        xg = x.view(groups, self.group_size, *x.shape[1:])
        var, mean = torch.var_mean(xg, dim=dims, keepdim=True,
                                   correction=0)  # (G, 1, C, 1, 1, 1)
        out = (xg - mean) * torch.rsqrt(var + self.eps)
        out = out.view_as(x)
        if self.affine:
            out = out * self.weight.view(1, c, 1, 1, 1) + self.bias.view(
                1, c, 1, 1, 1)
        if self.track_running_stats:
            with torch.no_grad():
                gmean = mean.view(groups, c)
                gvar = var.view(groups, c)
                bmean = gmean.mean(0)
                bvar = gvar.mean(0) + ((gmean - bmean)**2).mean(0)
                m = x.numel() // c
                bvar = bvar * m / max(m - 1, 1)
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked)
                            if self.momentum is None else self.momentum)
                self.running_mean.mul_(1 - momentum).add_(bmean * momentum)
                self.running_var.mul_(1 - momentum).add_(bvar * momentum)
        return out

    def extra_repr(self) -> str:
        return super().extra_repr() + f', group_size={self.group_size}'


__all__ = ['SubBatchNorm3d']
