# Copyright (c) mmx3d contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F
from mmaction.structures import ActionDataSample

from mmx3d.models.heads import X3DMultiLabelHead
from mmx3d.registry import MODELS
from mmx3d.structures import to_multi_hot


def make_head(**kwargs):
    cfg = dict(type='X3DMultiLabelHead', num_classes=5, in_channels=8,
               mid_channels=16, fc_channels=32)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def samples(labels):
    return [ActionDataSample().set_gt_label(x) for x in labels]


def test_defaults_and_forward():
    head = make_head()
    assert isinstance(head, X3DMultiLabelHead)
    assert head.average_clips == 'max' and head.multi_class
    assert type(head.loss_cls).__name__ == 'BCELossWithLogits'
    head.eval()
    assert head(torch.randn(3, 8, 2, 3, 3)).shape == (3, 5)


def test_loss_is_bce_on_logits():
    head = make_head()
    logits = torch.randn(3, 5)
    target = torch.tensor([[1, 0, 0, 1, 0], [0, 0, 0, 0, 0],
                           [1, 1, 1, 1, 1]], dtype=torch.float32)
    expected = F.binary_cross_entropy_with_logits(logits, target)
    # float multi-hot, integer multi-hot (numpy path of PackActionInputs)
    # and class-index lists give the same loss
    for labels in (list(target), list(target.long()),
                   [torch.tensor([0, 3]), torch.tensor([], dtype=torch.long),
                    torch.arange(5)]):
        loss = head.loss_by_feat(logits, samples(labels))
        assert set(loss) == {'loss_cls'}
        torch.testing.assert_close(loss['loss_cls'], expected)
    smooth = make_head(label_smooth_eps=0.2).loss_by_feat(
        logits, samples(list(target)))['loss_cls']
    torch.testing.assert_close(
        smooth, F.binary_cross_entropy_with_logits(logits,
                                                   target * 0.8 + 0.1))


def test_view_pooling_max_and_mean_of_sigmoids():
    logits = torch.randn(2 * 6, 5)  # 2 videos x 6 views
    probs = logits.sigmoid().view(2, 6, 5)
    torch.testing.assert_close(make_head().average_clip(logits, 6),
                               probs.max(1).values)
    torch.testing.assert_close(
        make_head(average_clips='mean').average_clip(logits, 6),
        probs.mean(1))


def test_predict_never_uses_softmax(monkeypatch):
    head = make_head()

    def no_softmax(*args, **kwargs):
        raise AssertionError('softmax used on the multi-label path')

    monkeypatch.setattr(torch, 'softmax', no_softmax)
    monkeypatch.setattr(F, 'softmax', no_softmax)
    monkeypatch.setattr(torch.Tensor, 'softmax', no_softmax)
    logits = torch.tensor([[4.0, -4.0, 0.0, -1.0, 3.0],
                           [-4.0, -4.0, 0.0, 5.0, -3.0],
                           [0.5, -3.0, 0.0, -1.0, -3.0]])
    out = head.predict_by_feat(logits, samples([torch.tensor([0])]))
    score = out[0].pred_score
    torch.testing.assert_close(score, logits.sigmoid().max(0).values)
    assert out[0].pred_label.tolist() == [1, 0, 1, 1, 1]
    # scores are independent probabilities, not a distribution
    assert score.sum() > 1


@pytest.mark.parametrize('mode', ['prob', 'score', None])
def test_rejects_softmax_style_averaging(mode):
    with pytest.raises(ValueError, match='"max" or "mean"'):
        make_head(average_clips=mode)


def test_to_multi_hot_errors():
    with pytest.raises(ValueError, match='5 entries'):
        to_multi_hot(torch.zeros(4), 5)
    with pytest.raises(ValueError, match='out of range'):
        to_multi_hot(torch.tensor([5]), 5)
