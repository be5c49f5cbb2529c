# Copyright (c) mmx3d contributors. All rights reserved.
"""Real encoded video files for tests: H.264 / HEVC through PyAV (libx264,
libx265), any size, frame rate, length, pixel format, and variable frame
rates. Frames are synthetic but the files are what a camera or a phone
writes: YUV 4:2:0 H.264 in MP4 with B-frames and a GOP, decoded by decord,
OpenCV and PyAV like downloaded footage.
"""
from fractions import Fraction
from typing import Callable, Optional, Sequence

import numpy as np


def moving_frame(i: int, width: int, height: int) -> np.ndarray:
    """Frame ``i`` of a textured scene with a square moving to the right and
    a brightness ramp over time (RGB uint8, H x W x 3)."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.empty((height, width, 3), np.uint8)
    frame[..., 0] = (x * 255 // max(width - 1, 1))
    frame[..., 1] = (y * 255 // max(height - 1, 1))
    frame[..., 2] = (i * 7) % 256
    side = max(4, min(width, height) // 4)
    x0 = (i * 3) % max(width - side, 1)
    y0 = (height - side) // 2
    frame[y0:y0 + side, x0:x0 + side] = 255
    return frame


def write_video(path: str,
                num_frames: int,
                fps: float = 25.0,
                size: Sequence[int] = (160, 120),
                codec: str = 'libx264',
                pix_fmt: str = 'yuv420p',
                gray: bool = False,
                timestamps: Optional[Sequence[float]] = None,
                frame_fn: Callable[[int, int, int],
                                   np.ndarray] = moving_frame,
                gop: int = 12) -> str:
    """Encode ``num_frames`` frames into ``path`` with PyAV.

    Args:
        path (str): Output file (``.mp4``/``.mkv``).
        num_frames (int): Frames to write.
        fps (float): Nominal frame rate. Defaults to 25.
        size (Sequence[int]): ``(width, height)``; odd sizes are allowed
            with ``pix_fmt='yuv444p'`` (4:2:0 needs even sizes).
            Defaults to ``(160, 120)``.
        codec (str): ``'libx264'`` (H.264) or ``'libx265'`` (HEVC).
            Defaults to ``'libx264'``.
        pix_fmt (str): Encoder pixel format. Defaults to ``'yuv420p'``.
        gray (bool): Write grey frames (R = G = B). Defaults to False.
        timestamps (Sequence[float], optional): Presentation time of each
            frame in seconds, for variable frame rate files. Defaults to
            None (constant ``fps``).
        frame_fn (callable): ``(i, width, height) -> RGB uint8 frame``.
            Defaults to :func:`moving_frame`.
        gop (int): Keyframe interval. Defaults to 12.

    Returns:
        str: ``path``.
    """
    import av
    width, height = size
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(path, 'w') as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = pix_fmt
        stream.gop_size = gop
        opts = {'preset': 'ultrafast'} if codec == 'libx264' else {
            'preset': 'ultrafast', 'x265-params': 'log-level=error'}
        stream.options = opts
        if timestamps is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i in range(num_frames):
            rgb = frame_fn(i, width, height)
            if gray:
                rgb = np.repeat(rgb.mean(-1, keepdims=True).astype(np.uint8),
                                3, axis=-1)
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(rgb), format='rgb24')
            if timestamps is not None:
                frame.pts = int(round(timestamps[i] * 1000))
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
