# Copyright (c) mmx3d contributors. All rights reserved.
"""Parameter and FLOP counts of the five published variants."""
import os.path as osp

import pytest
from mmengine.config import Config

from mmx3d.registry import MODELS
from mmx3d.utils.complexity import clip_shape_from_cfg, recognizer_complexity

# variant: (params incl. BN, params without BN, published GFLOPs, clip)
PUBLISHED = {
    'xs': (3_794_322, 3_762_858, 0.60, (4, 160, 160)),
    's': (3_794_322, 3_762_858, 1.96, (13, 160, 160)),
    'm': (3_794_322, 3_762_858, 4.73, (16, 224, 224)),
    'l': (6_153_432, 6_087_120, 18.37, (16, 312, 312)),
    'xl': (11_095_904, 11_000_260, 35.84, (16, 312, 312)),
}


@pytest.mark.parametrize('variant', list(PUBLISHED))
def test_kinetics_config_params_and_flops(variant, repo_root):
    params, params_no_bn, gflops, clip = PUBLISHED[variant]
    cfg = Config.fromfile(
        osp.join(repo_root, f'configs/x3d/x3d_{variant}_kinetics400.py'))
    assert clip_shape_from_cfg(cfg) == clip
    model = MODELS.build(cfg.model)
    res = recognizer_complexity(model, clip)
    assert res['params'] == params
    assert res['params_no_bn'] == params_no_bn
    # XS: the exact count is 0.6053 GFLOPs; the paper prints 0.60
    # (see docs/model_zoo.md); the others agree to 0.2%.
    tol = 0.01 if variant == 'xs' else 0.005
    assert res['gflops'] == pytest.approx(gflops, rel=tol)
