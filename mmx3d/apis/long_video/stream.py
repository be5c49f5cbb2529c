# Copyright (c) mmx3d contributors. All rights reserved.
"""Recognise a live stream (a camera, a URL, or a file played at its native
rate) at a fixed rate, dropping frames rather than falling behind."""
import math
import os.path as osp
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..inference import VideoReadError
from .clips import WindowPipeline
from .outputs import draw_label
from .scoring import Scorer, _names, _topk
from .windows import Window


class CaptureSource:
    """Frames of a camera or a stream URL through ``cv2.VideoCapture``,
    time-stamped on arrival.

    Args:
        source (str or int): Camera index (``0`` or ``'0'``) or a URL.
        default_fps (float): Rate to assume where the source reports none.
            Defaults to 30.
    """

    def __init__(self, source: Union[str, int],
                 default_fps: float = 30.0) -> None:
        import cv2
        if isinstance(source, str) and source.isdigit():
            source = int(source)
        self.source = source
        self.capture = cv2.VideoCapture(source)
        if not self.capture.isOpened():
            raise VideoReadError(str(source), 'OpenCV cannot open it as a '
                                 'camera index, a URL or a video file')
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 and fps < 1000 else float(
            default_fps)
        self.dropped = 0

    def read(self) -> Optional[Tuple[float, np.ndarray]]:
        """``(time.monotonic() time stamp, BGR frame)``, or None at the end.
        """
        ok, frame = self.capture.read()
        if not ok:
            return None
        return time.monotonic(), frame

    def release(self) -> None:
        """Close the capture."""
        self.capture.release()


class PacedFileSource(CaptureSource):
    """A video file played as a live stream at its native rate.

    Frame ``i`` is due at ``t0 + i / fps`` (``t0``: the first read); the
    reader sleeps until then, and its time stamp is that real time, so a
    consumer's lag behind real time is measurable. A frame that is more
    than one frame period overdue when its turn comes is skipped
    (``grab`` without conversion) and counted in ``dropped``, as a live
    source would lose it.

    Args:
        path (str): The video file.
        clock (callable): Monotonic seconds. Defaults to
            ``time.monotonic``.
        sleep (callable): Defaults to ``time.sleep``.
    """

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not osp.isfile(path):
            raise VideoReadError(path, 'no such file')
        super().__init__(path)
        self.clock, self.sleep = clock, sleep
        self.t0: Optional[float] = None
        self.index = 0

    def read(self) -> Optional[Tuple[float, np.ndarray]]:
        """As :meth:`CaptureSource.read`, paced; the time stamp is the
        frame's due time."""
        if self.t0 is None:
            self.t0 = self.clock()
        period = 1.0 / self.fps
        while True:
            due = self.t0 + self.index * period
            now = self.clock()
            if now < due:
                self.sleep(due - now)
            elif now > due + period:  # late: lose this frame
                self.index += 1
                if not self.capture.grab():
                    return None
                self.dropped += 1
                continue
            ok, frame = self.capture.read()
            self.index += 1
            return (due, frame) if ok else None


def open_source(source: Union[str, int]) -> CaptureSource:
    """A paced :class:`PacedFileSource` for an existing file, else a
    :class:`CaptureSource` (camera index or URL)."""
    if isinstance(source, str) and osp.isfile(source):
        return PacedFileSource(source)
    return CaptureSource(source)


class StreamReader(threading.Thread):
    """Read a source in a thread into a ring buffer of the newest frames.

    Args:
        source (CaptureSource): The source.
        size (int): Frames kept (one clip span).
        on_frame (callable, optional): Called with each BGR frame (e.g. to
            write an overlay video). Defaults to None.
    """

    def __init__(self, source: CaptureSource, size: int,
                 on_frame: Optional[Callable[[np.ndarray], None]] = None
                 ) -> None:
        super().__init__(daemon=True)
        self.source = source
        self.ring: deque = deque(maxlen=size)
        self.lock = threading.Lock()
        self.on_frame = on_frame
        self.frames_read = 0
        self.finished = threading.Event()
        self.stopping = threading.Event()
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                item = self.source.read()
                if item is None:
                    break
                with self.lock:
                    self.ring.append(item)
                    self.frames_read += 1
                if self.on_frame is not None:
                    self.on_frame(item[1])
        except BaseException as e:  # noqa: BLE001 - re-raised by the caller
            self.error = e
        finally:
            self.finished.set()

    def snapshot(self) -> List[Tuple[float, np.ndarray]]:
        """The buffered ``(time stamp, frame)``, oldest first."""
        with self.lock:
            return list(self.ring)


@dataclass
class StreamReport:
    """What :func:`run_stream` achieved.

    Attributes:
        predictions (int): Predictions made.
        elapsed_s (float): Wall seconds from the start to the end.
        target_rate (float): The requested rate, Hz.
        frames_read (int): Frames the reader delivered.
        frames_dropped (int): Frames the source skipped to keep up.
        ticks_skipped (int): Prediction ticks missed because the model was
            still busy.
        clip_span_s (float): Seconds of frames one clip spans.
        lags (list[float]): Per prediction, seconds from the real time of
            the newest frame used to the prediction.
    """
    predictions: int
    elapsed_s: float
    target_rate: float
    frames_read: int
    frames_dropped: int
    ticks_skipped: int
    clip_span_s: float
    lags: List[float]

    @property
    def rate(self) -> float:
        """Achieved predictions per second, from the first prediction on."""
        return self.predictions / max(self.elapsed_s, 1e-9)

    @property
    def max_lag_s(self) -> float:
        """The largest lag (0 without predictions)."""
        return max(self.lags, default=0.0)

    def summary(self) -> str:
        """One line for humans."""
        mean = sum(self.lags) / len(self.lags) if self.lags else 0.0
        return (f'{self.predictions} predictions in {self.elapsed_s:.1f} s: '
                f'{self.rate:.2f} Hz (target {self.target_rate:g} Hz, '
                f'{self.ticks_skipped} ticks skipped); frames read '
                f'{self.frames_read}, dropped {self.frames_dropped}; lag '
                f'max {self.max_lag_s:.3f} s, mean {mean:.3f} s (clip span '
                f'{self.clip_span_s:.2f} s)')


