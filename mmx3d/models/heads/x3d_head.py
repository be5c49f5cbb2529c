# Copyright (c) mmx3d contributors. All rights reserved.
"""X3D classification head."""
import math
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.models.heads import BaseHead
from mmcv.cnn import build_norm_layer
from mmengine.model.weight_init import constant_init, kaiming_init, normal_init

from mmx3d.registry import MODELS


@MODELS.register_module()
class X3DClsHead(BaseHead):
    """The X3D head: conv5, pooling, lin5 and the classifier.

    ::

        res5 (N,C5,T,h,w) ─ conv5 1x1x1 ─ BN ─ ReLU ─ global avg pool (T,h,w)
            ─ lin5 (no bias) ─ ReLU ─ dropout ─ fc_cls ─> (N, num_classes)

    In training, and at test time on a feature map no larger than the
    training one, the pooling is global (adaptive, so any crop works) and
    the head returns logits; MMAction2's ``average_clip`` then averages the
    softmax probabilities over views (``average_clips='prob'``).

    With ``train_crop_size`` set, testing on a larger crop is fully
    convolutional, as PySlowFast's and PyTorchVideo's X3D head: the conv5
    map is average-pooled with the training kernel ``(T, ceil(train_crop /
    32), ceil(train_crop / 32))`` at stride 1, lin5, ReLU and the classifier
    run at every position, the softmax is taken at every position and the
    probabilities are averaged over positions::

        conv5 map (N,C,T,h,w) ─ avg pool kernel (T,k,k) stride 1
            ─> (N,C,1,h-k+1,w-k+1) ─ lin5 ─ ReLU ─ fc_cls ─ softmax ─ mean

    The head then returns the logarithm of those averaged probabilities,
    so that ``average_clips='prob'`` (whose softmax of a log-probability is
    the probability itself) averages the view probabilities exactly, with
    no second softmax.

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
        train_crop_size (int, optional): The training crop. When set, test
            views whose feature map is larger than the training one are
            scored fully convolutionally (see above). None always pools
            globally. Defaults to None.
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
                 train_crop_size: Optional[int] = None,
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
        self.train_crop_size = train_crop_size
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

    def _train_kernel(self, x: torch.Tensor) -> Optional[tuple]:
        """The pooling kernel of the training crop, if ``x`` (a res5 map)
        is larger than the training map and fully convolutional testing
        applies; else None."""
        if self.training or self.train_crop_size is None:
            return None
        k = math.ceil(self.train_crop_size / 32)
        if x.shape[-2] <= k and x.shape[-1] <= k:
            return None
        return (x.shape[2], min(k, x.shape[-2]), min(k, x.shape[-1]))

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Class scores of a batch of res5 features.

        Args:
            x (Tensor): res5 features (N, C5, T, h, w).

        Returns:
            Tensor: Logits (N, num_classes); in fully convolutional testing
            the log of the position-averaged probabilities.
        """
        kernel = self._train_kernel(x)
        if kernel is None:
            return self.fc_cls(self.dropout(self.forward_features(x)))
        x = self.relu(self.conv5_bn(self.conv5(x)))
        x = F.avg_pool3d(x, kernel, stride=1).flatten(2).transpose(1, 2)
        logits = self.fc_cls(self.relu(self.lin5(x)))  # (N, positions, K)
        return logits.softmax(-1).mean(1).log()
