# Copyright (c) mmx3d contributors. All rights reserved.
"""Turn any MMDetection detector into an AVA person-proposal file.

Runs the detector on the key frame of every ``video_id,timestamp`` key (the
frame at that second: ``img_{30 (t - 900) + 1:05d}.jpg`` in AVA's rawframe
layout), keeps the person boxes scoring at least ``--score-thr`` and writes
them normalised to [0, 1], in MMAction2's proposal format::

    {'video_id,0902': array([[x1, y1, x2, y2, score], ...], float32), ...}

(``.pkl``), or as CSV rows ``video_id,timestamp,x1,y1,x2,y2,score``
(``.csv``). The dataset keeps boxes scoring >= 0.8 for training and testing
(``person_det_score_thr``), so write a lower ``--score-thr`` to tune that
later.

Examples::

    # key frames of an annotation file (e.g. the val split)
    python tools/data/ava/generate_proposals.py DET_CONFIG DET_CHECKPOINT \\
        data/ava/rawframes data/ava/annotations/my_proposals_val.pkl \\
        --ann-file data/ava/annotations/ava_val_v2.2.csv
    # every key frame 902..1798 of every video folder
    python tools/data/ava/generate_proposals.py DET_CONFIG DET_CHECKPOINT \\
        data/ava/rawframes proposals.pkl --score-thr 0.5
"""
import argparse
import csv
import os
import os.path as osp
import pickle
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

FPS, FIRST_FRAME_TIME = 30, 900
VALID_TIMESTAMPS = (902, 1798)


def key_frame_path(frame_root: str, video_id: str, timestamp: int,
                   filename_tmpl: str = 'img_{:05d}.jpg',
                   fps: int = FPS,
                   first_frame_time: int = FIRST_FRAME_TIME) -> str:
    """Path of the frame at ``timestamp`` seconds (frames numbered from 1
    at ``first_frame_time``)."""
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
    folder whose frame exists."""
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


def person_label_of(model, person_class: str) -> int:
    """Index of ``person_class`` in the detector's class names."""
    classes = [str(c).lower() for c in
               (getattr(model, 'dataset_meta', None) or {}).get('classes', [])]
    if person_class.lower() not in classes:
        raise ValueError(f'class {person_class!r} is not among the '
                         f'detector\'s classes {classes[:10]}...; pass '
                         '--person-label with its index')
    return classes.index(person_class.lower())


def detect_keys(model,
                frame_root: str,
                keys: Iterable[Tuple[str, int]],
                person_label: int,
                score_thr: float,
                **path_kwargs) -> Dict[str, np.ndarray]:
    """Run the detector on each key frame; missing frames are reported.

    Returns:
        dict[str, np.ndarray]: ``'video_id,%04d'`` -> (K, 5) proposals.
    """
    import cv2
    from mmdet.apis import inference_detector
    out, missing = {}, []
    for vid, ts in keys:
        path = key_frame_path(frame_root, vid, ts, **path_kwargs)
        img = cv2.imread(path)
        if img is None:
            missing.append(path)
            continue
        pred = inference_detector(model, img).pred_instances
        out[f'{vid},{ts:04d}'] = to_proposals(
            pred.bboxes.cpu().numpy(), pred.scores.cpu().numpy(),
            pred.labels.cpu().numpy(), img.shape[1], img.shape[0],
            person_label, score_thr)
    if missing:
        print(f'warning: {len(missing)} key frame(s) not found, e.g. '
              f'{missing[0]}', file=sys.stderr)
    return out


def write_proposals(proposals: Dict[str, np.ndarray], path: str) -> None:
    """Write ``.pkl`` (MMAction2's format) or ``.csv`` rows."""
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


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('det_config', help='MMDetection detector config')
    p.add_argument('det_checkpoint', help='its checkpoint (path or URL)')
    p.add_argument('frame_root', help='AVA rawframes: <root>/<video_id>/'
                   'img_00001.jpg ...')
    p.add_argument('out', help='output .pkl (MMAction2 format) or .csv')
    p.add_argument('--ann-file', help='take the keys of this AVA CSV '
                   '(default: every key frame of every video folder)')
    p.add_argument('--timestamps', type=int, nargs=2,
                   default=list(VALID_TIMESTAMPS),
                   help='key-frame range without --ann-file')
    p.add_argument('--score-thr', type=float, default=0.5,
                   help='keep person boxes scoring at least this')
    p.add_argument('--person-class', default='person',
                   help='name of the person class in the detector')
    p.add_argument('--person-label', type=int, default=None,
                   help='index of the person class (overrides the name)')
    p.add_argument('--filename-tmpl', default='img_{:05d}.jpg')
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    from mmdet.apis import init_detector
    from mmengine.registry import DefaultScope
    if args.ann_file:
        keys = keys_from_annotations(args.ann_file)
    else:
        keys = keys_from_folders(args.frame_root, args.timestamps,
                                 filename_tmpl=args.filename_tmpl)
    # MMDetection's registry scope only while its detector runs
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = init_detector(args.det_config, args.det_checkpoint,
                              device=args.device)
        label = args.person_label
        if label is None:
            label = person_label_of(model, args.person_class)
        props = detect_keys(model, args.frame_root, keys, label,
                            args.score_thr, filename_tmpl=args.filename_tmpl)
    write_proposals(props, args.out)
    n = sum(len(v) for v in props.values())
    print(f'{n} person proposals for {len(props)} key frames -> {args.out}')


if __name__ == '__main__':
    main()
