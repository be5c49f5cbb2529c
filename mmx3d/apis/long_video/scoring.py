# Copyright (c) mmx3d contributors. All rights reserved.
"""Class probabilities of packed clips with PyTorch or ONNX Runtime, and the
label-map and top-k helpers the long-video and stream modes share."""
import os.path as osp
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from ..inference import init_recognizer, read_label_map
from ..runner import load_config


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
        clips (:class:`.WindowPipeline` outputs), one batch."""
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
        from ..deploy import OnnxRecognizer
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
    if backend == 'pytorch':
        return TorchScorer(init_recognizer(config, checkpoint, device,
                                           cfg_options, fuse=True))
    if backend != 'onnxruntime':
        raise ValueError(f"backend must be 'pytorch' or 'onnxruntime', got "
                         f'{backend!r}')
    if checkpoint is None or not osp.isfile(checkpoint):
        raise FileNotFoundError(f'ONNX file {checkpoint!r} does not exist')
    config = load_config(config, cfg_options)
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