def _warm_up(scorer: Scorer, pipeline: WindowPipeline,
             src: CaptureSource) -> None:
    """Score a black clip of the source's frame size once, so that the
    first prediction on the stream does not pay for the backend's lazy
    set-up (kernel selection, memory pools)."""
    import cv2
    w = int(src.capture.get(cv2.CAP_PROP_FRAME_WIDTH)) or 320
    h = int(src.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) or 240
    clip_len = int(getattr(pipeline.sampler, 'clip_len', 1))
    black = [np.zeros((h, w, 3), np.uint8)] * clip_len
    scorer([pipeline(black)])


def run_stream(scorer: Scorer,
               source: Union[str, int, CaptureSource],
               rate: float = 2.0,
               duration: Optional[float] = None,
               topk: int = 5,
               label_map: Optional[Union[str, Sequence[str]]] = None,
               on_prediction: Optional[Callable[[float, float, List],
                                                None]] = None,
               overlay: Optional[str] = None,
               threads: Optional[int] = None) -> StreamReport:
    """Recognise a live stream at a fixed rate, dropping frames rather than
    falling behind.

    A reader thread (:class:`StreamReader`) keeps the last clip span of
    frames. Every ``1 / rate`` seconds, once the buffer is full, the newest
    span is sampled as the config's sampler samples a video of that many
    frames, made into one clip (:class:`.WindowPipeline`) and scored. A tick
    the model was too busy for is skipped. The model scores one black clip
    before the stream is opened (its first call is slow).

    Args:
        scorer (TorchScorer or OnnxScorer): The model.
        source (str, int or CaptureSource): Camera index, URL or a video
            file (played at its native rate, :class:`PacedFileSource`).
        rate (float): Predictions per second. Defaults to 2.
        duration (float, optional): Stop after this many seconds; None runs
            until the source ends. Defaults to None.
        topk (int): Classes per prediction. Defaults to 5.
        label_map (str or Sequence[str], optional): As for
            :func:`.recognize_long`.
        on_prediction (callable, optional): Called with ``(stream time s,
            lag s, topk)`` after each prediction. Defaults to None.
        overlay (str, optional): Write the frames read, with the current
            top class drawn, to this video file (mp4v). Defaults to None.
        threads (int, optional): PyTorch threads while the stream runs
            (restored afterwards). On a machine with few cores leave one to
            the reader: OpenMP threads that wait for a busy core make every
            prediction many times slower. Defaults to None (unchanged).

    Returns:
        StreamReport: Rate, drops and lags.
    """
    import cv2
    if rate <= 0:
        raise ValueError(f'rate must be positive Hz, got {rate}')
    names = _names(label_map, scorer.num_classes)
    pipeline = WindowPipeline(scorer.cfg)
    src = source if isinstance(source, CaptureSource) else open_source(
        source)
    span = pipeline.span_frames(src.fps)
    current: List[str] = []
    writer = None

    def draw(frame: np.ndarray) -> None:
        nonlocal writer
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(overlay, cv2.VideoWriter_fourcc(*'mp4v'),
                                     src.fps, (w, h))
        writer.write(draw_label(frame.copy(), list(current)))

    threads_before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    reader = StreamReader(src, span, draw if overlay else None)
    lags: List[float] = []
    skipped = 0
    first: Optional[float] = None
    try:
        _warm_up(scorer, pipeline, src)
        start = time.monotonic()
        reader.start()
        next_tick = start
        while not reader.finished.is_set():
            now = time.monotonic()
            if duration is not None and now - start >= duration:
                break
            if now < next_tick:
                reader.finished.wait(next_tick - now)
                continue
            frames = reader.snapshot()
            if len(frames) < span:  # filling the first clip span
                next_tick = now + 0.5 / src.fps
                continue
            first = now if first is None else first
            inds = pipeline.frame_inds(
                Window(0, Fraction(0), Fraction(0), 0, len(frames)), src.fps)
            clip = [np.ascontiguousarray(frames[i][1][..., ::-1])
                    for i in inds.tolist()]
            probs = scorer([pipeline(clip, inds)])[0]
            top = _topk(probs, topk, names)
            done = time.monotonic()
            newest = frames[int(inds.max())][0]
            lags.append(done - newest)
            current[:] = [f'{s:.2f} {n}' for _, n, s in top[:1]]
            if on_prediction is not None:
                on_prediction(newest - start, done - newest, top)
            next_tick += 1.0 / rate
            if done > next_tick:  # busy: skip the missed ticks
                missed = math.floor((done - next_tick) * rate) + 1
                skipped += missed
                next_tick += missed / rate
        end = time.monotonic()
    finally:
        torch.set_num_threads(threads_before)
        reader.stopping.set()
        if reader.is_alive():
            reader.join(timeout=10)
        src.release()
        if writer is not None:
            writer.release()
    if reader.error is not None:
        raise reader.error
    return StreamReport(
        predictions=len(lags),
        elapsed_s=(end - first) if first is not None else 0.0,
        target_rate=float(rate), frames_read=reader.frames_read,
        frames_dropped=src.dropped, ticks_skipped=skipped,
        clip_span_s=span / src.fps, lags=lags)
