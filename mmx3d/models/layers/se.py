# Copyright (c) mmx3d contributors. All rights reserved.
"""Squeeze-and-excitation for 3D feature maps."""
import torch
import torch.nn as nn


class SEModule(nn.Module):
    """Squeeze-and-excitation as used by X3D.

    ::

        x -> avgpool(T,H,W) -> fc1 (1x1x1, bias) -> ReLU -> fc2 (1x1x1, bias)
          -> sigmoid -> x * s

    Args:
        channels (int): Input/output channels.
        se_channels (int): Bottleneck channels (already rounded by the
            caller, see :func:`mmx3d.models.backbones.x3d.round_width`).
    """

    def __init__(self, channels: int, se_channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv3d(channels, se_channels, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv3d(se_channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3, 4), keepdim=True)
        s = self.fc2(self.relu(self.fc1(s)))
        return x * torch.sigmoid(s)
