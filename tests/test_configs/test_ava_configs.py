# Copyright (c) mmx3d contributors. All rights reserved.
"""Every AVA config loads, inherits what it should and builds."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmx3d.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/x3d/x3d_*_ava*.py')))


def test_all_variants_present():
    names = {osp.basename(p) for p in CONFIGS}
    for v in ('s', 'm', 'l', 'xl'):
        assert f'x3d_{v}_ava.py' in names
        assert f'x3d_{v}_ava_v2.1.py' in names
    assert 'x3d_xs_ava_synthetic.py' in names


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.basename(p) for p in CONFIGS])
def test_ava_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.model.type == 'mmdet.FastRCNN'
    assert cfg.train_dataloader.dataset.type == 'RobustAVADataset'
    assert cfg.val_evaluator.type == 'AVAFrameMAP'
    assert cfg.train_pipeline[0]['type'] == 'SampleAVAFrames'
    model_cfg = cfg.model.copy()
    model_cfg['backbone'] = dict(model_cfg['backbone'])
    model_cfg['backbone'].pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    assert type(model.roi_head).__name__ == 'X3DRoIHead'
    assert model.roi_head.bbox_head.fc_cls.in_features == \
        model.backbone.feat_dim


@pytest.mark.parametrize('variant', ['s', 'm', 'l', 'xl'])
def test_inherits_kinetics_and_the_recipe(variant):
    kin = Config.fromfile(
        osp.join(ROOT, f'configs/x3d/x3d_{variant}_kinetics400.py'))
    ava = Config.fromfile(osp.join(ROOT, f'configs/x3d/x3d_{variant}_ava.py'))
    assert ava.model.backbone.arch == kin.model.backbone.arch
    assert ava.model.backbone.init_cfg.type == 'Pretrained'
    assert ava.model.backbone.init_cfg.prefix == 'backbone.'
    assert ava.train_pipeline[0]['clip_len'] == kin.clip_len
    assert ava.train_pipeline[0]['frame_interval'] == kin.frame_interval
    assert ava.train_pipeline[3]['size'] == kin.train_crop
    assert ava.model.data_preprocessor == kin.model.data_preprocessor
    # 14k iterations, 1k linear warm-up, x0.1 steps, weight decay 1e-7,
    # the rest of the optimizer as Kinetics, lr scaled by batch size
    assert ava.train_cfg.type == 'IterBasedTrainLoop'
    assert ava.train_cfg.max_iters == 14000
    warmup, steps = ava.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 1000
    assert steps.type == 'MultiStepLR' and steps.gamma == 0.1
    assert ava.optim_wrapper.optimizer.weight_decay == 1e-7
    assert ava.optim_wrapper.optimizer.lr == kin.optim_wrapper.optimizer.lr
    assert ava.auto_scale_lr.enable
    assert ava.train_dataloader.dataset.person_det_score_thr == 0.8
    v21 = Config.fromfile(
        osp.join(ROOT, f'configs/x3d/x3d_{variant}_ava_v2.1.py'))
    assert v21.train_dataloader.dataset.ann_file.endswith('train_v2.1.csv')
    assert v21.val_evaluator.label_file.endswith('activitynet_2018.pbtxt')
    assert v21.model == ava.model and v21.train_pipeline == \
        ava.train_pipeline
