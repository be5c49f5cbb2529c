# Copyright (c) mmx3d contributors. All rights reserved.
"""AVA person proposals from any MMDetection detector.

The detector runs on the key frame of every ``video_id,timestamp`` key (the
frame at that second: ``img_{30 (t - 900) + 1:05d}.jpg`` in AVA's rawframe
layout); the person boxes scoring at least a threshold are kept, normalised
to [0, 1], in MMAction2's proposal format::

    {'video_id,0902': array([[x1, y1, x2, y2, score], ...], float32), ...}

Used by ``tools/data/ava/generate_proposals.py`` (a proposal file) and
``tools/demo/detect_ava.py`` (proposals for a demo video).
"""
import csv
import os
import os.path as osp
import pickle
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch.nn as nn

FPS, FIRST_FRAME_TIME = 30, 900
VALID_TIMESTAMPS = (902, 1798)


def key_frame_path(frame_root: str, video_id: str, timestamp: int,
                   filename_tmpl: str = 'img_{:05d}.jpg',
                   fps: int = FPS,
                   first_frame_time: int = FIRST_FRAME_TIME) -> str:
    """Path of the frame at ``timestamp`` seconds (frames numbered from 1
    at ``first_frame_time``): ``<frame_root>/<video_id>/img_00061.jpg`` for
    second 902 of AVA."""
    index = fps * (int(timestamp) - first_frame_time) + 1
    return osp.join(frame_root, video_id, filename_tmpl.format(index))


def keys_from_annotations(ann_file: str) -> List[Tuple[str, int]]:
    """The distinct ``(video_id, timestamp)`` keys of an AVA CSV, in order.
    """
    keys, seen = [], set()
    with open(ann_file, newline='') as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            try:
                key = (row[0], int(row[1]))
            except (IndexError, ValueError):
                raise ValueError(
                    f'{ann_file}:{lineno}: expected video_id,timestamp,..., '
                    f'got {row}') from None
            if key not in seen:
                seen.add(key)
                keys.append(key)
    return keys


def keys_from_folders(frame_root: str,
                      timestamps: Sequence[int] = VALID_TIMESTAMPS,
                      **path_kwargs) -> List[Tuple[str, int]]:
    """Every key frame in ``timestamps`` (inclusive range) of every video
    folder of ``frame_root`` whose frame file exists, in sorted order."""
    keys = []
    for vid in sorted(os.listdir(frame_root)):
        if not osp.isdir(osp.join(frame_root, vid)):
            continue
        for ts in range(timestamps[0], timestamps[1] + 1):
            if osp.isfile(key_frame_path(frame_root, vid, ts,
                                         **path_kwargs)):
                keys.append((vid, ts))
    return keys


def to_proposals(bboxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                 img_w: int, img_h: int, person_label: int,
                 score_thr: float) -> np.ndarray:
    """Person boxes of one frame as normalised proposal rows.

    Args:
        bboxes (np.ndarray): (N, 4) ``x1, y1, x2, y2`` in pixels.
        scores (np.ndarray): (N,) detection scores.
        labels (np.ndarray): (N,) class indices.
        img_w (int): Frame width.
        img_h (int): Frame height.
        person_label (int): Index of the person class.
        score_thr (float): Keep boxes scoring at least this.

    Returns:
        np.ndarray: (K, 5) float32 ``x1, y1, x2, y2, score`` in [0, 1],
        by descending score; boxes empty after clipping are dropped.
    """
    bboxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    keep = (np.asarray(labels).reshape(-1) == person_label) & (
        scores >= score_thr)
    boxes = bboxes[keep] / np.array([img_w, img_h, img_w, img_h])
    boxes = np.clip(boxes, 0, 1)
    out = np.concatenate([boxes, scores[keep, None]], axis=1)
    out = out[(out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])]
    return out[np.argsort(-out[:, 4], kind='stable')].astype(np.float32)


def person_label_of(model: nn.Module, person_class: str = 'person') -> int:
    """Index of ``person_class`` in the detector's ``dataset_meta`` classes
    (case-insensitive); a ``ValueError`` names the classes it has."""
    classes = [str(c).lower() for c in
               (getattr(model, 'dataset_meta', None) or {}).get('classes', [])]
    if person_class.lower() not in classes:
        raise ValueError(f'class {person_class!r} is not among the '
                         f'detector\'s classes {classes[:10]}...; pass '
                         '--person-label with its index')
    return classes.index(person_class.lower())


def init_person_detector(config, checkpoint: Optional[str],
                         device: str = 'cpu') -> nn.Module:
    """An MMDetection detector, built in MMDetection's registry scope.

    Args:
        config (str | Config): Detector config.
        checkpoint (str, optional): Its checkpoint (path or URL).
        device (str): Device. Defaults to ``'cpu'``.

    Returns:
        nn.Module: The detector (eval mode).
    """
    from mmdet.apis import init_detector
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        return init_detector(config, checkpoint, device=device)


def detect_persons(detector: nn.Module, img: np.ndarray, person_label: int,
                   score_thr: float) -> np.ndarray:
    """Person proposals of one BGR frame (see :func:`to_proposals`).

    The detector runs in MMDetection's registry scope, which is restored
    afterwards.
    """
    from mmdet.apis import inference_detector
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        pred = inference_detector(detector, img).pred_instances
    return to_proposals(pred.bboxes.cpu().numpy(), pred.scores.cpu().numpy(),
                        pred.labels.cpu().numpy(), img.shape[1],
                        img.shape[0], person_label, score_thr)


def detect_keys(detector: nn.Module,
                frame_root: str,
                keys: Iterable[Tuple[str, int]],
                person_label: int,
                score_thr: float,
                **path_kwargs) -> Dict[str, np.ndarray]:
    """Person proposals of each key frame; missing frames are reported on
    stderr.

    Args:
        detector (nn.Module): An MMDetection detector.
        frame_root (str): AVA rawframes root.
        keys (Iterable[tuple[str, int]]): ``(video_id, timestamp)`` keys.
        person_label (int): Index of the person class.
        score_thr (float): Keep boxes scoring at least this.
        **path_kwargs: ``filename_tmpl``, ``fps``, ``first_frame_time`` of
            :func:`key_frame_path`.

    Returns:
        dict[str, np.ndarray]: ``'video_id,%04d'`` -> (K, 5) proposals.
    """
    import cv2
    out, missing = {}, []
    for vid, ts in keys:
        path = key_frame_path(frame_root, vid, ts, **path_kwargs)
        img = cv2.imread(path)
        if img is None:
            missing.append(path)
            continue
        out[f'{vid},{ts:04d}'] = detect_persons(detector, img, person_label,
                                                score_thr)
    if missing:
        print(f'warning: {len(missing)} key frame(s) not found, e.g. '
              f'{missing[0]}', file=sys.stderr)
    return out


def write_proposals(proposals: Dict[str, np.ndarray], path: str) -> None:
    """Write ``.pkl`` (MMAction2's format) or, for a ``.csv`` path, rows
    ``video_id,timestamp,x1,y1,x2,y2,score``."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if path.endswith('.csv'):
        with open(path, 'w') as f:
            for key, arr in proposals.items():
                for x1, y1, x2, y2, s in arr:
                    f.write(f'{key},{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f},'
                            f'{s:.6f}\n')
    else:
        with open(path, 'wb') as f:
            pickle.dump(proposals, f)
