# Copyright (c) mmx3d contributors. All rights reserved.
import pytest


@pytest.fixture(scope='session')
def charades_mini(tmp_path_factory):
    """A few Charades-format videos (mp4v + JPEG frames) for data tests."""
    from mmx3d.datasets.charades_synthetic import generate_synthetic_charades
    root = str(tmp_path_factory.mktemp('charades_mini'))
    generate_synthetic_charades(root, num_train=8, num_test=6, rawframes=True)
    return root
