# Copyright (c) mmx3d contributors. All rights reserved.
"""From windows to model inputs: the config's test pipeline applied to one
window (one clip, one view), sequential decoding of a video file, and the
grouping of streamed frames into the windows' clips."""
import math
from collections import deque
from fractions import Fraction
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from ..inference import VideoReadError, check_video
from .windows import Number, Window, exact_fps

#: Test-pipeline steps that make several spatial views; a window is scored
#: with one view, their middle crop (``CenterCrop`` of the same size).
MULTI_CROP_STEPS = ('ThreeCrop', 'TenCrop')


def _step_type(step: Dict) -> str:
    t = step['type']
    return t if isinstance(t, str) else t.__name__


class WindowPipeline:
    """The config's test pipeline applied to one window: one clip, one view.

    The steps of ``cfg.test_pipeline`` (or ``cfg.test_dataloader.dataset.
    pipeline``) are split at the sampler (a step whose type ends with
    ``SampleFrames``) and the decoder (type ending with ``Decode``): the
    sampler, with ``num_clips=1`` and ``test_mode=True``, picks the clip's
    frames of a window, treated as a video of ``end_frame - start_frame``
    frames; the steps after the decoder turn the decoded frames into the
    model's input, with ``ThreeCrop``/``TenCrop`` replaced by the
    ``CenterCrop`` of the same size.

    Args:
        cfg (Config): The model's config.
    """

    def __init__(self, cfg: Config) -> None:
        init_default_scope(cfg.get('default_scope', 'mmx3d'))
        steps = cfg.get('test_pipeline') or (
            cfg.test_dataloader.dataset.pipeline)
        types = [_step_type(s) for s in steps]
        where = f'{getattr(cfg, "filename", None) or "config"}: test_pipeline'
        samplers = [i for i, t in enumerate(types) if t.endswith(
            'SampleFrames')]
        decoders = [i for i, t in enumerate(types) if t.endswith('Decode')]
        if len(samplers) != 1 or len(decoders) != 1 or (
                decoders[0] < samplers[0]):
            raise ValueError(
                f'{where} is {types}; expected one frame sampler (a type '
                'ending with "SampleFrames") followed by one decoder (a type '
                'ending with "Decode")')
        sampler = dict(steps[samplers[0]], num_clips=1, test_mode=True)
        self.sampler = Compose([sampler]).transforms[0]
        post = []
        for step in steps[decoders[0] + 1:]:
            if _step_type(step) in MULTI_CROP_STEPS:
                step = dict(type='CenterCrop', crop_size=step['crop_size'])
            post.append(step)
        self.post = Compose(post)
        self.steps = [sampler] + post

    def frame_inds(self, window: Window, fps: Number) -> np.ndarray:
        """The clip's frames of a window (absolute indices).

        Args:
            window (Window): The window.
            fps (int, float, str or Fraction): The video's frame rate.

        Returns:
            np.ndarray: ``clip_len`` indices within the window, int64.
        """
        total = window.end_frame - window.start_frame
        res = self.sampler(dict(total_frames=total, avg_fps=float(fps),
                                start_index=0))
        inds = np.clip(np.asarray(res['frame_inds'], np.int64).ravel(), 0,
                       total - 1)
        return inds + window.start_frame

    def span_frames(self, fps: Number) -> int:
        """Frames one clip spans at ``fps`` (the stream's ring buffer)."""
        if hasattr(self.sampler, 'span'):  # PySlowFastSampleFrames
            return max(1, math.ceil(self.sampler.span(float(fps)) - 1e-9))
        return self.sampler.clip_len * self.sampler.frame_interval

    def __call__(self, frames: Sequence[np.ndarray],
                 frame_inds: Optional[np.ndarray] = None) -> Dict:
        """Model input of one clip from its decoded RGB frames.

        Args:
            frames (Sequence[np.ndarray]): ``clip_len`` RGB frames
                (H, W, 3) uint8, in clip order.
            frame_inds (np.ndarray, optional): Their indices (kept in the
                data sample's meta). Defaults to None.

        Returns:
            dict: ``inputs`` (1, 3, T, H, W) and ``data_samples``, as
            ``PackActionInputs`` makes them.
        """
        imgs = list(frames)
        shape = imgs[0].shape[:2]
        inds = (np.arange(len(imgs)) if frame_inds is None else
                np.asarray(frame_inds))
        return self.post(
            dict(imgs=imgs, original_shape=shape, img_shape=shape,
                 frame_inds=inds, clip_len=len(imgs), num_clips=1,
                 frame_interval=getattr(self.sampler, 'frame_interval',
                                        None),
                 modality='RGB', label=-1, start_index=0))


