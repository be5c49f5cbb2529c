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
import bisect
import csv
import json
import math
import os.path as osp
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import (
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from .inference import VideoReadError, check_video, read_label_map

#: Test-pipeline steps that make several spatial views; a window is scored
#: with one view, their middle crop (``CenterCrop`` of the same size).
MULTI_CROP_STEPS = ('ThreeCrop', 'TenCrop')

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


class VideoFrameReader:
    """Decode a video file frame by frame, in order (decord).

    Frames that no clip needs are skipped; nothing is decoded twice and
    only the current frame is held.

    Args:
        path (str): The video file.

    Attributes:
        num_frames (int): Frames in the file.
        fps (Fraction): Its frame rate (:func:`exact_fps`).
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


class TorchScorer:
    """Class probabilities of clips with a PyTorch recognizer.

    Args:
        model (nn.Module): From :func:`~mmx3d.apis.init_recognizer` (with
            ``model.cfg``); BN folded or not.
    """
    backend = 'pytorch'

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        self.cfg = model.cfg
        self.num_classes = int(model.cls_head.num_classes)

    @torch.no_grad()
    def __call__(self, packed: Sequence[Dict]) -> np.ndarray:
        """(len(packed), num_classes) probabilities (float64) of packed
        clips (:class:`WindowPipeline` outputs), one batch."""
        out = self.model.test_step(pseudo_collate(list(packed)))
        return torch.stack([d.pred_score.detach().float().cpu()
                            for d in out]).double().numpy()


class OnnxScorer:
    """Class probabilities of clips with ONNX Runtime.

    Args:
        onnx_file (str): A model from :func:`~mmx3d.apis.deploy.export_onnx`
            at the config's test clip shape.
        cfg (Config): The config it was exported from.
        num_threads (int): ONNX Runtime threads; 0 lets it choose.
            Defaults to 0.
    """
    backend = 'onnxruntime'

    def __init__(self, onnx_file: str, cfg: Config,
                 num_threads: int = 0) -> None:
        from .deploy import OnnxRecognizer
        self.runner = OnnxRecognizer(onnx_file, num_threads)
        self.cfg = cfg
        self.onnx_file = onnx_file
        self.num_classes = int(self.runner.meta.get(
            'num_classes', cfg.model.cls_head.num_classes))

    def __call__(self, packed: Sequence[Dict]) -> np.ndarray:
        """As :meth:`TorchScorer.__call__`."""
        clips = np.concatenate([p['inputs'].numpy() for p in packed])
        exported = list(self.runner.meta.get('clip_shape', []))
        if exported and exported != list(clips.shape[-3:]):
            raise ValueError(
                f'{self.onnx_file} was exported for clips {exported} (T, H,'
                f' W); the window pipeline of the config makes '
                f'{list(clips.shape[-3:])}')
        return self.runner.probs(self.runner.normalize(clips), views=1)


Scorer = Union[TorchScorer, OnnxScorer]


def load_scorer(config: Union[str, Path, Config], checkpoint: Optional[str],
                backend: str = 'pytorch', device: str = 'cpu',
                cfg_options: Optional[Dict] = None,
                threads: int = 0) -> Scorer:
    """A scorer from a config and a checkpoint (PyTorch, BN folded) or an
    exported ``.onnx`` file (ONNX Runtime).

    Args:
        config (str, Path or Config): The model's config.
        checkpoint (str, optional): Any format
            :func:`~mmx3d.apis.init_recognizer` reads, or the ``.onnx`` file
            with ``backend='onnxruntime'``.
        backend (str): ``'pytorch'`` or ``'onnxruntime'``. Defaults to
            ``'pytorch'``.
        device (str): PyTorch device. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Config overrides.
        threads (int): ONNX Runtime threads; 0 lets it choose (PyTorch's
            are the caller's ``torch.set_num_threads``). Defaults to 0.

    Returns:
        TorchScorer or OnnxScorer: The scorer.
    """
    from .inference import init_recognizer
    if backend == 'pytorch':
        return TorchScorer(init_recognizer(config, checkpoint, device,
                                           cfg_options, fuse=True))
    if backend != 'onnxruntime':
        raise ValueError(f"backend must be 'pytorch' or 'onnxruntime', got "
                         f'{backend!r}')
    if checkpoint is None or not osp.isfile(checkpoint):
        raise FileNotFoundError(f'ONNX file {checkpoint!r} does not exist')
    if not isinstance(config, Config):
        if not osp.isfile(str(config)):
            raise FileNotFoundError(f'config file {str(config)!r} does not '
                                    'exist')
        config = Config.fromfile(str(config))
    if cfg_options:
        config.merge_from_dict(cfg_options)
    return OnnxScorer(checkpoint, config, threads)


def _names(label_map: Optional[Union[str, Sequence[str]]],
           num_classes: int) -> List[str]:
    names = (read_label_map(label_map) if label_map is None
             or isinstance(label_map, str) else list(label_map))
    if len(names) != num_classes:
        source = label_map if isinstance(label_map, str) else (
            'Kinetics-400' if label_map is None else 'label_map')
        raise ValueError(f'label map {source!r} has {len(names)} names but '
                         f'the model predicts {num_classes} classes; pass '
                         'the label map of its dataset')
    return names


def _topk(probs: np.ndarray, k: int,
          names: Sequence[str]) -> List[Tuple[int, str, float]]:
    order = np.argsort(-probs, kind='stable')[:k]
    return [(int(i), names[i], float(probs[i])) for i in order]


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
        scorer (TorchScorer or OnnxScorer): The model (:func:`load_scorer`).
        video (str): The video file.
        window (int, float, str or Fraction, optional): Window length in
            seconds; None: one clip span of the config
            (:func:`clip_span_seconds`). Defaults to None.
        hop (int, float, str or Fraction, optional): Seconds between window
            starts; None: the window length. Defaults to None.
        topk (int): Classes kept per window. Defaults to 5.
        label_map (str or Sequence[str], optional): A label-map file or the
            names; None: Kinetics-400. Defaults to None.
        batch_size (int): Windows per model call. Defaults to 4.
        tail (bool): Cover the end with an end-aligned last window (see
            :func:`sliding_windows`). Defaults to True.
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


def _row(w: Window) -> Dict:
    return dict(index=w.index, start=float(w.start), end=float(w.end),
                start_frame=w.start_frame, end_frame=w.end_frame)


def write_csv(result: LongVideoResult, path: str) -> str:
    """One row per window: ``index, start, end`` (seconds, 6 decimals),
    ``start_frame, end_frame`` (end exclusive), then ``label_1, score_1,
    ... label_k, score_k``.

    Args:
        result (LongVideoResult): From :func:`recognize_long`.
        path (str): The CSV file.

    Returns:
        str: ``path``.
    """
    k = max((len(w.topk) for w in result.windows), default=0)
    header = ['index', 'start', 'end', 'start_frame', 'end_frame']
    for j in range(1, k + 1):
        header += [f'label_{j}', f'score_{j}']
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', newline='', encoding='utf-8') as f:
        out = csv.writer(f)
        out.writerow(header)
        for w in result.windows:
            row = [w.index, f'{float(w.start):.6f}', f'{float(w.end):.6f}',
                   w.start_frame, w.end_frame]
            for _, name, score in w.topk:
                row += [name, f'{score:.6f}']
            out.writerow(row)
    return path


def to_json(result: LongVideoResult) -> Dict:
    """The JSON document :func:`write_json` writes.

    Returns:
        dict: ``video, fps, num_frames, duration, window, hop, backend,
        wall_s, realtime_factor, max_frames_held`` and ``windows``: per
        window ``index, start, end, start_frame, end_frame, frame_inds``
        and ``topk`` (``class, label, score``).
    """
    return dict(
        video=result.video, fps=float(result.fps),
        num_frames=result.num_frames, duration=float(result.duration),
        window=float(result.window), hop=float(result.hop),
        backend=result.backend, wall_s=result.wall_s,
        realtime_factor=result.realtime_factor,
        max_frames_held=result.max_frames_held,
        windows=[
            dict(_row(w), frame_inds=w.frame_inds.tolist(),
                 topk=[dict(label=n, score=s, **{'class': c})
                       for c, n, s in w.topk]) for w in result.windows
        ])


def write_json(result: LongVideoResult, path: str) -> str:
    """Write :func:`to_json` of ``result`` to ``path``; return ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(to_json(result), f, indent=1)
    return path


def timeline_matrix(result: LongVideoResult, max_classes: int = 10
                    ) -> Tuple[List[str], np.ndarray]:
    """Classes to plot and their score per window.

    The classes are those in any window's top-k, the ``max_classes`` with
    the largest summed score, ordered by first top-1 appearance (then by
    summed score). A class outside a window's top-k scores 0 there.

    Returns:
        tuple[list[str], np.ndarray]: Names and a (classes, windows) matrix.
    """
    total: Dict[str, float] = {}
    for w in result.windows:
        for _, name, score in w.topk:
            total[name] = total.get(name, 0.0) + score
    keep = sorted(total, key=lambda n: -total[n])[:max_classes]
    first = {}
    for w in result.windows:
        if w.topk and w.topk[0][1] in keep:
            first.setdefault(w.topk[0][1], w.index)
    keep.sort(key=lambda n: (first.get(n, len(result.windows)), -total[n]))
    row = {n: r for r, n in enumerate(keep)}
    mat = np.zeros((len(keep), len(result.windows)))
    for w in result.windows:
        for _, name, score in w.topk:
            if name in row:
                mat[row[name], w.index] = score
    return keep, mat


def plot_timeline(result: LongVideoResult, path: str,
                  max_classes: int = 10, dpi: int = 80) -> str:
    """A PNG of classes against time: each window's top-k probabilities as
    a colour band over the window's hop around its centre, the top-1 class
    marked with a dot.

    Args:
        result (LongVideoResult): From :func:`recognize_long`.
        path (str): The PNG file.
        max_classes (int): Most classes (rows) shown. Defaults to 10.
        dpi (int): Resolution. Defaults to 80.

    Returns:
        str: ``path``.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    names, mat = timeline_matrix(result, max_classes)
    centers = np.array([float(w.center) for w in result.windows])
    edges = np.concatenate([[float(result.windows[0].start)],
                            (centers[1:] + centers[:-1]) / 2,
                            [float(result.windows[-1].end)]])
    fig = Figure(figsize=(8, 1.2 + 0.35 * max(len(names), 1)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    mesh = ax.pcolormesh(edges, np.arange(len(names) + 1) - 0.5, mat,
                         cmap=matplotlib.colormaps['Blues'], vmin=0, vmax=1)
    row = {n: r for r, n in enumerate(names)}
    top = [(c, row[w.topk[0][1]]) for c, w in zip(centers, result.windows)
           if w.topk and w.topk[0][1] in row]
    if top:
        xs, ys = zip(*top)
        ax.plot(xs, ys, 'o', color='tab:red', markersize=3, label='top-1')
        ax.legend(loc='lower right', bbox_to_anchor=(1, 1), fontsize=7,
                  frameon=False)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, float(result.duration))
    ax.set_xlabel('time (s)')
    ax.set_title(f'{osp.basename(result.video)}: window '
                 f'{float(result.window):g} s, hop {float(result.hop):g} s',
                 fontsize=9)
    fig.colorbar(mesh, ax=ax, label='probability', fraction=0.03)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def label_at(result: LongVideoResult, t: float) -> Optional[Window]:
    """The window whose centre is nearest to time ``t`` (seconds)."""
    if not result.windows:
        return None
    centers = [float(w.center) for w in result.windows]
    k = bisect.bisect_left(centers, t)
    near = [j for j in (k - 1, k) if 0 <= j < len(centers)]
    return result.windows[min(near, key=lambda j: abs(centers[j] - t))]


def draw_label(frame_bgr: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Draw text lines on a BGR frame, top left, in place (OpenCV).

    Returns:
        np.ndarray: ``frame_bgr``.
    """
    import cv2
    h = frame_bgr.shape[0]
    scale = max(0.35, h / 480.0)
    for j, text in enumerate(lines):
        y = int((j + 1) * 22 * scale) + 4
        cv2.putText(frame_bgr, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(frame_bgr, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return frame_bgr


def write_overlay_video(result: LongVideoResult, path: str,
                        lines: int = 1) -> str:
    """The video with the top class of the window nearest in time drawn on
    each frame (a second sequential pass over the file; mp4v, OpenCV).

    Args:
        result (LongVideoResult): From :func:`recognize_long`.
        path (str): The output file (``.mp4``).
        lines (int): Top classes drawn. Defaults to 1.

    Returns:
        str: ``path``.
    """
    import cv2
    reader = VideoFrameReader(result.video)
    writer = None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        for i, rgb in reader.read(range(reader.num_frames)):
            if writer is None:
                h, w = rgb.shape[:2]
                writer = cv2.VideoWriter(
                    path, cv2.VideoWriter_fourcc(*'mp4v'),
                    float(reader.fps), (w, h))
                if not writer.isOpened():
                    raise OSError(f'OpenCV cannot write {path!r}')
            win = label_at(result, float(i / reader.fps))
            text = [f'{s:.2f} {n}' for _, n, s in (win.topk if win else
                                                   [])[:lines]]
            writer.write(draw_label(np.ascontiguousarray(rgb[..., ::-1]),
                                    text))
    finally:
        if writer is not None:
            writer.release()
    return path


# ---------------------------------------------------------------- streams


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
    frames, made into one clip (:class:`WindowPipeline`) and scored. A tick
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
            :func:`recognize_long`.
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


__all__ = [
    'Window', 'WindowPipeline', 'VideoFrameReader', 'LongVideoResult',
    'TorchScorer', 'OnnxScorer', 'StreamReport', 'CaptureSource',
    'PacedFileSource', 'StreamReader', 'exact', 'exact_fps',
    'sliding_windows', 'window_clips', 'clip_span_seconds', 'load_scorer',
    'recognize_long', 'write_csv', 'write_json', 'to_json',
    'timeline_matrix', 'plot_timeline', 'label_at', 'draw_label',
    'write_overlay_video', 'open_source', 'run_stream'
]
