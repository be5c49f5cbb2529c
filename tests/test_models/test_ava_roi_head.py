# Copyright (c) mmx3d contributors. All rights reserved.
"""The video RoI head: extractor, classifier, detector."""
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmcv.ops import RoIAlign
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmx3d.models.roi_heads import X3DBBoxHead, X3DRoIExtractor
from mmx3d.registry import MODELS


def _rois(n, h, w, stride, batch):
    g = torch.Generator().manual_seed(1)
    xy1 = torch.rand(n, 2, generator=g) * torch.tensor([w, h]) * stride / 2
    wh = (torch.rand(n, 2, generator=g) * 0.5 + 0.2) * torch.tensor(
        [w, h]) * stride
    idx = torch.randint(0, batch, (n, 1), generator=g).float()
    return torch.cat([idx, xy1, xy1 + wh], dim=1)


@pytest.mark.parametrize('stride', [32, 16])
def test_temporal_pool_then_roialign_equals_roialign_then_pool(stride):
    torch.manual_seed(0)
    feat = torch.randn(2, 8, 5, 6, 7)  # N, C, T, h, w
    rois = _rois(6, 6, 7, stride, 2)
    fast = X3DRoIExtractor(featmap_stride=stride, output_size=4)
    slow = X3DRoIExtractor(featmap_stride=stride, output_size=4,
                           temporal_pool_first=False)
    out_fast, pooled = fast(feat, rois)
    out_slow, _ = slow((feat, ), rois)
    assert out_fast.shape == (6, 8, 1, 4, 4)
    assert pooled.shape == (2, 8, 1, 6, 7)
    torch.testing.assert_close(out_fast, out_slow, atol=1e-5, rtol=1e-5)
    # and both are mmcv's aligned RoIAlign of each frame, averaged
    align = RoIAlign(4, 1 / stride, sampling_ratio=0, aligned=True)
    ref = torch.stack([align(feat[:, :, t].contiguous(), rois)
                       for t in range(5)]).mean(0)
    torch.testing.assert_close(out_slow[:, :, 0], ref, atol=1e-6, rtol=1e-6)


def test_bbox_head_pools_max_and_scores_per_class():
    head = X3DBBoxHead(in_channels=8, num_classes=5, topk=(1, 3))
    head.init_weights()
    assert head.fc_cls.weight.std() < 0.05 and head.fc_cls.bias.abs().sum() == 0
    x = torch.zeros(3, 8, 1, 4, 4)
    x[:, :, 0, 1, 2] = torch.arange(8.)  # the max is what reaches the fc
    head.eval()
    logits = head(x)
    assert logits.shape == (3, 5)
    expected = head.fc_cls(torch.arange(8.).expand(3, 8))
    torch.testing.assert_close(logits, expected)
    assert head.dropout_before_pool is False


def _sample(h=64, w=80, num_classes=6, with_gt=True):
    s = ActionDataSample()
    labels = torch.zeros(2, num_classes)
    labels[0, [1, 3]] = 1  # two actions at once
    labels[1, 2] = 1
    s.gt_instances = InstanceData(
        bboxes=torch.tensor([[4., 4, 30, 60], [44, 8, 76, 60]]),
        labels=labels)
    s.proposals = InstanceData(
        bboxes=torch.tensor([[5., 4, 30, 60], [44, 9, 75, 60], [0, 0, 9, 9]]))
    s.set_metainfo(dict(img_shape=(h, w)))
    return s


@pytest.mark.parametrize('dilation, stride, hw', [(1, 32, (2, 3)),
                                                  (2, 16, (4, 5))])
def test_detector_loss_and_batched_predict(dilation, stride, hw):
    cfg = dict(
        type='mmdet.FastRCNN',
        backbone=dict(type='X3DBackbone', arch='xs',
                      res5_dilation=dilation),
        roi_head=dict(
            type='X3DRoIHead',
            bbox_roi_extractor=dict(type='X3DRoIExtractor',
                                    featmap_stride=stride),
            bbox_head=dict(type='X3DBBoxHead', in_channels=192,
                           num_classes=6, topk=(1, 3))),
        train_cfg=dict(rcnn=dict(
            assigner=dict(_scope_='mmdet', type='MaxIoUAssignerAVA',
                          pos_iou_thr=0.9, neg_iou_thr=0.9, min_pos_iou=0.9),
            sampler=dict(_scope_='mmdet', type='RandomSampler', num=32,
                         pos_fraction=1, neg_pos_ub=-1,
                         add_gt_as_proposals=True),
            pos_weight=1.0)),
        test_cfg=dict(rcnn=None))
    model = MODELS.build(ConfigDict(cfg))
    model.init_weights()
    x = torch.randn(2, 3, 4, 64, 80)
    feat = model.extract_feat(x)
    assert feat.shape == (2, 192, 4) + hw  # res5 at stride 32 or 16
    losses = model.loss(x, [_sample(), _sample()])
    assert losses['loss_action_cls'].requires_grad
    losses['loss_action_cls'].backward()

    model.eval()
    samples = [_sample(), _sample()]
    samples[1].proposals = InstanceData(bboxes=torch.zeros(0, 4))
    with torch.no_grad():
        out = model.predict(x, samples)  # a batch of 2, one without boxes
    pred = out[0].pred_instances
    assert pred.scores.shape == (3, 6)
    assert ((pred.scores >= 0) & (pred.scores <= 1)).all()
    # boxes come back normalised to the frame
    torch.testing.assert_close(pred.bboxes[0],
                               torch.tensor([5 / 80, 4 / 64, 30 / 80, 60 / 64]))
    assert out[1].pred_instances.scores.shape == (0, 6)
