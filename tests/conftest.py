# Copyright (c) mmx3d contributors. All rights reserved.
import os
import os.path as osp
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True, scope='session')
def _mmx3d_scope():
    from mmx3d.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    yield


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


@pytest.fixture(scope='session')
def synthetic_data(tmp_path_factory):
    """The tiny synthetic dataset of :mod:`mmx3d.datasets.synthetic`: four
    brightness profiles over time (real mp4v files, decoded by decord)."""
    from mmx3d.datasets.synthetic import generate_synthetic_kinetics
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_kinetics(root, num_train=16, num_val=8, num_frames=16,
                                size=48)
    return root


@pytest.fixture(scope='session')
def ava_synthetic(tmp_path_factory):
    """A small synthetic AVA-format dataset (8 train / 3 val videos)."""
    from mmx3d.datasets.ava_synthetic import generate_synthetic_ava
    root = str(tmp_path_factory.mktemp('ava_synthetic'))
    files = generate_synthetic_ava(
        root, num_train_videos=8, num_val_videos=3, num_keyframes=6)
    files['root'] = root
    return files


@pytest.fixture(scope='session')
def charades_mini(tmp_path_factory):
    """A few Charades-format videos (mp4v + JPEG frames) for data tests."""
    from mmx3d.datasets.charades_synthetic import generate_synthetic_charades
    root = str(tmp_path_factory.mktemp('charades_mini'))
    generate_synthetic_charades(root, num_train=8, num_test=6, rawframes=True)
    return root
