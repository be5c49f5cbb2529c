# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d/apis/runner.py: each config rewrite of ``prepare_cfg``, the test
views, the resume search and where ``build_runner`` patches the launcher."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmx3d.apis import runner as runner_api
from mmx3d.apis.runner import (
    build_runner,
    find_resume_checkpoint,
    parse_views,
    prepare_cfg,
    set_test_views,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC = osp.join(ROOT, 'configs', 'x3d', 'x3d_xs_synthetic.py')
CHARADES = osp.join(ROOT, 'configs', 'x3d', 'x3d_s_charades.py')


@pytest.fixture
def cfg(tmp_path):
    cfg = Config.fromfile(SYNTHETIC)
    cfg.work_dir = str(tmp_path / 'work')
    return cfg


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)


@pytest.fixture
def cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)


def _norm_types(obj, found=None):
    found = [] if found is None else found
    if isinstance(obj, dict):
        if 'type' in obj and 'BN' in str(obj['type']):
            found.append(obj['type'])
        for v in obj.values():
            _norm_types(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _norm_types(v, found)
    return found


def test_work_dir_default_from_config_name(cfg):
    cfg.work_dir = None
    prepare_cfg(cfg)
    assert cfg.work_dir == osp.join('./work_dirs', 'x3d_xs_synthetic')
    prepare_cfg(cfg, work_dir='/tmp/elsewhere')
    assert cfg.work_dir == '/tmp/elsewhere'


def test_cpu_launcher_gets_gloo_and_no_device_ids(cfg, no_cuda):
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel',
                                 find_unused_parameters=True)
    prepare_cfg(cfg, launcher='pytorch')
    assert cfg.launcher == 'pytorch'
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', find_unused_parameters=True,
        device_ids=None)


def test_cpu_launcher_default_wrapper(cfg, no_cuda):
    assert cfg.get('model_wrapper_cfg') is None
    prepare_cfg(cfg, launcher='slurm')
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel',
                                         device_ids=None)


def test_no_launcher_or_cuda_keeps_the_dist_settings(cfg, tmp_path,
                                                     monkeypatch):
    backend = cfg.env_cfg.dist_cfg.backend
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    prepare_cfg(cfg, launcher='none')
    assert cfg.env_cfg.dist_cfg.backend == backend
    assert cfg.get('model_wrapper_cfg') is None
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    other = Config.fromfile(SYNTHETIC)
    other.work_dir = str(tmp_path)
    prepare_cfg(other, launcher='pytorch')
    assert other.env_cfg.dist_cfg.backend == backend != 'gloo'
    assert other.get('model_wrapper_cfg') is None


def test_sync_bn_becomes_bn3d_on_cpu(cfg, no_cuda):
    cfg.model.backbone.norm_cfg = dict(type='SyncBN', requires_grad=True)
    cfg.model.extra = [dict(norm_cfg=dict(type='MMSyncBN')),
                       (dict(type='SyncBN'), )]
    prepare_cfg(cfg)
    assert cfg.model.backbone.norm_cfg == dict(type='BN3d',
                                               requires_grad=True)
    assert sorted(_norm_types(cfg.model)) == ['BN3d'] * 3


def test_sync_bn_kept_with_cuda(cfg, cuda):
    cfg.model.backbone.norm_cfg = dict(type='SyncBN')
    prepare_cfg(cfg)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'


def test_top_level_sync_bn_key_dropped_on_cpu(tmp_path, no_cuda):
    """The Charades configs convert every BN of a distributed model with
    MMEngine's ``sync_bn = 'torch'``; on CPU the key goes."""
    cfg = Config.fromfile(CHARADES)
    assert cfg.sync_bn == 'torch'
    cfg.work_dir = str(tmp_path)
    prepare_cfg(cfg, launcher='pytorch')
    assert cfg.sync_bn is None


def test_top_level_sync_bn_key_kept_with_cuda(tmp_path, cuda):
    cfg = Config.fromfile(CHARADES)
    cfg.work_dir = str(tmp_path)
    prepare_cfg(cfg, launcher='pytorch')
    assert cfg.sync_bn == 'torch'


def test_amp_needs_cuda(cfg, no_cuda):
    with pytest.raises(RuntimeError, match='--amp needs a CUDA GPU'):
        prepare_cfg(cfg, amp=True)


