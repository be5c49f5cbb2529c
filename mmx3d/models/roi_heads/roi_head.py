# Copyright (c) mmx3d contributors. All rights reserved.
"""The video RoI head of the X3D AVA detector."""
from typing import Tuple, Union

from mmaction.models.roi_heads import AVARoIHead
from mmaction.utils import InstanceList, SampleList
from torch import Tensor

from mmx3d.registry import MODELS


@MODELS.register_module()
class X3DRoIHead(AVARoIHead):
    """Video RoI head: 3D RoIs from key-frame proposals, pooled and scored.

    Used inside MMDetection's ``FastRCNN`` (pre-computed proposals, no RPN)
    with an :class:`~mmx3d.models.X3DBackbone` returning res5::

        clip (N,3,T,H,W) ─ X3DBackbone ─ res5 (N,C,T,H/s,W/s)   s = 32 | 16
                                            │
        key-frame proposals (K,4) ──────────┤ replicated over T (3D RoI)
                                            ▼
            X3DRoIExtractor: mean over T ─ RoIAlign SxS  (== RoIAlign per
                             frame ─ mean over T, RoIAlign being linear)
                                            │ (K,C,1,S,S)
            X3DBBoxHead:     spatial max pool ─ dropout ─ fc ─ sigmoid
                                            ▼
                               per-class scores (K, num_classes)

    Training: MMAction2's ``MaxIoUAssignerAVA`` (IoU >= 0.9) plus
    ``add_gt_as_proposals`` make the samples the ground-truth boxes and the
    proposals overlapping one by more than 0.9; the loss is binary
    cross-entropy on those positives.

    What it adds to MMAction2's ``AVARoIHead``: inference on batches of
    more than one clip (the upstream head asserts a batch of 1) and clips
    whose proposal list is empty (no detections for them).
    """

    def predict(self, x: Union[Tensor, Tuple[Tensor]],
                rpn_results_list: InstanceList, data_samples: SampleList,
                **kwargs) -> InstanceList:
        """Score every proposal of every clip in the batch.

        Args:
            x (Tensor | tuple[Tensor]): res5 features (N, C, T, h, w).
            rpn_results_list (list[InstanceData]): Proposals per clip, in
                input pixels (``bboxes`` (K_i, 4)).
            data_samples (list[ActionDataSample]): The batch's samples.

        Returns:
            list[InstanceData]: Per clip, ``bboxes`` (K_i, 4) normalised to
            [0, 1] in the original frame and ``scores`` (K_i, classes).
        """
        assert self.with_bbox, 'Bbox head must be implemented.'
        if len(rpn_results_list) != len(data_samples):
            raise ValueError(f'{len(rpn_results_list)} proposal lists for '
                             f'{len(data_samples)} clips')
        batch_img_metas = [sample.metainfo for sample in data_samples]
        return self.predict_bbox(
            x, batch_img_metas, rpn_results_list, rcnn_test_cfg=self.test_cfg)
