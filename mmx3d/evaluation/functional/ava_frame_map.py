# Copyright (c) mmx3d contributors. All rights reserved.
"""The official AVA frame-level mAP, rule for rule.

This reimplements what ActivityNet's ``Evaluation/get_ava_performance.py``
(on TF object detection's ``PascalDetectionEvaluator``) computes, because
MMAction2 1.2.0's ``ava_eval`` deviates from it in three ways: it still
counts the ground truth of excluded keys, drops detections on key frames
without ground truth (instead of counting them as false positives) and has
no per-key cap. The rules, in order:

1. Rows whose action is not in the label map are dropped (ground truth
   and detections).
2. Detections: at most the ``max_dets_per_key`` (50) highest-scoring rows
   per ``video_id,timestamp`` key, all classes together; then each key's
   rows are sorted by descending score.
3. Excluded keys are skipped for ground truth **and** detections.
4. Detection boxes with ``y1 >= y2`` or ``x1 >= x2`` are dropped.
5. Per class and key, detections (in that order) are matched greedily: a
   detection's candidate is the ground-truth box of its class with the
   highest IoU (boxes ``[y1, x1, y2, x2]``, IoU without +1); it is a true
   positive if that IoU >= 0.5 and the box is not matched yet, otherwise
   a false positive (a second hit on a matched box is a false positive).
   Detections on keys without ground truth are all false positives.
6. Per class, detections of all keys are ranked by score; AP is the
   PASCAL VOC all-point interpolated AP (precision envelope summed over
   recall steps). Classes without ground truth get no AP; mAP is the mean
   over the others.

The precision/recall, AP and IoU functions are MMAction2's copies of the
TF object detection ones (verified faithful); the file readers (rules 1
and 2, and the exclusions of rule 3) are in :mod:`mmx3d.fileio.ava`; the
rest is here.
"""
from typing import Dict, Optional, Sequence, Set, Tuple

import numpy as np
from mmaction.evaluation.functional.ava_evaluation import metrics, np_box_ops

from mmx3d.fileio.ava import (
    Boxes,
    read_csv,
    read_exclusions,
    read_labelmap,
)

#: detections per key kept by the official evaluator
MAX_DETS_PER_KEY = 50


def tp_fp_single_class(det_boxes: np.ndarray, gt_boxes: np.ndarray,
                       iou_thr: float = 0.5) -> np.ndarray:
    """True/false positive flags of one class's detections on one key.

    Args:
        det_boxes (np.ndarray): (N, 4) ``[y1, x1, y2, x2]``, in the order
            to match (descending score).
        gt_boxes (np.ndarray): (M, 4) ground-truth boxes of the class.
        iou_thr (float): Matching IoU. Defaults to 0.5.

    Returns:
        np.ndarray: (N,) bool, True for true positives.
    """
    tp = np.zeros(len(det_boxes), dtype=bool)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return tp
    iou = np_box_ops.iou(det_boxes, gt_boxes)
    best = np.argmax(iou, axis=1)
    matched = np.zeros(len(gt_boxes), dtype=bool)
    for i, j in enumerate(best):
        if iou[i, j] >= iou_thr and not matched[j]:
            tp[i] = True
            matched[j] = True
    return tp


