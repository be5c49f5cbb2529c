# Copyright (c) mmx3d contributors. All rights reserved.
"""Every config under configs/ loads, builds its model and resolves to plain
settings; every base has a child; every variant has its published clip."""
import ast
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmx3d.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(ROOT, 'configs')
ALL_FILES = sorted(
    glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True))
BASES = [p for p in ALL_FILES if '_base_' in p]
CONFIGS = [p for p in ALL_FILES if '_base_' not in p]

VARIANTS = ('xs', 's', 'm', 'l', 'xl')
# the file names are user interfaces: none may disappear or be renamed
EXPECTED = sorted(
    [f'x3d_{v}_kinetics{n}.py' for v in VARIANTS for n in (400, 600)] +
    [f'x3d_{v}_{d}.py' for v in VARIANTS[1:]
     for d in ('charades', 'ava', 'ava_v2.1')] + [
         'x3d_s_custom_dataset.py', 'x3d_s_kinetics400_rawframes.py',
         'x3d_s_charades_rawframes.py', 'x3d_xs_synthetic.py',
         'x3d_xs_synthetic_shuffled.py', 'x3d_xs_charades_synthetic.py',
         'x3d_xs_ava_synthetic.py', 'x3d_x2d_synthetic.py'
     ])

# X3D paper, table 1 / supp. A: Kinetics clip (frames, stride) and crops
# (train, test); Charades doubles the stride; AVA keeps the Kinetics clip.
KINETICS = dict(
    xs=(4, 12, 160, 182), s=(13, 6, 160, 182), m=(16, 5, 224, 256),
    l=(16, 5, 312, 356), xl=(16, 5, 312, 356))


def recipe(name):
    """(arch, clip_len, frame_interval, train_crop, test_crop) or None."""
    parts = osp.splitext(name)[0].split('_')
    arch, dataset = parts[1], '_'.join(parts[2:])
    if 'synthetic' in dataset:  # their own small clips
        return None
    if dataset.startswith('kinetics') or dataset == 'custom_dataset':
        frames, stride, train, test = KINETICS[arch]
    elif dataset.startswith('charades'):
        frames, stride, train, test = KINETICS[arch]
        stride *= 2
    else:  # AVA
        frames, stride, train, test = KINETICS[arch]
        test = train  # full frames at short side = the train crop
    return arch, frames, stride, train, test


def base_paths(path):
    """The files named by ``_base_`` in the config at ``path``."""
    tree = ast.parse(open(path).read(), filename=path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets):
            value = ast.literal_eval(node.value)
            names = [value] if isinstance(value, str) else value
            return [
                osp.normpath(osp.join(osp.dirname(path), n)) for n in names
            ]
    return []


def test_config_names():
    assert [osp.basename(p) for p in CONFIGS] == sorted(EXPECTED)
    assert all(osp.dirname(p) == osp.join(CONFIG_DIR, 'x3d') for p in CONFIGS)


def test_every_base_has_a_child():
    children = {}
    for path in ALL_FILES:
        for base in base_paths(path):
            assert osp.isfile(base), f'{path}: _base_ {base} does not exist'
            children.setdefault(base, []).append(path)
    orphans = [osp.relpath(p, ROOT) for p in BASES if p not in children]
    assert not orphans, f'bases nobody inherits: {orphans}'


