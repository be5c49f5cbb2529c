# Copyright (c) mmx3d contributors. All rights reserved.
"""Clip sampling as PySlowFast's Kinetics loader does it."""
from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from mmx3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PySlowFastSampleFrames(BaseTransform):
    """Sample clips with the frame indices PySlowFast's Kinetics loader uses,
    the ones the published X3D weights were trained and tested with.

    Unlike MMAction2's ``SampleFrames`` (stride exactly ``frame_interval`` at
    the native frame rate), the video is treated as resampled to
    ``target_fps``: a clip spans ``span = clip_len * frame_interval * fps /
    target_fps`` source frames and its ``clip_len`` indices are
    ``linspace(start, start + span - 1, clip_len)``, clamped to the video and
    truncated to integers (PySlowFast's ``get_start_end_idx`` and
    ``temporal_sampling``)::

        delta = max(total_frames - span, 0)
        train:  start ~ U[0, delta]           (each clip independently)
        test:   start_k = delta * k / num_clips,  k = 0 .. num_clips - 1

    A video shorter than one span has every clip start at 0 and its last
    frame repeated (clamped, not wrapped around); the first time a process
    meets such a video it logs a warning with the video, its length and
    the number of short videos seen so far by the process
    (:attr:`short_videos`). At 30 fps X3D-XS (4 x 12)
    takes frames [0, 15, 31, 47] of a clip (effective stride 15.67), where
    ``SampleFrames`` takes [0, 12, 24, 36].

    Required keys: ``total_frames``, ``avg_fps`` (filled by MMAction2's
    ``DecordInit``/``PyAVInit``/``OpenCVInit``; for raw frames give ``fps``),
    optionally ``start_index``. Added keys: ``frame_inds``, ``clip_len``,
    ``frame_interval``, ``num_clips`` (as ``SampleFrames``).

    Args:
        clip_len (int): Frames per clip (T).
        frame_interval (int): Sampling rate at ``target_fps`` (tau).
        num_clips (int): Clips per video (the temporal test views).
            Defaults to 1.
        target_fps (float): The frame rate the sampling rate refers to.
            Defaults to 30 (PySlowFast's ``DATA.TARGET_FPS``).
        fps (float, optional): Frame rate to use when the results carry no
            ``avg_fps`` (raw frames). Defaults to None.
        test_mode (bool): Evenly placed clips instead of random ones.
            Defaults to False.
    """

    def __init__(self,
                 clip_len: int,
                 frame_interval: int,
                 num_clips: int = 1,
                 target_fps: float = 30.0,
                 fps: Optional[float] = None,
                 test_mode: bool = False) -> None:
        if clip_len < 1 or frame_interval < 1 or num_clips < 1:
            raise ValueError('clip_len, frame_interval and num_clips must be '
                             f'>= 1, got {clip_len}, {frame_interval}, '
                             f'{num_clips}')
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.num_clips = num_clips
        self.target_fps = float(target_fps)
        self.fps = fps
        self.test_mode = test_mode
        #: videos shorter than one clip seen by this process
        self.short_videos = set()

    def span(self, fps: float) -> float:
        """Source frames one clip covers at frame rate ``fps``."""
        return self.clip_len * self.frame_interval * fps / self.target_fps

    def clip_starts(self, total_frames: int, fps: float) -> np.ndarray:
        """The first (fractional) source frame of each clip."""
        delta = max(total_frames - self.span(fps), 0.0)
        if self.test_mode:
            return delta * np.arange(self.num_clips) / self.num_clips
        return np.random.uniform(0, delta, size=self.num_clips)

    def transform(self, results: Dict) -> Dict:
        total = int(results['total_frames'])
        if total < 1:
            raise ValueError(f'{results.get("filename", "video")}: '
                             'total_frames is 0, nothing to sample')
        fps = results.get('avg_fps') or self.fps
        if not fps:
            raise KeyError(
                'PySlowFastSampleFrames needs the frame rate: `avg_fps` in '
                'the results (set by DecordInit/PyAVInit/OpenCVInit) or the '
                '`fps` argument for raw frames')
        span = self.span(float(fps))
        if total < span:
            self._log_short(results, total, span, float(fps))
        inds = [
            np.linspace(s, s + span - 1, self.clip_len)
            for s in self.clip_starts(total, float(fps))
        ]
        inds = np.clip(np.concatenate(inds), 0, total - 1).astype(np.int64)
        results['frame_inds'] = inds + results.get('start_index', 0)
        results['clip_len'] = self.clip_len
        results['frame_interval'] = self.frame_interval
        results['num_clips'] = self.num_clips
        return results

    def _log_short(self, results: Dict, total: int, span: float,
                   fps: float) -> None:
        name = results.get('filename') or results.get('frame_dir') or '?'
        if name in self.short_videos:
            return
        self.short_videos.add(name)
        print_log(
            f'PySlowFastSampleFrames: {name!r} has {total} frames, fewer '
            f'than one clip spans ({span:.1f} at {fps:g} fps): clips start '
            'at frame 0 and repeat the last frame; '
            f'{len(self.short_videos)} short video(s) so far in this '
            'process',
            logger='current',
            level=30)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(clip_len={self.clip_len}, '
                f'frame_interval={self.frame_interval}, '
                f'num_clips={self.num_clips}, target_fps={self.target_fps}, '
                f'fps={self.fps}, test_mode={self.test_mode})')


__all__ = ['PySlowFastSampleFrames']
