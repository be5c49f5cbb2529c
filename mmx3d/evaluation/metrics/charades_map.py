# Copyright (c) mmx3d contributors. All rights reserved.
"""Charades video-level mAP."""
import csv
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmx3d.registry import METRICS
from mmx3d.structures import to_multi_hot


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Non-interpolated average precision of one class.

    ``AP = sum_n (R_n - R_{n-1}) * P_n`` over the distinct score thresholds
    in decreasing order (tied scores form one threshold), which is
    scikit-learn's ``average_precision_score``.

    Args:
        scores (np.ndarray): Scores (N,).
        labels (np.ndarray): Binary ground truth (N,).

    Returns:
        float: AP in [0, 1]; NaN when there is no positive.
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1) > 0
    num_pos = labels.sum()
    if num_pos == 0:
        return float('nan')
    order = np.argsort(-scores, kind='mergesort')
    scores, labels = scores[order], labels[order]
    tp = np.cumsum(labels)
    # the last position of each run of equal scores is one threshold
    last = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tp = tp[last]
    precision = tp / (last + 1)
    recall = tp / num_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(scores: np.ndarray,
                           labels: np.ndarray) -> Tuple[float, np.ndarray]:
    """mAP over the classes that have at least one positive.

    Args:
        scores (np.ndarray): Scores (N, C).
        labels (np.ndarray): Multi-hot ground truth (N, C).

    Returns:
        tuple: mAP (NaN if no class has a positive) and the per-class APs
        (C,), NaN for classes without positives.
    """
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 2:
        raise ValueError(f'scores {scores.shape} and labels {labels.shape} '
                         'must both be (num_videos, num_classes)')
    aps = np.array([
        average_precision(scores[:, c], labels[:, c])
        for c in range(scores.shape[1])
    ])
    valid = ~np.isnan(aps)
    mean = float(aps[valid].mean()) if valid.any() else float('nan')
    return mean, aps


@METRICS.register_module()
class CharadesMAP(BaseMetric):
    """Charades mAP: mean over classes with a positive of the AP.

    The AP of a class is the non-interpolated average precision of its
    video-level scores (``pred_score``, e.g. max-pooled sigmoid
    probabilities of :class:`X3DMultiLabelHead`) against the video-level
    multi-hot targets (``gt_label``); classes without any positive in the
    evaluated set are skipped. Reported as a fraction in [0, 1] (the
    literature quotes percent: X3D-XL 47.1).

    Results: ``charades/mAP`` and ``charades/num_classes_evaluated`` (the
    prefix is ``prefix`` or ``'charades'``). The per-class APs are
    written to ``<out_dir>/<file_name>`` as CSV
    (``class_index,class_name,num_positives,ap``; ``nan`` for skipped
    classes). Without ``out_dir`` the file goes next to the run's log file
    (``<work_dir>/<timestamp>/``); outside a Runner (no log file) it is not
    written.

    What it adds to MMAction2's ``mean_average_precision``: ties are handled
    as one threshold (exactly scikit-learn), the evaluated-class count, the
    per-class file, and multi-hot or index ground truth.

    Args:
        out_dir (str, optional): Directory of the per-class file.
            Defaults to None.
        file_name (str): Name of the per-class file.
            Defaults to ``'charades_per_class_ap.csv'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            None, i.e. ``'charades'``.
    """

    default_prefix: Optional[str] = 'charades'

    def __init__(self,
                 out_dir: Optional[str] = None,
                 file_name: str = 'charades_per_class_ap.csv',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_dir = out_dir
        self.file_name = file_name

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep the (score, multi-hot target) of each video."""
        for sample in data_samples:
            get = sample.get if isinstance(sample, dict) else (
                lambda k, s=sample: getattr(s, k))
            score = torch.as_tensor(get('pred_score')).detach().float()
            label = to_multi_hot(get('gt_label'), score.numel())
            self.results.append(
                (score.cpu().numpy(), label.cpu().numpy().astype(np.uint8)))

    def compute_metrics(self, results: List[Tuple]) -> Dict[str, float]:
        """mAP, the number of evaluated classes, and the per-class file."""
        scores = np.stack([r[0] for r in results])
        labels = np.stack([r[1] for r in results])
        mean, aps = mean_average_precision(scores, labels)
        num_eval = int((~np.isnan(aps)).sum())
        print_log(
            f'Charades mAP {mean:.4f} over {num_eval} of {aps.size} classes '
            f'(classes without positives are skipped), {len(results)} '
            'videos', logger='current')
        path = self._per_class_path()
        if path is not None:
            self._write(path, aps, labels.sum(axis=0))
        return {'mAP': mean, 'num_classes_evaluated': num_eval}

    def _per_class_path(self) -> Optional[str]:
        out_dir = self.out_dir
        if out_dir is None:
            log_file = MMLogger.get_current_instance().log_file
            if not log_file:
                return None
            out_dir = osp.dirname(log_file)
        os.makedirs(out_dir, exist_ok=True)
        return osp.join(out_dir, self.file_name)

    def _write(self, path: str, aps: np.ndarray, positives: np.ndarray):
        names = (self.dataset_meta or {}).get('classes') or ()
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(
                ['class_index', 'class_name', 'num_positives', 'ap'])
            for c, ap in enumerate(aps):
                name = names[c] if c < len(names) else f'c{c:03d}'
                writer.writerow([c, name, int(positives[c]), f'{ap:.6f}'])
        print_log(f'per-class AP written to {path}', logger='current')
