# Copyright (c) mmx3d contributors. All rights reserved.
"""X3D classification head."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmaction.models.heads import BaseHead
from mmcv.cnn import build_norm_layer
from mmengine.model.weight_init import constant_init, kaiming_init, normal_init

from mmx3d.registry import MODELS


@MODELS.register_module()
class X3DClsHead(BaseHead):
    """The X3D head: conv5, global pooling, lin5 and the classifier.

    ::

        res5 (N,C5,T,h,w) ─ conv5 1x1x1 ─ BN ─ ReLU ─ global avg pool (T,h,w)
            ─ lin5 (no bias) ─ ReLU ─ dropout ─ fc_cls ─> (N, num_classes)

    The pooling is adaptive, so any crop size works. At test time the pooled
    feature of each view is classified and MMAction2's ``average_clip``
    averages the softmax probabilities over views (``average_clips='prob'``).
    Spatially, the feature is averaged before the classifier (the cheaper
    equivalent of the reference's fully convolutional testing with logit
    averaging, which differs only by the nonlinearity after lin5).

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of res5 (192 for XS..L, 280 for XL).
        mid_channels (int): conv5 channels (432 for XS..L, 630 for XL).
            Defaults to 432.
        fc_channels (int): lin5 channels. Defaults to 2048.
        dropout_ratio (float): Dropout before the classifier. Defaults to 0.5.
        norm_cfg (dict): Norm config of conv5's BN.
            Defaults to ``dict(type='BN3d')``.
        loss_cls (dict): Loss config.
            Defaults to ``dict(type='CrossEntropyLoss')``.
        average_clips (str): How view scores are combined at test
            (``'prob'``, ``'score'`` or None). Defaults to ``'prob'``.
        init_std (float): Std of the classifier's normal init.
            Defaults to 0.01.
        kwargs: Further arguments of MMAction2's ``BaseHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 mid_channels: int = 432,
                 fc_channels: int = 2048,
                 dropout_ratio: float = 0.5,
                 norm_cfg: Dict = dict(type='BN3d'),
                 loss_cls: Dict = dict(type='CrossEntropyLoss'),
                 average_clips: Optional[str] = 'prob',
                 init_std: float = 0.01,
                 **kwargs) -> None:
        super().__init__(
            num_classes,
            in_channels,
            loss_cls=loss_cls,
            average_clips=average_clips,
            **kwargs)
        self.mid_channels = mid_channels
        self.fc_channels = fc_channels
        self.dropout_ratio = dropout_ratio
        self.init_std = init_std
        self.conv5 = nn.Conv3d(in_channels, mid_channels, 1, bias=False)
        self.conv5_bn = build_norm_layer(norm_cfg, mid_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.lin5 = nn.Linear(mid_channels, fc_channels, bias=False)
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 else (
            nn.Identity())
        self.fc_cls = nn.Linear(fc_channels, num_classes)

    def init_weights(self) -> None:
        """He init for conv5/lin5, N(0, init_std) for the classifier."""
        if self.init_cfg is not None:
            super().init_weights()
            return
        kaiming_init(self.conv5, mode='fan_out', nonlinearity='relu',
                     distribution='normal')
        constant_init(self.conv5_bn, 1, bias=0)
        kaiming_init(self.lin5, mode='fan_out', nonlinearity='relu',
                     distribution='normal')
        normal_init(self.fc_cls, std=self.init_std)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """conv5 to lin5 ReLU: the 2048-d video feature of each clip."""
        x = self.relu(self.conv5_bn(self.conv5(x)))
        x = self.pool(x).flatten(1)
        return self.relu(self.lin5(x))

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Class scores (logits) of a batch of res5 features.

        Args:
            x (Tensor): res5 features (N, C5, T, h, w).

        Returns:
            Tensor: Logits (N, num_classes).
        """
        return self.fc_cls(self.dropout(self.forward_features(x)))
