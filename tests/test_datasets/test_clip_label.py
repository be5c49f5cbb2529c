# Copyright (c) mmx3d contributors. All rights reserved.
import numpy as np
import pytest
import torch

from mmx3d.datasets.transforms import ClipLabelFromIntervals


def clip_label(frame_inds, actions, fps=10.0, num_classes=4, **extra):
    results = dict(frame_inds=np.asarray(frame_inds), avg_fps=fps,
                   actions=np.asarray(actions, np.float64).reshape(-1, 3),
                   num_classes=num_classes, **extra)
    label = ClipLabelFromIntervals()(results)['label']
    assert label.dtype == torch.float32 and label.shape == (num_classes, )
    return torch.nonzero(label).flatten().tolist()


# clip of frames 20..50 at 10 fps spans [2.0, 5.0] s
CLIP = [20, 30, 40, 50]


@pytest.mark.parametrize('start, end, hit', [
    (5.0, 9.0, True),     # starts exactly at the clip's last frame: touching
    (5.01, 9.0, False),   # starts just after
    (0.0, 2.0, True),     # ends exactly at the clip's first frame
    (0.0, 1.99, False),   # ends just before
    (3.0, 3.5, True),     # inside, between two sampled frames
    (0.0, 9.0, True),     # covers the clip
    (2.0, 2.0, True),     # zero length, on the first frame
])
def test_overlap_boundaries(start, end, hit):
    assert clip_label(CLIP, [[1, start, end]]) == ([1] if hit else [])


def test_two_decimal_times_match_frame_times():
    # 357 / 30 = 11.9 up to rounding: touching must still count
    assert clip_label([300, 357], [[2, 11.90, 20.0]], fps=30) == [2]
    assert clip_label([300, 356], [[2, 11.90, 20.0]], fps=30) == []


def test_several_actions_and_none():
    acts = [[0, 0.0, 1.0], [1, 4.5, 6.0], [3, 1.0, 2.5], [1, 9, 9.5]]
    assert clip_label(CLIP, acts) == [1, 3]
    assert clip_label(CLIP, np.zeros((0, 3))) == []


def test_start_index_and_fps_override():
    # rawframes count from 1: frame index 21 is at t = 2.0 s
    assert clip_label([21, 51], [[0, 0.0, 2.0]], start_index=1) == [0]
    assert clip_label([21, 51], [[0, 0.0, 1.95]], start_index=1) == []
    results = dict(frame_inds=np.array([20, 50]),
                   actions=np.array([[0, 0.0, 2.0]]), num_classes=2)
    out = ClipLabelFromIntervals(fps=10)(results)
    assert out['label'].tolist() == [1.0, 0.0]


def test_union_over_clips():
    # two clips: [0.0, 0.3] s and [5.0, 5.3] s; the gap between is no clip
    inds = [0, 1, 2, 3, 50, 51, 52, 53]
    acts = [[0, 0.2, 0.25], [1, 1.0, 4.0], [2, 5.3, 7.0]]
    assert clip_label(inds, acts, clip_len=4, num_clips=2) == [0, 2]


def test_missing_fps_or_classes():
    t = ClipLabelFromIntervals()
    with pytest.raises(KeyError, match='frame rate'):
        t(dict(frame_inds=np.array([0]), actions=np.zeros((0, 3)),
               num_classes=3))
    with pytest.raises(KeyError, match='num_classes'):
        t(dict(frame_inds=np.array([0]), actions=np.zeros((0, 3)),
               avg_fps=30))
