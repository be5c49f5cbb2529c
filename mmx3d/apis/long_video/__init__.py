# Copyright (c) mmx3d contributors. All rights reserved.
"""Recognise actions over a whole video in sliding windows, or in a live
stream.

Long videos (:func:`recognize_long`)::

    decord, frame by frame ─ keeps only the frames of unfinished windows
        ─ window clip (the config's test pipeline, one view)
        ─ batches of windows ─ model (PyTorch, BN folded, or ONNX Runtime)
        ─ per-window top-k ─ CSV / JSON / timeline PNG / overlay video

* **Windows** (:func:`sliding_windows`): window ``k`` covers
  ``[k * hop, k * hop + window)`` seconds, computed with fractions from the
  frame rate and the frame count; frame ``i`` lies at ``i / fps``. Windows
  lie wholly inside the video; with ``tail=True`` (the default) a last one,
  ``[duration - window, duration)``, covers what the regular grid leaves
  over at the end. A video shorter than one window is one window.
* **Clip** (:class:`WindowPipeline`): the config's test sampler
  (``PySlowFastSampleFrames``/``SampleFrames``, with its ``clip_len`` and
  ``frame_interval``) run with ``num_clips=1`` on the window's frames as if
  they were the whole video, then the test pipeline's steps after decoding
  (resize, crop, format). A **single view per window**: ``ThreeCrop`` and
  ``TenCrop`` become the ``CenterCrop`` of the same size (ThreeCrop's middle
  crop); the model scores that one clip. A window shorter than the clip
  span repeats its last frame, as the sampler does for short videos.
* **Streaming** (:class:`VideoFrameReader`, :func:`window_clips`): frames
  are decoded in order, skipping the ones no clip uses, and a frame is kept
  only while a window that needs it is unfinished, so memory does not grow
  with the video's length (:attr:`LongVideoResult.max_frames_held`).

Live streams (:func:`run_stream`)::

    reader thread: source ─ ring buffer of the last clip span of frames
    main thread, every 1 / rate s: newest frames ─ clip ─ model ─ top-k

The reader never waits for the model: the ring buffer drops the oldest
frames, a paced file (:class:`PacedFileSource`) skips frames it is late
for, and a prediction tick that is missed because the model was busy is
skipped, not queued. The report (:class:`StreamReport`) gives the achieved
recognition rate, the frames dropped, and the lag: how long after the
real time of the newest frame it used a prediction was ready.
"""
from .clips import (
    MULTI_CROP_STEPS,
    VideoFrameReader,
    WindowPipeline,
    clip_span_seconds,
    window_clips,
)
from .outputs import (
    draw_label,
    label_at,
    plot_timeline,
    timeline_matrix,
    to_json,
    write_csv,
    write_json,
    write_overlay_video,
)
from .recognize import LongVideoResult, recognize_long
from .scoring import OnnxScorer, Scorer, TorchScorer, load_scorer
from .stream import (
    CaptureSource,
    PacedFileSource,
    StreamReader,
    StreamReport,
    open_source,
    run_stream,
)
from .windows import Number, Window, exact, exact_fps, sliding_windows

__all__ = [
    'Number', 'Window', 'exact', 'exact_fps', 'sliding_windows',
    'MULTI_CROP_STEPS', 'WindowPipeline', 'VideoFrameReader',
    'window_clips', 'clip_span_seconds', 'TorchScorer', 'OnnxScorer',
    'Scorer', 'load_scorer', 'LongVideoResult', 'recognize_long',
    'write_csv', 'write_json', 'to_json', 'timeline_matrix',
    'plot_timeline', 'label_at', 'draw_label', 'write_overlay_video',
    'CaptureSource', 'PacedFileSource', 'StreamReader', 'StreamReport',
    'open_source', 'run_stream'
]
