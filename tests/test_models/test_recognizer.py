# Copyright (c) mmx3d contributors. All rights reserved.
"""An X3D recognizer built from a shipped config, through MMAction2's
Recognizer3D and data preprocessor."""
import os.path as osp

import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmx3d.registry import MODELS


def _model(repo_root, num_classes=3):
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs/x3d/x3d_xs_kinetics400.py'))
    cfg.model.backbone.update(gamma_d=1.0, stage_blocks=(1, 1, 1, 1))
    cfg.model.cls_head.num_classes = num_classes
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _batch(n, num_clips=1, t=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i in range(n):
        inputs.append(
            torch.randint(0, 255, (num_clips, 3, t, size, size), generator=g,
                          dtype=torch.uint8))
        s = ActionDataSample()
        s.set_gt_label(i % 3)
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_train_step_lowers_loss(repo_root):
    torch.manual_seed(0)
    model = _model(repo_root)
    model.cls_head.dropout = torch.nn.Identity()
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)))
    data = _batch(6)
    model.train()
    losses = [float(model.train_step(data, optim)['loss']) for _ in range(8)]
    assert losses[-1] < 0.5 * losses[0], losses


def test_test_step_averages_view_probabilities(repo_root):
    model = _model(repo_root).eval()
    data = _batch(2, num_clips=3)
    with torch.no_grad():
        out = model.test_step(data)
    assert len(out) == 2
    for sample in out:
        score = sample.pred_score
        assert score.shape == (3, )
        assert torch.all(score >= 0)
        torch.testing.assert_close(score.sum(), torch.tensor(1.0))
    # the same as averaging per-view softmax by hand
    with torch.no_grad():
        x = model.data_preprocessor(data)['inputs']
        logits = model.cls_head(model.backbone(x.flatten(0, 1)))
    probs = logits.softmax(-1).view(2, 3, -1).mean(1)
    torch.testing.assert_close(out[0].pred_score, probs[0])
