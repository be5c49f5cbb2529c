# Copyright (c) mmx3d contributors. All rights reserved.
"""Precise BN on the AVA detector: its training forward (backbone and RoI
head on the batch's proposals) recomputes every BN exactly."""
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner

from mmx3d.engine.hooks import update_bn_stats
from mmx3d.registry import MODELS
from tests.helpers.bn_stats import assert_exact_averages, record_bn_inputs
from tests.helpers.paths import redirect

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_precise_bn_on_the_ava_detector(ava_synthetic):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_xs_ava_synthetic.py'))
    loader_cfg = redirect(cfg.train_dataloader.to_dict(),
                           'data/ava_synthetic', ava_synthetic['root'])
    loader_cfg.update(batch_size=2, num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    seen, handles = record_bn_inputs(model)
    assert update_bn_stats(model.eval(), iter(loader), 2) == 2
    for h in handles:
        h.remove()
    assert not model.training
    assert_exact_averages(model, seen, 2)
    assert len(seen) == 83  # every backbone BN ran