def test_amp_with_cuda(cfg, cuda):
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'
    prepare_cfg(cfg, amp=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


def test_no_validate(cfg):
    assert cfg.default_hooks.checkpoint.save_best == 'auto'
    prepare_cfg(cfg, no_validate=True)
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.val_evaluator is None
    assert cfg.default_hooks.checkpoint.save_best is None


def test_validate_by_default(cfg):
    prepare_cfg(cfg)
    assert cfg.val_dataloader is not None
    assert cfg.default_hooks.checkpoint.save_best == 'auto'


@pytest.mark.parametrize('option,enabled', [('on', True), ('off', False),
                                            (None, True)])
def test_auto_scale_lr(cfg, option, enabled):
    prepare_cfg(cfg, auto_scale_lr=option)
    assert cfg.auto_scale_lr == dict(enable=enabled, base_batch_size=512)


def test_auto_scale_lr_on_without_a_base(cfg):
    cfg.pop('auto_scale_lr')
    prepare_cfg(cfg, auto_scale_lr='on')
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=1024)


def _touch(path, text=''):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def _ckpt(path, mtime=None):
    """A small complete training checkpoint (``state_dict`` and ``meta``),
    with a given modification time."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save(dict(state_dict=dict(w=torch.zeros(2)), meta=dict(iter=1)),
               path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def test_resume_auto_takes_the_newest_checkpoint(cfg):
    """Newest by modification time: a run started over writes epoch_1.pth
    next to an older run's epoch_10.pth; equal times: the higher N."""
    for name, mtime in (('epoch_2.pth', 100), ('epoch_10.pth', 200),
                        ('epoch_9.pth', 200), ('best_acc.pth', 500)):
        _ckpt(osp.join(cfg.work_dir, name), mtime)
    _touch(osp.join(cfg.work_dir, 'epoch_11.pth.tmp.12.ab'), 'x')
    prepare_cfg(cfg, resume='auto')
    assert cfg.resume is True
    assert cfg.load_from == osp.join(cfg.work_dir, 'epoch_10.pth')
    _ckpt(osp.join(cfg.work_dir, 'epoch_1.pth'), 300)
    assert find_resume_checkpoint(cfg.work_dir) == osp.join(
        cfg.work_dir, 'epoch_1.pth')


def test_resume_auto_trusts_an_existing_pointer(cfg):
    _ckpt(osp.join(cfg.work_dir, 'epoch_10.pth'))
    _ckpt(osp.join(cfg.work_dir, 'epoch_3.pth'))
    _touch(osp.join(cfg.work_dir, 'last_checkpoint'),
           osp.join(cfg.work_dir, 'epoch_3.pth'))
    assert find_resume_checkpoint(cfg.work_dir) == osp.join(
        cfg.work_dir, 'epoch_3.pth')


@pytest.mark.parametrize('pointer', ['', 'epoch_', '/gone/epoch_4.pth'])
def test_resume_auto_ignores_a_broken_pointer(cfg, pointer):
    _ckpt(osp.join(cfg.work_dir, 'epoch_2.pth'))
    _touch(osp.join(cfg.work_dir, 'last_checkpoint'), pointer)
    assert find_resume_checkpoint(cfg.work_dir) == osp.join(
        cfg.work_dir, 'epoch_2.pth')


def test_resume_auto_without_checkpoints_trains_from_scratch(cfg):
    cfg.resume = True  # MMEngine would then resume from its own search
    prepare_cfg(cfg, resume='auto')  # work dir does not exist
    assert cfg.resume is False and cfg.get('load_from') is None
    os.makedirs(cfg.work_dir)
    cfg.resume = True
    prepare_cfg(cfg, resume='auto')
    assert cfg.resume is False and cfg.get('load_from') is None


def test_resume_from_a_path(cfg, tmp_path):
    path = str(tmp_path / 'some.pth')
    _ckpt(path)
    prepare_cfg(cfg, resume=path)
    assert cfg.resume is True and cfg.load_from == path


def test_resume_from_a_damaged_path(cfg, tmp_path):
    path = str(tmp_path / 'some.pth')
    _touch(path)
    with pytest.raises(ValueError, match=f"--resume checkpoint '{path}' "
                       r'cannot be resumed from: empty \(0 bytes\)'):
        prepare_cfg(cfg, resume=path)


def test_no_resume_starts_over(cfg):
    _ckpt(osp.join(cfg.work_dir, 'epoch_2.pth'))
    cfg.resume = True
    prepare_cfg(cfg, resume=False)
    assert cfg.resume is False and cfg.get('load_from') is None


def test_resume_none_keeps_the_config(cfg):
    """``tools/test.py`` passes None: no search of the work dir."""
    _ckpt(osp.join(cfg.work_dir, 'epoch_2.pth'))
    prepare_cfg(cfg)
    assert cfg.resume is False and cfg.get('load_from') is None


