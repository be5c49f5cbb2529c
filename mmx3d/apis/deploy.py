# Copyright (c) mmx3d contributors. All rights reserved.
"""Export an X3D recognizer to ONNX and run the exported file.

What the exported graph computes::

    clips (N,3,T,H,W) float32, already normalised ─ backbone (BN folded)
        ─ X3DClsHead ─ [softmax | exp] ─> scores (N, num_classes)

``N`` is dynamic and counts clips (videos x views): averaging the views
of a video, as ``average_clips='prob'`` does in MMAction2, is left to the
caller (:meth:`OnnxRecognizer.probs` does it given ``views``). The input is
normalised like the config's data preprocessor does it: RGB frames in
[0, 255], ``(x - mean) / std`` per channel. The mean, std and the other
facts a caller needs are stored in the ONNX file's metadata
(:data:`METADATA_KEYS`).

With ``output='probs'`` the graph ends with class probabilities. With
``output='logits'`` it ends with what :class:`X3DClsHead` returns: logits,
or, in its fully convolutional test mode (a test crop larger than
``train_crop_size``), the log of the position-averaged probabilities; the
metadata key ``scores`` says which (``'logits'`` or ``'log_probs'``).

:func:`export_onnx` always checks the file with ONNX Runtime against the
PyTorch recognizer *before* BN folding (:func:`check_onnx`), so a wrong
folding or a wrong export both fail the export. ``onnx`` and
``onnxruntime`` are optional dependencies (``pip install mmx3d[deploy]``).
"""
import copy
import json
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config

#: Keys of the metadata written into every exported file.
METADATA_KEYS = ('mmx3d_version', 'config', 'checkpoint', 'input_layout',
                 'clip_shape', 'mean', 'std', 'color_order', 'output',
                 'scores', 'num_classes', 'views')

INSTALL_HINT = ('pip install mmx3d[deploy] (or, in a source checkout, '
                'pip install -r requirements/deploy.txt)')


class DeployDependencyError(ImportError):
    """``onnx`` or ``onnxruntime`` is not installed."""


class OnnxCheckError(RuntimeError):
    """ONNX Runtime's output differs from PyTorch's beyond the tolerance."""


def _import(name: str):
    try:
        return __import__(name)
    except ImportError as e:
        raise DeployDependencyError(
            f'ONNX export needs the {name!r} package, which is not '
            f'installed ({e}); install it with: {INSTALL_HINT}') from e


class ClipClassifier(nn.Module):
    """Backbone + X3D head of a recognizer, on normalised clips.

    Adds to the recognizer what a deployed graph needs: a plain tensor in and
    out (no data samples, no data preprocessor, no view averaging) and the
    final softmax.

    Args:
        recognizer (nn.Module): An MMAction2 ``Recognizer3D`` with an
            ``X3DClsHead`` (its modules are shared, not copied).
        output (str): ``'probs'`` (class probabilities) or ``'logits'``
            (the head's output as is). Defaults to ``'probs'``.
    """

    def __init__(self, recognizer: nn.Module, output: str = 'probs') -> None:
        super().__init__()
        if output not in ('probs', 'logits'):
            raise ValueError(f"output must be 'probs' or 'logits', got "
                             f'{output!r}')
        self.backbone = recognizer.backbone
        self.cls_head = recognizer.cls_head
        self.output = output

    def head_returns_log_probs(self, feats: torch.Tensor) -> bool:
        """Whether the head is in its fully convolutional test mode for
        these res5 features (it then returns log-probabilities)."""
        return self.cls_head._train_kernel(feats) is not None

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Scores of a batch of clips.

        Args:
            clips (Tensor): Normalised clips (N, 3, T, H, W).

        Returns:
            Tensor: (N, num_classes) probabilities or head scores.
        """
        feats = self.backbone(clips)
        scores = self.cls_head(feats)
        if self.output == 'logits':
            return scores
        if self.head_returns_log_probs(feats):
            return scores.exp()
        return scores.softmax(-1)


def scores_kind(model: ClipClassifier, shape: Sequence[int]) -> str:
    """``'log_probs'`` if the head of ``model`` scores clips of
    ``shape = (T, H, W)`` fully convolutionally, else ``'logits'``."""
    with torch.no_grad():
        feats = model.backbone(torch.zeros(1, 3, *shape))
    return 'log_probs' if model.head_returns_log_probs(feats) else 'logits'


def to_probs(scores: np.ndarray, output: str, kind: str) -> np.ndarray:
    """Class probabilities from an exported model's output.

    Args:
        scores (np.ndarray): (N, num_classes) output.
        output (str): The model's ``output`` (``'probs'``/``'logits'``).
        kind (str): Its ``scores`` metadata (``'logits'``/``'log_probs'``).

    Returns:
        np.ndarray: (N, num_classes) probabilities, in float64.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if output == 'probs':
        return scores
    if kind == 'log_probs':
        return np.exp(scores)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def normalization_from_cfg(cfg: Config) -> Tuple[list, list]:
    """The per-channel ``(mean, std)`` of a config's data preprocessor, in
    [0, 255] units, as lists of floats."""
    pre = cfg.model.get('data_preprocessor') or {}
    if 'mean' not in pre or 'std' not in pre:
        raise ValueError('the config has no model.data_preprocessor mean/std '
                         'to document the input normalisation')
    if pre.get('to_rgb') or pre.get('bgr_to_rgb'):
        raise ValueError('model.data_preprocessor swaps colour channels; the '
                         'exported graph expects RGB and does not')
    return [float(v) for v in pre['mean']], [float(v) for v in pre['std']]


