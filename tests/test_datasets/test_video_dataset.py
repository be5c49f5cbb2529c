# Copyright (c) mmx3d contributors. All rights reserved.
import os
import os.path as osp

import numpy as np
import pytest

from mmx3d.datasets import RobustVideoDataset
from mmx3d.datasets.synthetic import CLASSES, render_video
from mmx3d.datasets.transforms import ShuffleFrames


def _ds(ann_file, **kw):
    root = osp.join(osp.dirname(ann_file), 'videos')
    os.makedirs(root, exist_ok=True)
    return RobustVideoDataset(ann_file=ann_file, pipeline=[],
                              data_prefix=dict(video=root), **kw)


def test_missing_annotation_file_is_named(tmp_path):
    path = str(tmp_path / 'nothere.txt')
    with pytest.raises(FileNotFoundError, match='nothere.txt'):
        _ds(path)


@pytest.mark.parametrize('line,match', [
    ('a.mp4 x', 'labels must be integers'),
    ('a.mp4 1 2', 'expected'),
    ('a.mp4', 'expected'),
    ('a.mp4 7', 'out of range'),
])
def test_malformed_line_fails_with_file_and_line(tmp_path, line, match):
    ann = tmp_path / 'list.txt'
    ann.write_text('ok.mp4 0\n\n' + line + '\n')
    with pytest.raises(ValueError, match=match) as e:
        _ds(str(ann), num_classes=5)
    assert f'{ann}:3' in str(e.value)


def test_valid_list(tmp_path):
    ann = tmp_path / 'list.txt'
    ann.write_text('a.mp4 0\nsub/b.mp4 3\n')
    ds = _ds(str(ann), num_classes=4)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [d['label'] for d in infos] == [0, 3]
    assert infos[1]['filename'] == osp.join(str(tmp_path), 'videos',
                                            'sub/b.mp4')


def test_synthetic_classes_need_time():
    """Every class's brightness profile spans the same range, so a single
    frame cannot tell classes apart; the order of the frames can."""
    for name, profile in CLASSES:
        gains = [profile(t / 15) for t in range(16)]
        assert min(gains) <= 1 / 15 and max(gains) >= 14 / 15, name
    rng = np.random.default_rng(0)
    means = []
    for label in range(len(CLASSES)):
        frames = render_video(rng, label, num_frames=16, size=48)
        assert frames.shape == (16, 48, 64, 3)
        means.append(frames.reshape(16, -1).mean(1))
    # brightening rises and darkening falls over time
    assert means[0][-1] > means[0][0] and means[1][-1] < means[1][0]


def test_shuffle_frames_permutes_within_clips():
    t = ShuffleFrames(seed=0)
    inds = np.arange(12)
    out = t(dict(frame_inds=inds.copy(), clip_len=4, num_clips=3))
    clips = out['frame_inds'].reshape(3, 4)
    for k in range(3):
        assert sorted(clips[k]) == list(range(4 * k, 4 * k + 4))
    assert not np.array_equal(out['frame_inds'], inds)