def clip_span_seconds(cfg: Config, fps: Number = 30) -> Fraction:
    """Seconds one test clip of ``cfg`` spans at ``fps``.

    Args:
        cfg (Config): The model's config.
        fps (int, float, str or Fraction): Frame rate. Defaults to 30 (for
            ``PySlowFastSampleFrames`` the span does not depend on it).

    Returns:
        Fraction: ``clip_len * frame_interval / target_fps`` for
        ``PySlowFastSampleFrames``, ``clip_len * frame_interval / fps`` for
        ``SampleFrames``.
    """
    sampler = WindowPipeline(cfg).sampler
    rate = getattr(sampler, 'target_fps', None) or exact_fps(fps)
    return (Fraction(sampler.clip_len * sampler.frame_interval) /
            exact_fps(rate))


class VideoFrameReader:
    """Decode a video file frame by frame, in order (decord).

    Frames that no clip needs are skipped; nothing is decoded twice and
    only the current frame is held.

    Args:
        path (str): The video file.

    Attributes:
        num_frames (int): Frames in the file.
        fps (Fraction): Its frame rate (:func:`.exact_fps`).
    """

    def __init__(self, path: str) -> None:
        import decord
        check_video(path)
        self.path = path
        self._reader = decord.VideoReader(path, num_threads=1)
        self.num_frames = len(self._reader)
        self.fps = exact_fps(self._reader.get_avg_fps())

    def read(self, indices: Iterable[int]) -> Iterator[Tuple[int, np.ndarray]]:
        """``(index, RGB frame)`` of each index, decoded sequentially.

        Args:
            indices (Iterable[int]): Frame indices, increasing.

        Yields:
            tuple[int, np.ndarray]: The index and its (H, W, 3) uint8 frame.

        Raises:
            VideoReadError: If a frame cannot be decoded.
        """
        reader = self._reader
        reader.seek(0)
        pos = 0
        for i in indices:
            if i < pos or i >= self.num_frames:
                raise ValueError(f'frame {i} is out of order or beyond the '
                                 f'{self.num_frames} frames of {self.path}')
            try:
                if i > pos:
                    reader.skip_frames(i - pos)
                frame = reader.next().asnumpy()
            except Exception as e:  # noqa: BLE001 - decord's errors vary
                raise VideoReadError(
                    self.path, f'frame {i}: {type(e).__name__}: {e}') from e
            pos = i + 1
            yield i, frame


def window_clips(frames: Iterable[Tuple[int, np.ndarray]],
                 windows: Sequence[Window],
                 stats: Optional[Dict] = None,
                 source: str = 'video'
                 ) -> Iterator[Tuple[Window, List[np.ndarray]]]:
    """Group streamed frames into the clips of the windows.

    A window is yielded as soon as its last clip frame has arrived; a frame
    is dropped once every window that needs it was yielded.

    Args:
        frames (Iterable[tuple[int, np.ndarray]]): ``(index, frame)`` in
            increasing index order (other frames may be left out).
        windows (Sequence[Window]): With ``frame_inds`` set.
        stats (dict, optional): Receives ``max_frames_held``, the most
            frames held at once. Defaults to None.
        source (str): The video's name, for errors. Defaults to
            ``'video'``.

    Yields:
        tuple[Window, list[np.ndarray]]: A window and its clip's frames, in
        the order the windows' last frames come.
    """
    need: Dict[int, int] = {}
    for w in windows:
        for i in set(w.frame_inds.tolist()):
            need[i] = need.get(i, 0) + 1
    pending = deque(sorted(windows, key=lambda w: (int(w.frame_inds.max()),
                                                   w.index)))
    held: Dict[int, np.ndarray] = {}
    most = 0
    for i, frame in frames:
        if i in need:
            held[i] = frame
            most = max(most, len(held))
        while pending and int(pending[0].frame_inds.max()) <= i:
            w = pending.popleft()
            yield w, [held[j] for j in w.frame_inds.tolist()]
            for j in set(w.frame_inds.tolist()):
                need[j] -= 1
                if not need[j]:
                    del need[j]
                    held.pop(j, None)
        if stats is not None:
            stats['max_frames_held'] = most
    if pending:
        last = int(pending[0].frame_inds.max())
        raise VideoReadError(
            source, f'the stream ended before frame {last} of window '
            f'{pending[0].index}')