def frame_map(gt: Tuple[Boxes, Dict, Dict],
              det: Tuple[Boxes, Dict, Dict],
              categories: Sequence[dict],
              excluded_keys: Optional[Set[str]] = None,
              iou_thr: float = 0.5) -> dict:
    """Frame-level AP per class and their mean from parsed boxes.

    Args:
        gt (tuple): ``read_csv`` output of the ground truth.
        det (tuple): ``read_csv`` output of the detections (already capped
            per key).
        categories (Sequence[dict]): Label-map categories.
        excluded_keys (set[str], optional): Keys to skip entirely.
        iou_thr (float): Matching IoU. Defaults to 0.5.

    Returns:
        dict: ``mAP`` (nan if no class has ground truth), ``per_class``
        (list of ``(id, name, AP, num_gt)`` in label-map order; AP is nan
        for classes without ground truth), ``num_gt`` and ``num_det``
        (rows evaluated).
    """
    excluded_keys = excluded_keys or set()
    class_ids = [c['id'] for c in categories]
    gt_boxes, gt_labels, _ = gt
    det_boxes, det_labels, det_scores = det

    num_gt = {c: 0 for c in class_ids}
    gt_arrays = {}
    for key in gt_boxes:
        if key in excluded_keys:
            continue
        labels = np.asarray(gt_labels[key], dtype=int)
        gt_arrays[key] = (np.asarray(gt_boxes[key], dtype=float), labels)
        for c in labels:
            if c in num_gt:
                num_gt[c] += 1

    scores_per_class = {c: [] for c in class_ids}
    tp_per_class = {c: [] for c in class_ids}
    num_det = 0
    for key in det_boxes:
        if key in excluded_keys:
            continue
        boxes = np.asarray(det_boxes[key], dtype=float).reshape(-1, 4)
        labels = np.asarray(det_labels[key], dtype=int)
        scores = np.asarray(det_scores[key], dtype=float)
        valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
        boxes, labels, scores = boxes[valid], labels[valid], scores[valid]
        num_det += len(boxes)
        g_boxes, g_labels = gt_arrays.get(
            key, (np.zeros((0, 4)), np.zeros(0, dtype=int)))
        for c in class_ids:
            sel = labels == c
            if not sel.any():
                continue
            scores_per_class[c].append(scores[sel])
            tp_per_class[c].append(
                tp_fp_single_class(boxes[sel], g_boxes[g_labels == c],
                                   iou_thr))

    per_class = []
    for cat in categories:
        c = cat['id']
        if num_gt[c] == 0:
            per_class.append((c, cat['name'], float('nan'), 0))
            continue
        if scores_per_class[c]:
            scores = np.concatenate(scores_per_class[c])
            tp = np.concatenate(tp_per_class[c])
        else:
            scores, tp = np.zeros(0, dtype=float), np.zeros(0, dtype=bool)
        precision, recall = metrics.compute_precision_recall(
            scores, tp, num_gt[c])
        ap = float(metrics.compute_average_precision(precision, recall))
        per_class.append((c, cat['name'], ap, num_gt[c]))
    aps = [ap for _, _, ap, n in per_class if n > 0]
    return dict(
        mAP=float(np.mean(aps)) if aps else float('nan'),
        per_class=per_class,
        num_gt=sum(num_gt.values()),
        num_det=num_det)


def evaluate_frame_map(gt_file: str,
                       det_file: str,
                       label_file: str,
                       exclude_file: Optional[str] = None,
                       iou_thr: float = 0.5,
                       max_dets_per_key: int = MAX_DETS_PER_KEY) -> dict:
    """The official AVA frame-mAP of a detection CSV.

    Args:
        gt_file (str): Ground-truth CSV (``ava_val_v2.2.csv``).
        det_file (str): Detections in the official result format
            ``video_id,timestamp,x1,y1,x2,y2,action_id,score``.
        label_file (str): Label map of the evaluated classes (60 for the
            ActivityNet protocol).
        exclude_file (str, optional): Excluded-timestamps CSV.
        iou_thr (float): Matching IoU. Defaults to 0.5.
        max_dets_per_key (int): Detection rows kept per key (0 = all).
            Defaults to 50.

    Returns:
        dict: See :func:`frame_map`.
    """
    categories, class_ids = read_labelmap(label_file)
    excluded = read_exclusions(exclude_file)
    gt = read_csv(gt_file, class_ids, 0)
    det = read_csv(det_file, class_ids, max_dets_per_key)
    return frame_map(gt, det, categories, excluded, iou_thr)
