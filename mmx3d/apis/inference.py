# Copyright (c) mmx3d contributors. All rights reserved.
"""Recognise the actions in a video file.

Thin layer over MMAction2's ``init_recognizer`` / ``inference_recognizer``
that adds what they lack for X3D: checkpoints in any format
:mod:`mmx3d.converters` reads, the number of views (clips) as an argument,
the Kinetics-400 label map shipped with the package, and a clear error for a
video that cannot be read.

Example::

    >>> from mmx3d.apis import init_recognizer, recognize
    >>> model = init_recognizer('configs/x3d/x3d_s_kinetics400.py',
    ...                         'x3d_s.pyth', device='cpu')
    >>> recognize(model, 'demo.mp4', views=3)
    [('abseiling', 0.91), ...]
"""
import contextlib
import copy
import os
import os.path as osp
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmaction.apis import inference_recognizer as _mmaction_inference
from mmaction.apis import init_recognizer as _mmaction_init
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from .runner import load_config, set_test_views

#: The 400 Kinetics-400 class names in MMAction2's ``label_map_k400.txt``
#: order (alphabetical), i.e. the class indices of every K400 checkpoint.
KINETICS400_LABEL_MAP = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'datasets',
    'label_maps', 'kinetics400.txt')


class VideoReadError(RuntimeError):
    """A video file is missing or cannot be decoded."""

    def __init__(self, path: str, reason: str) -> None:
        reason = ' '.join(str(reason).strip().splitlines()[:1])[:200]
        super().__init__(f'cannot read video {path!r}: {reason}')
        self.path = path


def read_label_map(path: Optional[str] = None) -> List[str]:
    """Class names, one per line: line ``i`` (blank lines skipped) is the
    name of class ``i``; the whole stripped line is the name.

    Args:
        path (str, optional): The file; None reads the Kinetics-400 map.

    Returns:
        list[str]: Names in class-index order.
    """
    path = path or KINETICS400_LABEL_MAP
    if not osp.isfile(path):
        raise FileNotFoundError(f'label map {path!r} does not exist')
    with open(path, encoding='utf-8') as f:
        names = [line.strip() for line in f if line.strip()]
    return names


def init_recognizer(config: Union[str, Path, Config],
                    checkpoint: Optional[str] = None,
                    device: Union[str, torch.device] = 'cpu',
                    cfg_options: Optional[dict] = None,
                    fuse: bool = False) -> nn.Module:
    """Build a recognizer from a config and load any X3D checkpoint format.

    Args:
        config (str, Path or Config): The config.
        checkpoint (str, optional): mmx3d, PySlowFast, PyTorchVideo or
            MMAction2 checkpoint; it must fit the model exactly. None keeps
            random weights. Defaults to None.
        device (str or torch.device): Defaults to ``'cpu'``.
        cfg_options (dict, optional): Config overrides (``key.sub=value``).
        fuse (bool): Fold BN into the convolutions
            (:func:`mmx3d.models.utils.fuse_bn`): the same scores, faster;
            the model can then not be trained. Defaults to False.

    Returns:
        nn.Module: The model in eval mode, with its config as ``model.cfg``.
    """
    from mmx3d.converters import load_x3d_checkpoint
    from mmx3d.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    config = load_config(config, cfg_options)
    model = _mmaction_init(config, None, device='cpu')
    if checkpoint is not None:
        load_x3d_checkpoint(model, checkpoint)
    if fuse:
        from mmx3d.models.utils.fuse_bn import fuse_bn
        fuse_bn(model)
    return model.to(device).eval()


def build_test_pipeline(cfg: Config, views: Optional[int] = None) -> Compose:
    """The config's test pipeline, with ``views`` clips per video.

    Args:
        cfg (Config): The model's config (``model.cfg``).
        views (int, optional): ``SampleFrames.num_clips``; None keeps the
            config's. Defaults to None.

    Returns:
        Compose: The pipeline.
    """
    init_default_scope(cfg.get('default_scope', 'mmx3d'))
    steps = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    steps = copy.deepcopy(list(steps))
    if views is not None:
        set_test_views(steps, views)
    return Compose(steps)


