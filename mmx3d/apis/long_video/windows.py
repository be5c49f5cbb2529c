# Copyright (c) mmx3d contributors. All rights reserved.
"""Sliding windows over a video, with exact time stamps: seconds as
fractions, the exact frame rate behind a decoder's float one, and the grid
of windows with their frame ranges."""
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import List, Tuple, Union

import numpy as np

#: Seconds or a frame rate (taken exactly by :func:`exact`).
Number = Union[int, float, str, Fraction]


def exact(value: Number) -> Fraction:
    """``value`` as a fraction, decimals taken as written (``0.1`` is
    1/10, not the nearest binary float).

    Args:
        value (int, float, str or Fraction): A number of seconds.

    Returns:
        Fraction: The exact value.
    """
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def exact_fps(fps: Number) -> Fraction:
    """The exact frame rate behind a float one: 29.97002997 -> 30000/1001.

    Args:
        fps (int, float, str or Fraction): The rate a decoder reports.

    Returns:
        Fraction: The nearest fraction with a denominator up to 10000
        (NTSC rates are ``n * 1000 / 1001``).
    """
    if isinstance(fps, Fraction):
        return fps
    rate = Fraction(fps).limit_denominator(10000)
    if rate <= 0:
        raise ValueError(f'frame rate must be positive, got {fps!r}')
    return rate


@dataclass
class Window:
    """One sliding window and, once scored, its top classes.

    Attributes:
        index (int): Position in time order.
        start (Fraction): First instant, in seconds.
        end (Fraction): End (exclusive), in seconds.
        start_frame (int): First frame (``ceil(start * fps)``).
        end_frame (int): One past the last frame.
        frame_inds (np.ndarray): The clip's frames (absolute indices).
        topk (list): ``(class index, name, probability)``, most probable
            first.
    """
    index: int
    start: Fraction
    end: Fraction
    start_frame: int
    end_frame: int
    frame_inds: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.int64))
    topk: List[Tuple[int, str, float]] = field(default_factory=list)

    @property
    def center(self) -> Fraction:
        """The window's middle, in seconds."""
        return (self.start + self.end) / 2


def sliding_windows(num_frames: int, fps: Number, window: Number,
                    hop: Number, tail: bool = True) -> List[Window]:
    """The windows of a video, with exact time stamps and frame ranges.

    Window ``k`` is ``[k * hop, k * hop + window)`` for every ``k`` with
    ``k * hop + window <= duration``, ``duration = num_frames / fps``; it
    holds frames ``i`` with ``start <= i / fps < end``. With ``tail``, if the
    last regular window ends before the video does, a last window
    ``[duration - window, duration)`` is added. A video no longer than
    ``window`` gives the single window ``[0, duration)``.

    Args:
        num_frames (int): Frames in the video.
        fps (int, float, str or Fraction): Frame rate (see
            :func:`exact_fps`).
        window (int, float, str or Fraction): Window length in seconds.
        hop (int, float, str or Fraction): Seconds between window starts.
        tail (bool): Add the end-aligned last window. Defaults to True.

    Returns:
        list[Window]: In time order, without ``frame_inds``.
    """
    fps, window, hop = exact_fps(fps), exact(window), exact(hop)
    if num_frames < 1:
        raise ValueError(f'the video has no frames (num_frames={num_frames})')
    if window <= 0 or hop <= 0:
        raise ValueError(f'window and hop must be positive seconds, got '
                         f'window={float(window)}, hop={float(hop)}')
    duration = Fraction(num_frames) / fps
    if duration <= window:
        spans = [(Fraction(0), duration)]
    else:
        count = math.floor((duration - window) / hop) + 1
        spans = [(k * hop, k * hop + window) for k in range(count)]
        if tail and spans[-1][1] < duration:
            spans.append((duration - window, duration))

    def frame_at(t: Fraction) -> int:
        return min(num_frames, math.ceil(t * fps))

    return [
        Window(k, s, e, frame_at(s), frame_at(e))
        for k, (s, e) in enumerate(spans)
    ]
