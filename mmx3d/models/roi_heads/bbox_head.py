# Copyright (c) mmx3d contributors. All rights reserved.
"""Per-class sigmoid action classifier of the X3D AVA detector."""
from typing import Tuple, Union

import torch.nn as nn
from mmaction.models.roi_heads import BBoxHeadAVA

from mmx3d.registry import MODELS


@MODELS.register_module()
class X3DBBoxHead(BBoxHeadAVA):
    """Spatial max pooling, dropout and a per-class sigmoid classifier.

    ::

        RoI feature (K,C,1,S,S) ─ temporal avg ─ spatial max ─ dropout
            ─ fc_cls ─> logits (K, num_classes) ─ sigmoid (test)

    Trained with binary cross-entropy on every class (multi-label: an actor
    may do several actions at once); class 0 is the unused background slot
    of MMAction2's AVA label layout and is ignored by the loss.

    What it adds to MMAction2's ``BBoxHeadAVA`` (which does the pooling,
    loss, recall/precision logging and box decoding): the reference's
    defaults (dropout after pooling, right before the classifier, and
    ``N(0, 0.01)`` classifier init instead of Xavier) and X3D's res5 width.

    Args:
        in_channels (int): Channels of res5: 192 for XS..L, 280 for XL.
            Defaults to 192.
        num_classes (int): Action classes + 1 (background slot).
            Defaults to 81.
        dropout_ratio (float): Dropout before the classifier.
            Defaults to 0.5.
        dropout_before_pool (bool): Apply the dropout before pooling
            instead. Defaults to False.
        background_class (bool): Class 0 is the background slot.
            Defaults to True.
        topk (int | tuple[int]): K of the logged recall/precision@K.
            Defaults to (3, 5).
        init_std (float): Std of the classifier's normal init.
            Defaults to 0.01.
        kwargs: Further arguments of ``BBoxHeadAVA`` (``focal_gamma``,
            ``focal_alpha``, ``temporal_pool_type``, ``spatial_pool_type``,
            ``mlp_head``).
    """

    def __init__(self,
                 in_channels: int = 192,
                 num_classes: int = 81,
                 dropout_ratio: float = 0.5,
                 dropout_before_pool: bool = False,
                 background_class: bool = True,
                 topk: Union[int, Tuple[int, ...]] = (3, 5),
                 init_std: float = 0.01,
                 **kwargs) -> None:
        kwargs.setdefault('spatial_pool_type', 'max')
        kwargs.setdefault('temporal_pool_type', 'avg')
        super().__init__(
            background_class=background_class,
            in_channels=in_channels,
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            dropout_before_pool=dropout_before_pool,
            topk=topk,
            multilabel=True,
            **kwargs)
        self.init_std = init_std

    def init_weights(self) -> None:
        """``N(0, init_std)`` weights and zero biases for the classifier."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, self.init_std)
                nn.init.constant_(m.bias, 0)
