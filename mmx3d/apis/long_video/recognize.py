# Copyright (c) mmx3d contributors. All rights reserved.
"""Recognise actions over a whole video file in sliding windows, decoding it
once, in order: :func:`recognize_long` and its :class:`LongVideoResult`."""
import os.path as osp
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .clips import (
    VideoFrameReader,
    WindowPipeline,
    clip_span_seconds,
    window_clips,
)
from .scoring import Scorer, _names, _topk
from .windows import Number, Window, exact, sliding_windows


@dataclass
class LongVideoResult:
    """What :func:`recognize_long` found.

    Attributes:
        video (str): The file.
        fps (Fraction): Its frame rate.
        num_frames (int): Its frames.
        window (Fraction): Window length, seconds.
        hop (Fraction): Hop, seconds.
        windows (list[Window]): Scored windows, in time order.
        backend (str): ``'pytorch'`` or ``'onnxruntime'``.
        wall_s (float): Seconds from opening the video to the last score.
        max_frames_held (int): Most decoded frames held at once.
    """
    video: str
    fps: Fraction
    num_frames: int
    window: Fraction
    hop: Fraction
    windows: List[Window]
    backend: str
    wall_s: float
    max_frames_held: int

    @property
    def duration(self) -> Fraction:
        """The video's length in seconds (``num_frames / fps``)."""
        return Fraction(self.num_frames) / self.fps

    @property
    def realtime_factor(self) -> float:
        """Video seconds processed per wall second."""
        return float(self.duration) / max(self.wall_s, 1e-9)


def _progress(total: int, enabled: bool, desc: str):
    """A tqdm bar (or a stand-in with the same calls)."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with mmengine's deps
        enabled = False
    if enabled:
        return tqdm(total=total, desc=desc, unit='frame', dynamic_ncols=True)

    class _Silent:

        def update(self, n=1):
            pass

        def set_postfix_str(self, s, refresh=True):
            pass

        def close(self):
            pass

    return _Silent()


def recognize_long(scorer: Scorer,
                   video: str,
                   window: Optional[Number] = None,
                   hop: Optional[Number] = None,
                   topk: int = 5,
                   label_map: Optional[Union[str, Sequence[str]]] = None,
                   batch_size: int = 4,
                   tail: bool = True,
                   progress: bool = False) -> LongVideoResult:
    """Score every sliding window of a video, decoding it once, in order.

    Args:
        scorer (TorchScorer or OnnxScorer): The model (:func:`.load_scorer`).
        video (str): The video file.
        window (int, float, str or Fraction, optional): Window length in
            seconds; None: one clip span of the config
            (:func:`.clip_span_seconds`). Defaults to None.
        hop (int, float, str or Fraction, optional): Seconds between window
            starts; None: the window length. Defaults to None.
        topk (int): Classes kept per window. Defaults to 5.
        label_map (str or Sequence[str], optional): A label-map file or the
            names; None: Kinetics-400. Defaults to None.
        batch_size (int): Windows per model call. Defaults to 4.
        tail (bool): Cover the end with an end-aligned last window (see
            :func:`.sliding_windows`). Defaults to True.
        progress (bool): Show a tqdm bar with decode progress, windows
            scored and the real-time factor. Defaults to False.

    Returns:
        LongVideoResult: The windows with their top classes.

    Raises:
        VideoReadError: If the video is missing or cannot be decoded.
        ValueError: If the label map does not fit the model.
    """
    names = _names(label_map, scorer.num_classes)
    t0 = time.perf_counter()
    reader = VideoFrameReader(video)
    pipeline = WindowPipeline(scorer.cfg)
    window = exact(window) if window is not None else clip_span_seconds(
        scorer.cfg, reader.fps)
    hop = exact(hop) if hop is not None else window
    windows = sliding_windows(reader.num_frames, reader.fps, window, hop,
                              tail)
    for w in windows:
        w.frame_inds = pipeline.frame_inds(w, reader.fps)
    needed = sorted({i for w in windows for i in w.frame_inds.tolist()})
    bar = _progress(reader.num_frames, progress, osp.basename(video))
    stats = dict(max_frames_held=0)
    done, pos, batch = 0, 0, []

    def flush() -> None:
        nonlocal done
        probs = scorer([packed for _, packed in batch])
        for (w, _), p in zip(batch, probs):
            w.topk = _topk(p, topk, names)
        done += len(batch)
        batch.clear()
        wall = time.perf_counter() - t0
        bar.set_postfix_str(
            f'windows {done}/{len(windows)}, real-time x'
            f'{float(pos / reader.fps) / max(wall, 1e-9):.1f}')

    def frames() -> Iterator[Tuple[int, np.ndarray]]:
        nonlocal pos
        for i, frame in reader.read(needed):
            bar.update(i + 1 - pos)
            pos = i + 1
            yield i, frame

    try:
        for w, clip in window_clips(frames(), windows, stats, video):
            batch.append((w, pipeline(clip, w.frame_inds)))
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
        bar.update(reader.num_frames - pos)
    finally:
        bar.close()
    return LongVideoResult(
        video=video, fps=reader.fps, num_frames=reader.num_frames,
        window=window, hop=hop, windows=windows, backend=scorer.backend,
        wall_s=time.perf_counter() - t0,
        max_frames_held=stats['max_frames_held'])
