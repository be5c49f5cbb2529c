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
