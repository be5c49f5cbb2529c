# Copyright (c) mmx3d contributors. All rights reserved.
"""check_config: misspelled keys fail before training, naming the key."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmx3d.apis.config_check import (
    ConfigKeyError,
    accepted_keys,
    check_config,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', 'x3d', '*.py')))
SYNTHETIC = osp.join(ROOT, 'configs/x3d/x3d_xs_synthetic.py')


def test_every_config_is_checked():
    assert len(CONFIGS) >= 29


@pytest.mark.parametrize('path', CONFIGS)
def test_shipped_configs_pass(path):
    check_config(Config.fromfile(osp.join(ROOT, path)))


@pytest.mark.parametrize('option,path,key,suggest,owner', [
    ({'auto_scale_lr.enabled': False}, 'auto_scale_lr', 'enabled',
     'enable', 'auto_scale_lr'),
    ({'model.backbone.gama_w': 2.0}, 'model.backbone', 'gama_w', 'gamma_w',
     'X3DBackbone'),
    ({'model.backbone.norm_cfg.epss': 1e-3}, 'model.backbone.norm_cfg',
     'epss', 'eps', 'BatchNorm3d'),
    ({'default_hooks.checkpoint.intervall': 2}, 'default_hooks.checkpoint',
     'intervall', 'interval', 'AtomicCheckpointHook'),
    ({'train_dataloader.dataset.max_refech': 3}, 'train_dataloader.dataset',
     'max_refech', 'max_refetch', 'RobustVideoDataset'),
    ({'train_dataloader.num_worker': 3}, 'train_dataloader', 'num_worker',
     'num_workers', 'DataLoader'),
    ({'train_cfg.max_epoch': 3}, 'train_cfg', 'max_epoch', 'max_epochs',
     'ResumableEpochBasedTrainLoop'),
    ({'optim_wrapper.optimizer.nesterow': True}, 'optim_wrapper.optimizer',
     'nesterow', 'nesterov', 'SGD'),
    ({'optim_wrapper.paramwise_cfg.norm_decay_mul': 0.},
     'optim_wrapper.paramwise_cfg', 'norm_decay_mul', 'norm_decay_mult',
     'DefaultOptimWrapperConstructor'),
    ({'val_evaluator.metric_lst': ['top_k_accuracy']}, 'val_evaluator',
     'metric_lst', 'metric_list', 'AccMetric'),
])
def test_typos_are_named(option, path, key, suggest, owner):
    cfg = Config.fromfile(SYNTHETIC)
    cfg.merge_from_dict(option)
    with pytest.raises(ConfigKeyError) as e:
        check_config(cfg)
    msg = str(e.value)
    assert msg.startswith(f'{SYNTHETIC}: 1 unknown config key')
    assert f"{path}: unknown key '{key}' (did you mean '{suggest}'?); " \
        f'{owner}' in msg
    assert repr(suggest) in msg.split('accepts', 1)[1]  # the accepted list


def test_typos_in_lists_and_nested_sections():
    cfg = Config.fromfile(SYNTHETIC)
    cfg.custom_hooks[0]['num_batch'] = 3
    cfg.param_scheduler[1]['T_maxx'] = 3
    cfg.test_dataloader.dataset.pipeline[1]['clip_lenn'] = 4
    with pytest.raises(ConfigKeyError) as e:
        check_config(cfg)
    msg = str(e.value)
    assert '3 unknown config key(s)' in msg
    assert "custom_hooks[0]: unknown key 'num_batch'" in msg
    assert "param_scheduler[1]: unknown key 'T_maxx'" in msg
    assert ("test_dataloader.dataset.pipeline[1]: unknown key 'clip_lenn'"
            in msg)


def test_ava_detector_sections():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_xs_ava_synthetic.py'))
    cfg.model.train_cfg.rcnn.assigner['pos_iou_th'] = 0.9
    cfg.train_dataloader.dataset['person_det_score_th'] = 0.5
    with pytest.raises(ConfigKeyError) as e:
        check_config(cfg)
    msg = str(e.value)
    assert "model.train_cfg.rcnn.assigner: unknown key 'pos_iou_th'" in msg
    assert "unknown key 'person_det_score_th'" in msg


def test_iteration_loop_and_keys_that_are_right():
    cfg = Config.fromfile(SYNTHETIC)
    cfg.train_cfg = dict(by_epoch=False, max_iters=10, val_interval=5)
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=8)
    cfg.model.backbone.norm_cfg['requires_grad'] = True  # MMCV reads it
    check_config(cfg)
    cfg.train_cfg['max_epochs'] = 3  # not an IterBasedTrainLoop argument
    with pytest.raises(ConfigKeyError, match='IterBasedTrainLoop'):
        check_config(cfg)


def test_accepted_keys_follows_kwargs_up_the_mro():
    from mmx3d.datasets import RobustVideoDataset
    keys = accepted_keys(RobustVideoDataset)
    # its own, VideoDataset's, BaseActionDataset's and BaseDataset's
    assert {'max_refetch', 'allow_unlabelled', 'delimiter', 'start_index',
            'ann_file', 'serialize_data'} <= keys

    class UsesKwargs:

        def __init__(self, a=1, **kwargs):
            self.kwargs = kwargs

    assert accepted_keys(UsesKwargs) is None  # anything goes

    class NoInit:
        pass

    assert accepted_keys(NoInit) == set()


def test_train_entry_point_checks_before_building(tmp_path):
    """``tools/train.py``'s path: the typo stops build_runner, so nothing
    (work dir, model, data) is built."""
    from mmx3d.apis.runner import build_runner, load_config
    cfg = load_config(SYNTHETIC, {'auto_scale_lr.enabled': False})
    work_dir = tmp_path / 'run'
    with pytest.raises(ConfigKeyError, match="auto_scale_lr.*'enabled'"):
        build_runner(cfg, work_dir=str(work_dir))
    assert not work_dir.exists()
