# Copyright (c) mmx3d contributors. All rights reserved.
import os.path as osp

import pytest
from mmengine.config import Config

from mmx3d.registry import MODELS

KINETICS_STRIDE = dict(s=(13, 6), m=(16, 5), l=(16, 5), xl=(16, 5))


def sample_frames(pipeline):
    # Charades: SampleFrames; Kinetics: PySlowFastSampleFrames
    return next(t for t in pipeline if t['type'].endswith('SampleFrames'))


@pytest.mark.parametrize('variant', ['s', 'm', 'l', 'xl'])
def test_charades_config_recipe_and_build(repo_root, variant):
    path = osp.join(repo_root, 'configs', 'x3d', f'x3d_{variant}_charades.py')
    cfg = Config.fromfile(path)
    kin = Config.fromfile(path.replace('charades', 'kinetics400'))
    head = cfg.model.cls_head
    assert head.type == 'X3DMultiLabelHead' and head.num_classes == 157
    assert head.average_clips == 'max'
    assert head.loss_cls.type == 'BCELossWithLogits'
    assert cfg.model.backbone.arch == variant
    assert head.in_channels == kin.model.cls_head.in_channels
    # temporal stride x2 of the Kinetics variant, same number of frames
    clip_len, stride = KINETICS_STRIDE[variant]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        sf = sample_frames(cfg[loader].dataset.pipeline)
        assert (sf['clip_len'], sf['frame_interval']) == (clip_len,
                                                         2 * stride)
        assert cfg[loader].dataset.type == 'CharadesDataset'
        # PySlowFast's Charades loader: stride at the native frame rate,
        # indices clamped (last frame repeated) in short videos
        assert sf['type'] == 'SampleFrames'
        assert sf['out_of_bound_opt'] == 'repeat_last'
    kin_sf = sample_frames(kin.train_dataloader.dataset.pipeline)
    assert (kin_sf['clip_len'], kin_sf['frame_interval']) == (clip_len,
                                                             stride)
    train = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert train.index('ClipLabelFromIntervals') == train.index(
        'SampleFrames') + 1
    test_sf = sample_frames(cfg.test_dataloader.dataset.pipeline)
    assert test_sf['num_clips'] == 10 and any(
        t['type'] == 'ThreeCrop' for t in cfg.test_dataloader.dataset.pipeline)
    # schedule: 24k iterations, batch 16, lr 0.02, x0.1 steps, wd 1e-5
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == 24000
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=16)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == (
        'SGD', 0.02, 0.9, 1e-5)
    (sched, ) = cfg.param_scheduler
    assert sched.type == 'MultiStepLR' and sched.gamma == 0.1
    assert sched.by_epoch is False and max(sched.milestones) < 24000
    assert 'kinetics400' in cfg.load_from
    assert cfg.val_evaluator.type == cfg.test_evaluator.type == 'CharadesMAP'
    model = MODELS.build(cfg.model)
    assert model.cls_head.fc_cls.out_features == 157


@pytest.mark.parametrize('name', [
    'configs/x3d/x3d_xs_charades_synthetic.py',
    'configs/_base_/datasets/charades_video.py',
    'configs/_base_/datasets/charades_rawframes.py',
])
def test_other_charades_configs_load(repo_root, name):
    cfg = Config.fromfile(osp.join(repo_root, name))
    assert cfg.test_evaluator.type == 'CharadesMAP'
    if 'model' in cfg:
        assert MODELS.build(cfg.model).cls_head.num_classes == 6


def test_rawframes_config_is_the_video_recipe_from_frames(repo_root):
    video = Config.fromfile(
        osp.join(repo_root, 'configs/x3d/x3d_s_charades.py'))
    frames = Config.fromfile(
        osp.join(repo_root, 'configs/x3d/x3d_s_charades_rawframes.py'))
    assert frames.model == video.model and frames.load_from == video.load_from
    assert frames.train_cfg == video.train_cfg
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds, ds_video = frames[loader].dataset, video[loader].dataset
        assert (ds.type, ds.fps) == ('CharadesRawframeDataset', 24)
        assert ds.data_prefix == dict(img='data/charades/Charades_v1_rgb')
        want = [
            dict(type='RawFrameDecode') if t['type'] == 'DecordDecode' else t
            for t in ds_video.pipeline if t['type'] != 'DecordInit'
        ]
        assert ds.pipeline == want