def test_resume_from_a_missing_path(cfg, tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        prepare_cfg(cfg, resume=str(tmp_path / 'nothere.pth'))


def test_convert_checkpoint_hook_only_with_load_from(cfg):
    prepare_cfg(cfg)
    hooks = [h['type'] for h in cfg.get('custom_hooks') or []]
    assert 'ConvertCheckpointHook' not in hooks
    cfg.load_from = 'x3d_xs.pyth'
    prepare_cfg(cfg)
    prepare_cfg(cfg)  # not added twice
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert hooks.count('ConvertCheckpointHook') == 1
    assert dict(type='ConvertCheckpointHook', strict=False) in \
        cfg.custom_hooks


def test_seed_and_deterministic(cfg):
    before = cfg.get('randomness')
    prepare_cfg(cfg)
    assert cfg.get('randomness') == before
    prepare_cfg(cfg, seed=3)
    assert cfg.randomness == dict(seed=3, deterministic=False)
    prepare_cfg(cfg, deterministic=True)
    assert cfg.randomness == dict(seed=None, deterministic=True)


def _num_clips(cfg):
    return [
        s['num_clips'] for s in cfg.test_dataloader.dataset.pipeline
        if s['type'].endswith('SampleFrames')
    ]


def test_views_set_the_test_clips_only(cfg):
    assert _num_clips(cfg) == [3]
    prepare_cfg(cfg)
    assert _num_clips(cfg) == [3]
    prepare_cfg(cfg, views=7)
    assert _num_clips(cfg) == [7]
    val = [s for s in cfg.val_dataloader.dataset.pipeline
           if s['type'].endswith('SampleFrames')]
    assert val[0]['num_clips'] == 1


def test_set_test_views_errors():
    with pytest.raises(ValueError, match='views must be >= 1, got 0'):
        set_test_views([dict(type='SampleFrames', num_clips=1)], 0)
    with pytest.raises(ValueError, match=r"no SampleFrames step \(steps: "
                       r"\['SampleAVAFrames', 'RawFrameDecode'\]\)"):
        set_test_views([dict(type='SampleAVAFrames'),
                        dict(type='RawFrameDecode')], 2)


@pytest.mark.parametrize('launcher,patched', [('none', False),
                                              ('pytorch', True)])
def test_build_runner_patches_set_device_only_for_a_cpu_launch(
        cfg, no_cuda, monkeypatch, launcher, patched):
    seen = {}

    def from_cfg(c):
        seen['noop'] = getattr(torch.cuda.set_device, '_mmx3d_noop', False)
        seen['launcher'] = c.launcher
        return 'runner'

    monkeypatch.setattr(runner_api.Runner, 'from_cfg', from_cfg)
    original = torch.cuda.set_device
    assert build_runner(cfg, launcher=launcher) == 'runner'
    assert seen == dict(noop=patched, launcher=launcher)
    assert torch.cuda.set_device is original


def test_views_kx1_is_pyslowfast_single_crop(cfg):
    """``--views 10x1``: short side at the training jitter's lower bound,
    one centre crop at the training crop (PySlowFast's 1-crop test)."""
    train = {s['type']: s for s in cfg.train_dataloader.dataset.pipeline}
    low = train['RandomRescale']['scale_range'][0]
    crop = train['RandomCrop']['size']
    prepare_cfg(cfg, views='10x3')  # keeps the crops
    types = [s['type'] for s in cfg.test_dataloader.dataset.pipeline]
    assert 'ThreeCrop' in types and _num_clips(cfg) == [10]
    prepare_cfg(cfg, views='10x1')
    test = cfg.test_dataloader.dataset.pipeline
    assert _num_clips(cfg) == [10]
    assert [s for s in test if s['type'] == 'Resize'][0]['scale'] == (-1, low)
    assert [s for s in test if s['type'] == 'CenterCrop'] == [
        dict(type='CenterCrop', crop_size=crop)]
    assert not [s for s in test if s['type'] == 'ThreeCrop']


@pytest.mark.parametrize('text,expected', [
    (5, (5, None)), ('5', (5, None)), ('10x1', (10, 1)), ('10X3', (10, 3))])
def test_parse_views(text, expected):
    assert parse_views(text) == expected


@pytest.mark.parametrize('text', ['ten', '10x2', '10x', 'x1'])
def test_parse_views_errors(text):
    with pytest.raises(ValueError, match='views'):
        parse_views(text)


def test_a_default_hook_set_to_none_is_removed(cfg):
    """``--cfg-options default_hooks.work_dir_lock=None`` (docs/training.md)
    builds a Runner without the hook; MMEngine alone asserts on it."""
    cfg.merge_from_dict({'default_hooks.work_dir_lock': None,
                         'default_hooks.timer': None})
    runner = build_runner(cfg)
    names = [type(h).__name__ for h in runner.hooks]
    assert 'WorkDirLockHook' not in names and 'IterTimerHook' not in names
    assert 'AtomicCheckpointHook' in names