def walk(obj, path=''):
    """(path, value) of every leaf value in a nested dict/list."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from walk(value, f'{path}.{key}')
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from walk(value, f'{path}[{i}]')
    else:
        yield path, obj


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmx3d'
    assert 'mmx3d' in cfg.custom_imports['imports']
    # nothing but plain settings: no helper function of a base left over
    # (the Runner dumps the config and copies it to its workers)
    for key, value in walk(cfg.to_dict()):
        assert not callable(value), f'{key} is {value!r}'
    assert Config.fromstring(cfg.pretty_text, '.py').to_dict() == \
        cfg.to_dict()
    model_cfg = cfg.model.copy()
    # do not read pretrained weights that are not on this machine
    model_cfg.pop('init_cfg', None)
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg['backbone'] = dict(model_cfg['backbone'])
        model_cfg['backbone'].pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    # X2D, the expansion search's start (docs/expansion.md), has 0.32 M
    least = 2e5 if 'x2d' in osp.basename(path) else 1e6
    assert sum(p.numel() for p in model.parameters()) > least


def step(pipeline, *types):
    return next(t for t in pipeline if t['type'] in types)


@pytest.mark.parametrize('name', [n for n in EXPECTED if recipe(n)])
def test_variant_clip_and_crops(name):
    arch, frames, stride, train, test = recipe(name)
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'x3d', name))
    assert cfg.model.backbone.arch == arch
    assert (cfg.clip_len, cfg.frame_interval) == (frames, stride)
    for split in ('train', 'val', 'test'):
        pipelines = [cfg[f'{split}_dataloader'].dataset.pipeline]
        if split != 'test' or 'ava' not in name:
            pipelines.append(cfg[f'{split}_pipeline'])
        for pipeline in pipelines:
            sample = step(pipeline, 'SampleFrames', 'SampleAVAFrames',
                          'PySlowFastSampleFrames')
            assert (sample['clip_len'], sample['frame_interval']) == (
                frames, stride), (split, sample)
            if 'kinetics' in name or 'custom' in name:
                # the clips the published weights were trained and tested on
                assert sample['type'] == 'PySlowFastSampleFrames'
                if split != 'train':
                    assert step(pipeline, 'Resize')['interpolation'] == 'area'
            if split == 'train':
                assert step(pipeline, 'RandomCrop')['size'] == train
            else:
                assert step(pipeline, 'Resize')['scale'] == (-1, test)
    if 'ava' not in name:
        test_pipeline = cfg.test_dataloader.dataset.pipeline
        assert step(test_pipeline, 'ThreeCrop')['crop_size'] == test
        assert step(cfg.val_dataloader.dataset.pipeline,
                    'CenterCrop')['crop_size'] == train
    heads = dict(xl=(280, 630))
    in_channels, mid = heads.get(arch, (192, 432))
    if 'ava' in name:
        assert cfg.model.roi_head.bbox_head.in_channels == in_channels
    else:
        head = cfg.model.cls_head
        assert (head.in_channels, head.mid_channels) == (in_channels, mid)
        if head.type == 'X3DClsHead':  # fully convolutional test views
            assert head.train_crop_size == train
        else:  # sigmoid scores: global pooling
            assert head.get('train_crop_size') is None


def test_kinetics600_inherits_only_differences():
    k4 = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_m_kinetics400.py'))
    k6 = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_m_kinetics600.py'))
    assert k6.model.cls_head.num_classes == 600
    assert k6.train_cfg.max_epochs == 2 * k4.train_cfg.max_epochs
    assert k6.param_scheduler[1].T_max == 2 * k4.param_scheduler[1].T_max
    assert k6.train_pipeline == k4.train_pipeline
    assert k6.test_dataloader.dataset.ann_file.startswith('data/kinetics600')
    # everything else is the Kinetics-400 config's
    for key in ('model', 'train_cfg', 'param_scheduler', 'train_dataloader',
                'val_dataloader', 'test_dataloader', 'max_epochs',
                'warmup_epochs'):
        k4.pop(key)
        k6.pop(key)
    assert k6.to_dict() == k4.to_dict()


def test_shuffled_ablation_adds_one_transform():
    base = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_xs_synthetic.py'))
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/x3d/x3d_xs_synthetic_shuffled.py'))
    for split in ('train', 'val', 'test'):
        for key in (f'{split}_pipeline', f'{split}_dataloader'):
            got = cfg[key] if key.endswith('pipeline') else \
                cfg[key].dataset.pipeline
            want = base[key] if key.endswith('pipeline') else \
                base[key].dataset.pipeline
            types = [t['type'] for t in got]
            i = types.index('ShuffleFrames')
            assert types[i - 1].endswith('SampleFrames')
            assert got[:i] + got[i + 1:] == want


def test_x3d_clip_rewrites_every_pipeline():
    """``x3d_clip`` of the Kinetics base: all six pipelines, test clips."""
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR, '_base_/datasets/kinetics400_video.py'))
    set_clip = cfg.pop('x3d_clip')
    set_clip(cfg, clip_len=3, frame_interval=2, train_crop=40, test_crop=48,
             scale_range=(48, 60), test_clips=4)
    assert (cfg.clip_len, cfg.train_crop, cfg.scale_range) == (3, 40,
                                                               (48, 60))
    for split in ('train', 'val', 'test'):
        for pipeline in (cfg[f'{split}_pipeline'],
                         cfg[f'{split}_dataloader'].dataset.pipeline):
            sample = step(pipeline, 'PySlowFastSampleFrames')
            assert (sample['clip_len'], sample['frame_interval']) == (3, 2)
            clips = dict(train=1, val=1, test=4)[split]
            assert sample['num_clips'] == clips
    train = cfg.train_dataloader.dataset.pipeline
    assert step(train, 'RandomRescale')['scale_range'] == (48, 60)
    assert step(train, 'RandomCrop')['size'] == 40
    test = cfg.test_dataloader.dataset.pipeline
    assert step(test, 'Resize')['scale'] == (-1, 48)
    assert step(test, 'ThreeCrop')['crop_size'] == 48
