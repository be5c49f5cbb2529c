# Copyright (c) mmx3d contributors. All rights reserved.
"""Every config under configs/ loads and builds its model."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmx3d.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)


def test_configs_found():
    assert len(CONFIGS) >= 11


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmx3d'
    assert 'mmx3d' in cfg.custom_imports['imports']
    model_cfg = cfg.model.copy()
    # do not read pretrained weights that are not on this machine
    model_cfg.pop('init_cfg', None)
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg['backbone'] = dict(model_cfg['backbone'])
        model_cfg['backbone'].pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 1e6


def test_kinetics600_inherits_only_differences():
    k4 = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_m_kinetics400.py'))
    k6 = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_m_kinetics600.py'))
    assert k6.model.cls_head.num_classes == 600
    assert k6.train_cfg.max_epochs == 2 * k4.train_cfg.max_epochs
    assert k6.train_pipeline == k4.train_pipeline
