# Copyright (c) mmx3d contributors. All rights reserved.
"""``PySlowFastSampleFrames`` against PySlowFast's own formulas
(``slowfast/datasets/decoder.py``: ``get_start_end_idx`` and
``temporal_sampling``), written out here with torch as PySlowFast does."""
import numpy as np
import pytest
import torch

from mmx3d.registry import TRANSFORMS

# (T, tau) of the Kinetics configs
VARIANTS = {'xs': (4, 12), 's': (13, 6), 'm': (16, 5), 'l': (16, 5)}
FPS = [24, 25, 29.97, 30, 60]


def pyslowfast_indices(n, fps, t, tau, clip_idx, num_clips, target_fps=30):
    """PySlowFast's test clip ``clip_idx`` of ``num_clips``."""
    clip_size = tau * t / target_fps * fps
    delta = max(n - clip_size, 0)
    start = delta * clip_idx / num_clips
    end = start + clip_size - 1
    index = torch.linspace(start, end, t)
    return torch.clamp(index, 0, n - 1).long().numpy()


def _sample(n, fps, t, tau, num_clips, test_mode=True, **kwargs):
    sampler = TRANSFORMS.build(
        dict(type='PySlowFastSampleFrames', clip_len=t, frame_interval=tau,
             num_clips=num_clips, test_mode=test_mode, **kwargs))
    out = sampler(dict(total_frames=n, avg_fps=fps, start_index=0))
    assert out['clip_len'] == t and out['num_clips'] == num_clips
    assert out['frame_interval'] == tau
    return out['frame_inds'].reshape(num_clips, t)


@pytest.mark.parametrize('variant', list(VARIANTS))
@pytest.mark.parametrize('fps', FPS)
@pytest.mark.parametrize('seconds', [10, 0.5])  # a long and a short video
def test_test_clips_match_pyslowfast(variant, fps, seconds):
    t, tau = VARIANTS[variant]
    n = int(round(seconds * fps))
    inds = _sample(n, fps, t, tau, num_clips=10)
    for k in range(10):
        ref = pyslowfast_indices(n, fps, t, tau, k, 10)
        assert np.abs(inds[k] - ref).max() <= 1, (k, inds[k], ref)
        assert inds[k].min() >= 0 and inds[k].max() <= n - 1


def test_known_indices_and_short_videos():
    # X3D-XS at 30 fps: effective stride (4*12 - 1) / 3 = 15.67
    assert _sample(300, 30, 4, 12, 1)[0].tolist() == [0, 15, 31, 47]
    # 60 fps: the span doubles
    assert _sample(600, 60, 4, 12, 1)[0].tolist() == [0, 31, 63, 95]
    # shorter than one clip: all clips start at 0, the last frame repeats
    short = _sample(20, 30, 13, 6, 3)
    assert (short == short[0]).all()
    assert short[0, -1] == 19 and short[0, 0] == 0
    assert (np.diff(short[0]) >= 0).all()
    # the last test clip never reaches the end (start = delta * 9 / 10)
    last = _sample(300, 30, 13, 6, 10)[-1]
    assert last[-1] < 299


def test_training_starts_are_uniform_in_delta():
    np.random.seed(0)
    n, fps, t, tau = 100, 30, 4, 12
    span = t * tau
    starts = [_sample(n, fps, t, tau, 1, test_mode=False)[0, 0]
              for _ in range(400)]
    # start ~ U[0, delta), truncated
    assert min(starts) == 0 and max(starts) in (n - span - 1, n - span)
    assert len(set(starts)) > 40
    clip = _sample(n, fps, t, tau, 1, test_mode=False)[0]
    assert np.allclose(np.diff(clip), (span - 1) / (t - 1), atol=1)


def test_raw_frames_use_the_given_fps_and_start_index():
    sampler = TRANSFORMS.build(
        dict(type='PySlowFastSampleFrames', clip_len=4, frame_interval=12,
             test_mode=True, fps=60))
    out = sampler(dict(total_frames=600, start_index=1))
    assert out['frame_inds'].tolist() == [1, 32, 64, 96]
    with pytest.raises(KeyError, match='avg_fps'):
        TRANSFORMS.build(dict(type='PySlowFastSampleFrames', clip_len=4,
                              frame_interval=12))(dict(total_frames=10))
