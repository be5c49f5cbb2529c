# Copyright (c) mmx3d contributors. All rights reserved.
"""RoI feature extractor of the X3D AVA detector."""
from typing import Tuple, Union

import torch
from mmaction.models.roi_heads import SingleRoIExtractor3D
from torch import Tensor

from mmx3d.registry import MODELS


@MODELS.register_module()
class X3DRoIExtractor(SingleRoIExtractor3D):
    """Frame-wise RoIAlign of a 3D RoI, then temporal average pooling.

    A 2D proposal at the key frame is replicated along time into a 3D RoI;
    RoIAlign is applied to every frame of the res5 map and the results are
    averaged over time. RoIAlign is linear in the feature map, so averaging
    the map over time first and aligning once gives the same output at 1/T
    of the RoIAlign cost; that order is the default
    (``temporal_pool_first=True``, what MMAction2's
    ``SingleRoIExtractor3D`` does with ``with_temporal_pool``). The literal
    order of the reference is kept behind ``temporal_pool_first=False``
    and a test checks that both agree.

    ::

        res5 (N,C,T,h,w) ─ mean over T ─ RoIAlign(rois) ─> (K,C,1,S,S)
        res5 (N,C,T,h,w) ─ RoIAlign per frame ─ mean over T ─> (K,C,1,S,S)

    What it adds to MMAction2's extractor: the reference order as an
    option, one feature level only (X3D is single-pathway), and
    X3D defaults (stride 32, 7x7 output, ``aligned=True``).

    Args:
        featmap_stride (int): Stride of the res5 map: 32, or 16 with
            ``res5_dilation=2`` in the backbone. Defaults to 32.
        output_size (int): RoIAlign output size S. Defaults to 7.
        sampling_ratio (int): RoIAlign samples per bin, 0 = adaptive.
            Defaults to 0.
        aligned (bool): Half-pixel aligned RoIAlign. Defaults to True.
        temporal_pool_first (bool): Average over time before RoIAlign
            (cheaper, same result). Defaults to True.
    """

    def __init__(self,
                 featmap_stride: int = 32,
                 output_size: int = 7,
                 sampling_ratio: int = 0,
                 aligned: bool = True,
                 temporal_pool_first: bool = True) -> None:
        super().__init__(
            roi_layer_type='RoIAlign',
            featmap_stride=featmap_stride,
            output_size=output_size,
            sampling_ratio=sampling_ratio,
            pool_mode='avg',
            aligned=aligned,
            with_temporal_pool=True,
            temporal_pool_mode='avg',
            with_global=False)
        self.temporal_pool_first = temporal_pool_first

    def forward(self, feat: Union[Tensor, Tuple[Tensor]],
                rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Extract one pooled feature per RoI.

        Args:
            feat (Tensor | tuple[Tensor]): The res5 map (N, C, T, h, w), or
                a 1-tuple holding it.
            rois (Tensor): (K, 5) rows ``(batch index, x1, y1, x2, y2)`` in
                input pixels.

        Returns:
            tuple[Tensor, Tensor]: RoI features (K, C, 1, S, S) and the
            temporally averaged map (N, C, 1, h, w).
        """
        if isinstance(feat, (tuple, list)):
            if len(feat) != 1:
                raise ValueError('X3DRoIExtractor takes one feature map, '
                                 f'got {len(feat)}')
            feat = feat[0]
        pooled = feat.mean(dim=2, keepdim=True)
        if self.temporal_pool_first:
            roi_feats = self.roi_layer(pooled[:, :, 0].contiguous(), rois)
        else:
            roi_feats = torch.stack([
                self.roi_layer(feat[:, :, t].contiguous(), rois)
                for t in range(feat.size(2))
            ]).mean(dim=0)
        return roi_feats.unsqueeze(2), pooled
