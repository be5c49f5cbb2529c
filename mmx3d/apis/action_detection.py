# Copyright (c) mmx3d contributors. All rights reserved.
"""Spatio-temporal action detection on a whole video (the AVA demo).

For every key frame (one per ``step`` seconds) the person proposals come
from a proposal table (MMAction2's format, keyed by ``video_id,timestamp``)
or from an MMDetection person detector (:mod:`mmx3d.apis.proposals`); the
clip around the key frame goes through the config's test pipeline and the
AVA detector, and every frame within half a step of a key frame is drawn
with that key frame's boxes and top actions::

    frames -> key frame t -> proposals(t) -+
           -> clip around t -> test pipeline -> AVA detector -> scores
                                                -> draw on frames near t

Used by ``tools/demo/detect_ava.py``.
"""
import copy
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

from ..fileio import read_labelmap
from ..registry import MODELS
from ..utils import register_all_modules
from .proposals import detect_persons, person_label_of

BOX_COLOR = (255, 0, 255)  # BGR magenta: rare in natural video
TEXT_COLOR = (255, 255, 255)

#: key timestamp -> (frame index of the key frame, boxes (K, 4) normalised,
#: per box the top actions as (name, score))
KeyFrameResults = Dict[int, Tuple[int, np.ndarray,
                                  List[List[Tuple[str, float]]]]]


def read_video(path: str) -> Tuple[List[np.ndarray], float]:
    """All frames (BGR) and the frame rate of a video file, or of a folder
    of ``.jpg``/``.png`` images in name order (taken as 30 fps)."""
    if osp.isdir(path):
        names = sorted(n for n in os.listdir(path)
                       if n.lower().endswith(('.jpg', '.jpeg', '.png')))
        frames = [cv2.imread(osp.join(path, n)) for n in names]
        return frames, 30.0
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise FileNotFoundError(f'cannot open video {path!r}')
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise ValueError(f'no frames could be read from {path!r}')
    return frames, fps


def load_labels(label_file: Optional[str]) -> Dict[int, str]:
    """Action id -> name from an AVA label map, if there is one."""
    if not label_file or not osp.isfile(label_file):
        return {}
    categories, _ = read_labelmap(label_file)
    return {c['id']: c['name'] for c in categories}


def clip_indices(center: int, clip_len: int, frame_interval: int,
                 num_frames: int) -> np.ndarray:
    """Frames of the test clip around ``center`` (``SampleAVAFrames``)."""
    start = center - (clip_len // 2) * frame_interval
    inds = start + np.arange(clip_len) * frame_interval
    return np.clip(inds, 0, num_frames - 1)


def build_ava_detector(config: Config, checkpoint: str,
                       device: str = 'cpu') -> nn.Module:
    """The AVA detector of ``config`` with the weights of ``checkpoint``
    (``init_cfg`` pretrained weights are not loaded)."""
    register_all_modules(init_default_scope=False)
    model_cfg = copy.deepcopy(config.model)
    model_cfg.get('backbone', {}).pop('init_cfg', None)
    model_cfg.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope('mmx3d'):
        model = MODELS.build(model_cfg)
    load_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device).eval()


def build_test_transforms(config: Config) -> Tuple[Compose, list]:
    """The config's test pipeline after frame sampling and decoding, and
    the whole pipeline."""
    pipeline = config.test_dataloader.dataset.pipeline
    steps = [
        t for t in pipeline
        if t['type'] not in ('SampleAVAFrames', 'RawFrameDecode')
    ]
    with DefaultScope.overwrite_default_scope('mmx3d'):
        return Compose(steps), pipeline


def classify_key_frame(model: nn.Module, transforms: Compose,
                       frames: List[np.ndarray], inds: np.ndarray,
                       proposals: np.ndarray,
                       num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """Scores of each proposal (boxes in pixels) for the clip of the
    frames ``inds``.

    Returns:
        tuple[np.ndarray, np.ndarray]: boxes (K, 4) normalised, scores
        (K, num_classes).
    """
    h, w = frames[0].shape[:2]
    results = dict(
        imgs=[cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB) for i in inds],
        img_shape=(h, w),
        original_shape=(h, w),
        modality='RGB',
        num_clips=1,
        clip_len=len(inds),
        crop_quadruple=np.array([0, 0, 1, 1], dtype=np.float32),
        gt_bboxes=np.zeros((0, 4), np.float32),
        gt_labels=np.zeros((0, num_classes), np.float32),
        proposals=proposals.astype(np.float32),
        img_key='demo',
        video_id='demo',
        timestamp=0)
    data = transforms(results)
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        pred = model.test_step(batch)[0].pred_instances
    return pred.bboxes.cpu().numpy(), pred.scores.cpu().numpy()


def top_actions(scores: np.ndarray, labels: Dict[int, str], thr: float,
                topk: int, custom_classes: Optional[Sequence[int]] = None
                ) -> List[Tuple[str, float]]:
    """The ``topk`` actions scoring >= ``thr`` (background column 0 out)."""
    order = np.argsort(-scores[1:])[:topk] + 1
    out = []
    for col in order:
        if scores[col] < thr:
            break
        aid = int(custom_classes[col - 1]) if custom_classes else int(col)
        out.append((labels.get(aid, f'action {aid}'), float(scores[col])))
    return out