def check_video(path: str) -> None:
    """Raise :class:`VideoReadError` unless ``path`` is a decodable video.

    Args:
        path (str): The file.
    """
    if not osp.isfile(path):
        raise VideoReadError(path, 'no such file')
    try:
        import decord
    except ImportError:  # pragma: no cover - the pipeline will tell
        return
    try:
        with _native_stderr_silenced():  # FFmpeg's own complaints
            reader = decord.VideoReader(path, num_threads=1)
            if len(reader) == 0:
                raise VideoReadError(path, 'no frames')
            reader.get_batch([0])
    except VideoReadError:
        raise
    except Exception as e:  # noqa: BLE001 - decord's errors vary
        raise VideoReadError(path, e) from None


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 (written by C libraries) to /dev/null."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture etc.
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def inference_recognizer(model: nn.Module,
                         video: str,
                         views: Optional[int] = None) -> ActionDataSample:
    """Run the test pipeline and the model on one video.

    Args:
        model (nn.Module): From :func:`init_recognizer`.
        video (str): The video file.
        views (int, optional): Clips per video (see
            :func:`build_test_pipeline`). Defaults to None.

    Returns:
        ActionDataSample: ``pred_score`` holds the class probabilities,
        averaged over the views (the head's ``average_clips``).

    Raises:
        VideoReadError: If the video is missing or cannot be decoded.
    """
    check_video(video)
    pipeline = build_test_pipeline(model.cfg, views)

    def guarded(results: dict) -> dict:
        try:
            return pipeline(results)
        except Exception as e:  # noqa: BLE001 - a decode error mid-file
            raise VideoReadError(video, f'{type(e).__name__}: {e}') from e

    data = dict(filename=video, label=-1, start_index=0, modality='RGB')
    return _mmaction_inference(model, data, guarded)


def recognize(model: nn.Module,
              video: str,
              views: Optional[int] = None,
              topk: int = 5,
              label_map: Optional[Union[str, Sequence[str]]] = None
              ) -> List[Tuple[str, float]]:
    """The ``topk`` classes of a video with their probabilities.

    Args:
        model (nn.Module): From :func:`init_recognizer`.
        video (str): The video file.
        views (int, optional): Clips per video. Defaults to the config's.
        topk (int): How many classes. Defaults to 5.
        label_map (str or Sequence[str], optional): A label-map file or the
            names; None uses Kinetics-400. Defaults to None.

    Returns:
        list[tuple[str, float]]: ``(name, probability)``, most probable
        first.

    Raises:
        ValueError: If the label map does not have one name per class.
        VideoReadError: If the video is missing or cannot be decoded.
    """
    result = inference_recognizer(model, video, views)
    return _top_classes(result.pred_score.detach().float().cpu(), topk,
                        label_map)


def _top_classes(scores: torch.Tensor, topk: int,
                 label_map: Optional[Union[str, Sequence[str]]]
                 ) -> List[Tuple[str, float]]:
    """``(name, probability)`` of the ``topk`` classes of ``scores``."""
    names = (read_label_map(label_map) if label_map is None
             or isinstance(label_map, str) else list(label_map))
    if len(names) != scores.numel():
        source = label_map if isinstance(label_map, str) else (
            KINETICS400_LABEL_MAP if label_map is None else 'label_map')
        raise ValueError(f'label map {source!r} has {len(names)} names but '
                         f'the model predicts {scores.numel()} classes; '
                         'pass the label map of its dataset')
    probs, idx = scores.topk(min(topk, scores.numel()))
    return [(names[i], float(p)) for p, i in zip(probs.tolist(),
                                                  idx.tolist())]


def recognize_onnx(onnx_file: str,
                   config: Union[str, Path, Config],
                   video: str,
                   views: Optional[int] = None,
                   topk: int = 5,
                   label_map: Optional[Union[str, Sequence[str]]] = None
                   ) -> List[Tuple[str, float]]:
    """:func:`recognize` with ONNX Runtime instead of PyTorch.

    The config's test pipeline makes the views, the exported model
    (:func:`mmx3d.apis.deploy.export_onnx`, same config) scores them and
    the probabilities are averaged over the views.

    Args:
        onnx_file (str): The exported model.
        config (str, Path or Config): The config it was exported from.
        video (str): The video file.
        views (int, optional): Clips per video. Defaults to the config's.
        topk (int): How many classes. Defaults to 5.
        label_map (str or Sequence[str], optional): As for
            :func:`recognize`.

    Returns:
        list[tuple[str, float]]: ``(name, probability)``, most probable
        first.

    Raises:
        ValueError: If the exported clip shape is not the pipeline's.
        VideoReadError: If the video is missing or cannot be decoded.
    """
    from .deploy import OnnxRecognizer
    config = load_config(config)
    check_video(video)
    pipeline = build_test_pipeline(config, views)
    try:
        clips = pipeline(dict(filename=video, label=-1, start_index=0,
                              modality='RGB'))['inputs']
    except Exception as e:  # noqa: BLE001 - a decode error mid-file
        raise VideoReadError(video, f'{type(e).__name__}: {e}') from e
    runner = OnnxRecognizer(onnx_file)
    exported = list(runner.meta.get('clip_shape', []))
    if exported and exported != list(clips.shape[-3:]):
        raise ValueError(f'{onnx_file} was exported for clips {exported} '
                         f'(T, H, W); the test pipeline of the config makes '
                         f'{list(clips.shape[-3:])}')
    probs = runner.probs(runner.normalize(clips.numpy()),
                         views=clips.shape[0])[0]
    return _top_classes(torch.from_numpy(probs).float(), topk, label_map)


__all__ = [
    'KINETICS400_LABEL_MAP', 'VideoReadError', 'read_label_map',
    'init_recognizer', 'build_test_pipeline', 'check_video',
    'inference_recognizer', 'recognize', 'recognize_onnx'
]