class OnnxRecognizer:
    """Run an exported file with ONNX Runtime on batches of clips.

    Args:
        path (str): The ``.onnx`` file written by :func:`export_onnx`.
        num_threads (int): ONNX Runtime intra-op threads; 0 lets it choose.
            Defaults to 0.
        allow_spinning (bool): Let ONNX Runtime's idle threads spin (busy
            wait) for the next call. Off by default: spinning threads take
            the cores from whatever runs next (the video decoder of the
            demos, the next implementation in ``benchmark.py``).
            Defaults to False.

    Attributes:
        meta (dict): The file's metadata (:data:`METADATA_KEYS`), with
            ``mean``, ``std``, ``clip_shape`` decoded from JSON.
    """

    def __init__(self, path: str, num_threads: int = 0,
                 allow_spinning: bool = False) -> None:
        ort = _import('onnxruntime')
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.add_session_config_entry('session.intra_op.allow_spinning',
                                      '1' if allow_spinning else '0')
        self.session = ort.InferenceSession(
            str(path), opts, providers=['CPUExecutionProvider'])
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        for key in ('mean', 'std', 'clip_shape'):
            if key in meta:
                meta[key] = json.loads(meta[key])
        self.meta = meta
        self.input_name = self.session.get_inputs()[0].name

    def normalize(self, frames: np.ndarray) -> np.ndarray:
        """``(frames - mean) / std`` per channel, as float32.

        Args:
            frames (np.ndarray): RGB clips (N, 3, T, H, W) in [0, 255].
        """
        shape = (1, -1, 1, 1, 1)
        mean = np.asarray(self.meta['mean'], np.float32).reshape(shape)
        std = np.asarray(self.meta['std'], np.float32).reshape(shape)
        return ((np.asarray(frames, np.float32) - mean) / std).astype(
            np.float32)

    def __call__(self, clips: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
        """The graph's output for normalised clips (N, 3, T, H, W)."""
        if isinstance(clips, torch.Tensor):
            clips = clips.detach().cpu().numpy()
        clips = np.ascontiguousarray(clips, dtype=np.float32)
        return self.session.run(None, {self.input_name: clips})[0]

    def probs(self, clips: Union[np.ndarray, torch.Tensor],
              views: int = 1) -> np.ndarray:
        """Class probabilities, averaged over each video's ``views``.

        Args:
            clips (np.ndarray or Tensor): Normalised clips
                (videos x views, 3, T, H, W), views of a video adjacent.
            views (int): Clips per video. Defaults to 1.

        Returns:
            np.ndarray: (videos, num_classes) probabilities (float64).
        """
        p = to_probs(self(clips), self.meta.get('output', 'probs'),
                     self.meta.get('scores', 'logits'))
        if p.shape[0] % views:
            raise ValueError(f'{p.shape[0]} clips are not a multiple of '
                             f'views={views}')
        return p.reshape(-1, views, p.shape[-1]).mean(1)


@torch.no_grad()
def check_onnx(path: str, reference: ClipClassifier,
               clips: torch.Tensor, atol: float = 1e-4) -> float:
    """Compare ONNX Runtime with a PyTorch model on ``clips``.

    Both outputs are turned into probabilities (:func:`to_probs`) and
    compared in float64. ONNX Runtime uses as many threads as PyTorch.

    Args:
        path (str): The ``.onnx`` file.
        reference (ClipClassifier): The PyTorch model to match (eval mode);
            its ``output`` may differ from the file's.
        clips (Tensor): Normalised clips (N, 3, T, H, W).
        atol (float): Largest allowed absolute difference of any
            probability. Defaults to 1e-4.

    Returns:
        float: The largest absolute difference.

    Raises:
        OnnxCheckError: If it exceeds ``atol``, the shapes differ or ONNX
            Runtime cannot run the batch.
    """
    runner = OnnxRecognizer(path, num_threads=torch.get_num_threads())
    try:
        got = runner.probs(clips)
    except Exception as e:  # ORT's own exception types
        raise OnnxCheckError(f'{path}: ONNX Runtime failed on a clip batch of '
                             f'shape {tuple(clips.shape)}: {e}') from e
    kind = scores_kind(reference, clips.shape[2:])
    want = to_probs(reference(clips).float().numpy(), reference.output, kind)
    if got.shape != want.shape:
        raise OnnxCheckError(f'{path}: ONNX Runtime output shape {got.shape},'
                             f' PyTorch {want.shape}')
    diff = float(np.abs(got - want).max())
    if not diff <= atol:
        raise OnnxCheckError(
            f'{path}: ONNX Runtime probabilities differ from PyTorch by '
            f'{diff:.3g} (max abs) on a random clip batch of shape '
            f'{tuple(clips.shape)}; allowed: {atol:g}')
    return diff


def _plain_layout(model: nn.Module) -> nn.Module:
    """Switch a model from channels-last-3D to the contiguous layout, in
    place: the TorchScript ONNX exporter cannot trace
    ``contiguous(memory_format=...)``, and ONNX has no layouts anyway."""
    for module in model.modules():
        if getattr(module, 'channels_last', False):
            module.channels_last = False
    for param in model.parameters():
        param.data = param.data.contiguous()
    return model


def _freeze_head_kernel(model: ClipClassifier, shape: Sequence[int]) -> str:
    """Fix the head's fully convolutional pooling kernel for clips of
    ``shape``, on this head instance only; return :func:`scores_kind`.

    :class:`X3DClsHead` computes the kernel from the feature map's shape,
    which the ONNX tracer records as a graph value; ONNX's ``AveragePool``
    needs it constant. The clip shape is fixed at export, so is the kernel.
    """
    head = model.cls_head
    with torch.no_grad():
        kernel = head._train_kernel(model.backbone(torch.zeros(1, 3, *shape)))
    head._train_kernel = lambda feats: kernel
    return 'logits' if kernel is None else 'log_probs'


def export_onnx(config: Union[str, Path, Config, nn.Module],
                checkpoint: Optional[str] = None,
                out: str = 'x3d.onnx',
                output: str = 'probs',
                shape: Optional[Sequence[int]] = None,
                opset: int = 17,
                check_batch: int = 2,
                atol: float = 1e-4,
                fuse: bool = True,
                seed: int = 0) -> Dict:
    """Export a recognizer to ONNX (BN folded) and check it.

    Args:
        config (str, Path, Config or nn.Module): The model's config, or a
            recognizer built by :func:`~mmx3d.apis.init_recognizer` (with
            its ``cfg``; it is put in eval mode, not otherwise changed).
        checkpoint (str, optional): Any checkpoint format
            :func:`~mmx3d.apis.init_recognizer` loads; None exports random
            weights (or the given recognizer's). Defaults to None.
        out (str): The ``.onnx`` file to write. Defaults to ``'x3d.onnx'``.
        output (str): ``'probs'`` or ``'logits'`` (see the module docstring).
            Defaults to ``'probs'``.
        shape (Sequence[int], optional): The clip ``(T, H, W)``; None takes
            the config's test clip shape. Defaults to None.
        opset (int): ONNX opset. Defaults to 17.
        check_batch (int): Clips in the random batch of the check (traced
            with 1, so a value above 1 also checks the dynamic batch axis).
            Defaults to 2.
        atol (float): Tolerance of the check. Defaults to 1e-4.
        fuse (bool): Fold the BNs before export. Defaults to True.
        seed (int): Seed of the random check batch. Defaults to 0.

    Returns:
        dict: The metadata written into the file (strings), and ``path``,
        ``max_abs_diff`` (of the check), ``shape`` (T, H, W), ``mean`` and
        ``std`` (lists of floats).

    Raises:
        DeployDependencyError: If onnx or onnxruntime is missing.
        OnnxCheckError: If the check fails (the file is kept for
            inspection).
    """
    from mmx3d import __version__
    from mmx3d.models.utils.fuse_bn import fuse_bn
    from mmx3d.utils.complexity import clip_shape_from_cfg

    from .inference import init_recognizer
    onnx = _import('onnx')
    _import('onnxruntime')
    if isinstance(config, nn.Module):
        if checkpoint is not None:
            raise ValueError('pass a checkpoint with a config, not with a '
                             'built recognizer')
        recognizer = config.eval()
    else:
        recognizer = init_recognizer(config, checkpoint, device='cpu')
    cfg = recognizer.cfg
    shape = tuple(int(s) for s in (shape or clip_shape_from_cfg(cfg, 'test')))
    if len(shape) != 3:
        raise ValueError(f'shape must be (T, H, W), got {shape}')
    mean, std = normalization_from_cfg(cfg)
    reference = ClipClassifier(recognizer, output).eval()
    deployed = _plain_layout(copy.deepcopy(recognizer))
    if fuse:
        fuse_bn(deployed)
    model = ClipClassifier(deployed, output).eval()
    kind = _freeze_head_kernel(model, shape)

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            model, (torch.zeros(1, 3, *shape), ),
            str(out),
            input_names=['clips'],
            output_names=[output],
            dynamic_axes={'clips': {0: 'N'}, output: {0: 'N'}},
            opset_version=opset,
            dynamo=False)
    meta = dict(
        mmx3d_version=__version__,
        config=str(getattr(cfg, 'filename', None) or ''),
        checkpoint=str(checkpoint) if checkpoint else 'random init',
        input_layout='N,3,T,H,W float32; N = videos x views (dynamic)',
        clip_shape=json.dumps(list(shape)),
        mean=json.dumps(mean),
        std=json.dumps(std),
        color_order='RGB, [0, 255] before (x - mean) / std',
        output=output,
        scores=kind if output == 'logits' else 'probs',
        num_classes=str(recognizer.cls_head.num_classes),
        views='not averaged: the caller averages the probabilities of a '
        "video's views")
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(out))

    gen = torch.Generator().manual_seed(seed)
    clips = torch.randn(check_batch, 3, *shape, generator=gen)
    diff = check_onnx(out, reference, clips, atol)
    return dict(meta, path=str(out), max_abs_diff=diff, shape=shape,
                mean=mean, std=std)


__all__ = [
    'ClipClassifier', 'OnnxRecognizer', 'export_onnx', 'check_onnx',
    'normalization_from_cfg', 'to_probs', 'scores_kind', 'OnnxCheckError',
    'DeployDependencyError', 'METADATA_KEYS', 'INSTALL_HINT'
]
