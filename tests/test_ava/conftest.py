# Copyright (c) mmx3d contributors. All rights reserved.
import pytest


@pytest.fixture(scope='session')
def ava_synthetic(tmp_path_factory):
    """A small synthetic AVA-format dataset (8 train / 3 val videos)."""
    from mmx3d.datasets.ava_synthetic import generate_synthetic_ava
    root = str(tmp_path_factory.mktemp('ava_synthetic'))
    files = generate_synthetic_ava(
        root, num_train_videos=8, num_val_videos=3, num_keyframes=6)
    files['root'] = root
    return files