def draw_actions(frame: np.ndarray, boxes: np.ndarray,
         actions: List[List[Tuple[str, float]]]) -> np.ndarray:
    """Boxes (normalised) and their action labels on a copy of ``frame``."""
    img = frame.copy()
    h, w = img.shape[:2]
    scale = max(0.3, min(w, h) / 600)
    for box, acts in zip(boxes, actions):
        x1, y1, x2, y2 = (box * [w, h, w, h]).round().astype(int)
        cv2.rectangle(img, (x1, y1), (x2, y2), BOX_COLOR, 2)
        y = y1 + 2
        for name, score in acts:
            text = f'{name} {score:.2f}'
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX,
                                          scale, 1)
            cv2.rectangle(img, (x1, y), (x1 + tw + 2, y + th + 4), BOX_COLOR,
                          -1)
            cv2.putText(img, text, (x1 + 1, y + th + 1),
                        cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOR, 1,
                        cv2.LINE_AA)
            y += th + 5
    return img


def detect_actions(model: nn.Module,
                   config: Config,
                   frames: List[np.ndarray],
                   fps: float,
                   proposals: Optional[Dict[str, np.ndarray]] = None,
                   video_id: str = 'demo',
                   person_detector: Optional[nn.Module] = None,
                   det_score_thr: float = 0.8,
                   action_score_thr: float = 0.4,
                   topk: int = 3,
                   labels: Optional[Dict[int, str]] = None,
                   timestamp_start: float = 0.0,
                   step: int = 1) -> KeyFrameResults:
    """Boxes and top actions of every key frame of a video.

    Args:
        model (nn.Module): The AVA detector (:func:`build_ava_detector`).
        config (Config): Its config (test pipeline, number of classes,
            ``custom_classes``).
        frames (list[np.ndarray]): BGR frames of the video.
        fps (float): Their frame rate.
        proposals (dict, optional): ``'video_id,%04d'`` -> (K, 5) normalised
            proposals (:func:`mmx3d.datasets.load_proposals`). Defaults to
            None: use ``person_detector``.
        video_id (str): Video id of the keys in ``proposals``. Defaults to
            ``'demo'``.
        person_detector (nn.Module, optional): MMDetection detector with a
            ``person`` class, used when ``proposals`` is None.
        det_score_thr (float): Minimum proposal score. Defaults to 0.8.
        action_score_thr (float): Minimum action score. Defaults to 0.4.
        topk (int): Actions per box at most. Defaults to 3.
        labels (dict, optional): Action id -> name (:func:`load_labels`).
        timestamp_start (float): Time in seconds of the first frame.
            Defaults to 0.
        step (int): Seconds between key frames. Defaults to 1.

    Returns:
        dict: key timestamp -> (key frame index, boxes, actions per box).
    """
    if proposals is None and person_detector is None:
        raise ValueError('give proposals or a person detector')
    n = len(frames)
    h, w = frames[0].shape[:2]
    transforms, pipeline = build_test_transforms(config)
    sampler = next(t for t in pipeline if t['type'] == 'SampleAVAFrames')
    num_classes = config.model.roi_head.bbox_head.num_classes
    custom_classes = config.test_dataloader.dataset.get('custom_classes')
    person_label = (person_label_of(person_detector)
                    if proposals is None else None)
    first = math.ceil(timestamp_start)
    last = math.floor(timestamp_start + (n - 1) / fps)
    keys = {}
    for ts in range(first, last + 1, step):
        center = int(round((ts - timestamp_start) * fps))
        if proposals is not None:
            props = proposals.get(f'{video_id},{ts:04d}',
                                  np.zeros((0, 5), np.float32))
            props = props[props[:, 4] >= det_score_thr]
        else:
            props = detect_persons(person_detector, frames[center],
                                   person_label, det_score_thr)
        if len(props) == 0:
            keys[ts] = (center, np.zeros((0, 4)), [])
            continue
        inds = clip_indices(center, sampler['clip_len'],
                            sampler['frame_interval'], n)
        boxes, scores = classify_key_frame(
            model, transforms, frames, inds,
            props[:, :4] * np.array([w, h, w, h]), num_classes)
        acts = [
            top_actions(s, labels or {}, action_score_thr, topk,
                        custom_classes) for s in scores
        ]
        keys[ts] = (center, boxes, acts)
    return keys


def annotate(frames: List[np.ndarray], keys: KeyFrameResults, fps: float,
             step: int = 1) -> List[np.ndarray]:
    """Every frame, those within half a step of a key frame drawn with the
    nearest key frame's boxes and actions (:func:`draw_actions`)."""
    half = int(round(step * fps / 2))
    out = []
    for i, frame in enumerate(frames):
        near = [v for v in keys.values() if abs(v[0] - i) <= half]
        if near:
            _, boxes, acts = min(near, key=lambda v: abs(v[0] - i))
            frame = draw_actions(frame, boxes, acts)
        out.append(frame)
    return out
