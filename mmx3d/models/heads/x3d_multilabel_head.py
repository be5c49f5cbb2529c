# Copyright (c) mmx3d contributors. All rights reserved.
"""X3D head for multi-label recognition (Charades)."""
from typing import Dict, Optional

import torch
from mmaction.utils import SampleList

from mmx3d.registry import MODELS
from mmx3d.structures import to_multi_hot

from .x3d_head import X3DClsHead


@MODELS.register_module()
class X3DMultiLabelHead(X3DClsHead):
    """The X3D head with independent per-class sigmoids.

    Same layers as :class:`X3DClsHead`; what changes is the use of the
    logits (supplementary A.2 of the paper):

    * training: binary cross-entropy on the logits against multi-hot
      targets (``BCELossWithLogits``); no top-k accuracy;
    * test: each view's logits go through a sigmoid, then the views of a
      video (K clips x crops) are max-pooled (``average_clips='max'``, the
      paper's choice) or averaged (``'mean'``). Softmax is never used.

    Targets may be multi-hot vectors of length ``num_classes`` (float, or
    integer as produced from numpy arrays by ``PackActionInputs``) or lists
    of class indices; both are turned into float multi-hot vectors.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of res5.
        loss_cls (dict): Loss on logits and multi-hot targets.
            Defaults to ``dict(type='BCELossWithLogits')``.
        average_clips (str): ``'max'`` or ``'mean'`` of the view
            probabilities. Defaults to ``'max'``.
        label_smooth_eps (float): Binary label smoothing: targets become
            ``y * (1 - eps) + eps / 2``. Defaults to 0.
        threshold (float): Probability above which a class is put in
            ``pred_label`` (a multi-hot vector). Defaults to 0.5.
        kwargs: Further arguments of :class:`X3DClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 loss_cls: Dict = dict(type='BCELossWithLogits'),
                 average_clips: Optional[str] = 'max',
                 label_smooth_eps: float = 0.0,
                 threshold: float = 0.5,
                 **kwargs) -> None:
        if average_clips not in ('max', 'mean'):
            raise ValueError(
                'X3DMultiLabelHead: average_clips must be "max" or "mean" '
                f'(of sigmoid probabilities), got {average_clips!r}')
        kwargs.pop('multi_class', None)
        super().__init__(
            num_classes,
            in_channels,
            loss_cls=loss_cls,
            average_clips=average_clips,
            multi_class=True,
            label_smooth_eps=label_smooth_eps,
            **kwargs)
        self.threshold = threshold

    def multi_hot_targets(self, data_samples: SampleList,
                          device: torch.device) -> torch.Tensor:
        """Float multi-hot targets (N, num_classes) of a batch.

        Raises:
            ValueError: for a float target of the wrong length or a class
                index out of range.
        """
        out = torch.zeros(len(data_samples), self.num_classes, device=device)
        for i, sample in enumerate(data_samples):
            out[i] = to_multi_hot(sample.gt_label, self.num_classes)
        return out

    def loss_by_feat(self, cls_scores: torch.Tensor,
                     data_samples: SampleList) -> Dict:
        """Binary cross-entropy of the logits (N, C) and multi-hot targets.

        Returns:
            dict: ``loss_cls``.
        """
        labels = self.multi_hot_targets(data_samples, cls_scores.device)
        if self.label_smooth_eps:
            eps = self.label_smooth_eps
            labels = labels * (1 - eps) + eps / 2
        loss = self.loss_cls(cls_scores, labels)
        return loss if isinstance(loss, dict) else dict(loss_cls=loss)

    def average_clip(self,
                     cls_scores: torch.Tensor,
                     num_segs: int = 1) -> torch.Tensor:
        """Sigmoid, then max (or mean) over the views of each video.

        Args:
            cls_scores (Tensor): Logits (N * num_segs, C), views of a video
                consecutive.
            num_segs (int): Views per video. Defaults to 1.

        Returns:
            Tensor: Probabilities (N, C).
        """
        probs = cls_scores.sigmoid()
        probs = probs.view(-1, num_segs, *probs.shape[1:])
        if self.average_clips == 'max':
            return probs.max(dim=1).values
        return probs.mean(dim=1)

    def predict_by_feat(self, cls_scores: torch.Tensor,
                        data_samples: SampleList) -> SampleList:
        """Per-video probabilities in ``pred_score``.

        ``pred_label`` is the multi-hot vector of the classes whose
        probability is at least ``threshold``.
        """
        num_segs = cls_scores.shape[0] // len(data_samples)
        probs = self.average_clip(cls_scores, num_segs=num_segs).detach()
        for sample, prob in zip(data_samples, probs):
            sample.set_pred_score(prob)
            sample.set_pred_label((prob >= self.threshold).long())
        return data_samples

