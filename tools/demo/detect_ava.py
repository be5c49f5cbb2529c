# Copyright (c) mmx3d contributors. All rights reserved.
"""Spatio-temporal action detection demo: an annotated video out.

For every key frame (one per ``--step`` seconds) the person proposals come
from a proposal file (``.pkl`` in MMAction2's format or ``.csv``, keyed by
``video_id,timestamp``) or from an MMDetection person detector; the clip
around the key frame is classified by the AVA detector, and every frame up
to the next key frame is drawn with the boxes and their top actions. The
output is an MPEG-4 part 2 (``mp4v``) file.

Examples::

    # proposals from a file (video_id = the file name without extension,
    # timestamps counted from --timestamp-start seconds)
    python tools/demo/detect_ava.py configs/x3d/x3d_xs_ava_synthetic.py \\
        work_dirs/x3d_xs_ava_synthetic/iter_300.pth demo.mp4 out.mp4 \\
        --proposals data/ava_synthetic/annotations/\\
ava_dense_proposals_val.synthetic.pkl --video-id syn_val_000 \\
        --timestamp-start 900
    # proposals from any MMDetection detector (person class)
    python tools/demo/detect_ava.py configs/x3d/x3d_s_ava.py CKPT in.mp4 \\
        out.mp4 --det-config DET_CFG --det-checkpoint DET_CKPT
"""
import argparse
import copy
import math
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.join(ROOT, 'tools', 'data', 'ava'))

BOX_COLOR = (255, 0, 255)  # BGR magenta: rare in natural video
TEXT_COLOR = (255, 255, 255)


def read_video(path: str) -> Tuple[List[np.ndarray], float]:
    """All frames (BGR) of a video file, or of a folder of images."""
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
    from mmx3d.evaluation.functional import read_labelmap
    categories, _ = read_labelmap(label_file)
    return {c['id']: c['name'] for c in categories}


def clip_indices(center: int, clip_len: int, frame_interval: int,
                 num_frames: int) -> np.ndarray:
    """Frames of the test clip around ``center`` (``SampleAVAFrames``)."""
    start = center - (clip_len // 2) * frame_interval
    inds = start + np.arange(clip_len) * frame_interval
    return np.clip(inds, 0, num_frames - 1)


def build_detector(config, checkpoint: str, device: str = 'cpu'):
    """The AVA detector of ``config`` with the weights of ``checkpoint``."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint

    from mmx3d.registry import MODELS
    from mmx3d.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    model_cfg = copy.deepcopy(config.model)
    model_cfg.get('backbone', {}).pop('init_cfg', None)
    model_cfg.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope('mmx3d'):
        model = MODELS.build(model_cfg)
    load_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device).eval()


def build_test_transforms(config):
    """The config's test pipeline after frame sampling and decoding."""
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    pipeline = config.test_dataloader.dataset.pipeline
    steps = [
        t for t in pipeline
        if t['type'] not in ('SampleAVAFrames', 'RawFrameDecode')
    ]
    with DefaultScope.overwrite_default_scope('mmx3d'):
        return Compose(steps), pipeline


def classify_key_frame(model, transforms, frames: List[np.ndarray],
                       inds: np.ndarray, proposals: np.ndarray,
                       num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """Scores of each proposal (pixels) for the clip at ``inds``.

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


def draw(frame: np.ndarray, boxes: np.ndarray,
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


def write_video(path: str, frames: List[np.ndarray], fps: float) -> None:
    """Write BGR frames as ``mp4v`` (plays in common players, decord)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write {path!r}')
    for f in frames:
        writer.write(f)
    writer.release()


def run_demo(args: argparse.Namespace) -> dict:
    """Detect, annotate and write; returns what was drawn per key frame."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(args.config)
    frames, fps = read_video(args.video)
    if args.fps:
        fps = args.fps
    n = len(frames)
    h, w = frames[0].shape[:2]
    model = build_detector(cfg, args.checkpoint, args.device)
    transforms, pipeline = build_test_transforms(cfg)
    sampler = next(t for t in pipeline if t['type'] == 'SampleAVAFrames')
    ds_cfg = cfg.test_dataloader.dataset
    num_classes = cfg.model.roi_head.bbox_head.num_classes
    labels = load_labels(args.label_map or ds_cfg.get('label_file'))
    custom_classes = ds_cfg.get('custom_classes')

    video_id = args.video_id or osp.splitext(osp.basename(
        args.video.rstrip('/')))[0]
    proposals_file = None
    detector = None
    if args.proposals:
        from mmx3d.datasets.ava import load_proposals
        proposals_file = load_proposals(args.proposals)
    elif args.det_config:
        from mmdet.apis import init_detector
        with DefaultScope.overwrite_default_scope('mmdet'):
            detector = init_detector(args.det_config, args.det_checkpoint,
                                     device=args.device)
    else:
        raise ValueError('give --proposals or --det-config/--det-checkpoint')

    t0 = args.timestamp_start
    first = math.ceil(t0)
    last = math.floor(t0 + (n - 1) / fps)
    keys = {}
    for ts in range(first, last + 1, args.step):
        center = int(round((ts - t0) * fps))
        if proposals_file is not None:
            props = proposals_file.get(f'{video_id},{ts:04d}',
                                       np.zeros((0, 5), np.float32))
            props = props[props[:, 4] >= args.det_score_thr]
        else:
            from generate_proposals import person_label_of, to_proposals
            from mmdet.apis import inference_detector
            with DefaultScope.overwrite_default_scope('mmdet'):
                pred = inference_detector(detector,
                                          frames[center]).pred_instances
            props = to_proposals(pred.bboxes.cpu().numpy(),
                                 pred.scores.cpu().numpy(),
                                 pred.labels.cpu().numpy(), w, h,
                                 person_label_of(detector, 'person'),
                                 args.det_score_thr)
        if len(props) == 0:
            keys[ts] = (center, np.zeros((0, 4)), [])
            continue
        inds = clip_indices(center, sampler['clip_len'],
                            sampler['frame_interval'], n)
        boxes, scores = classify_key_frame(
            model, transforms, frames, inds,
            props[:, :4] * np.array([w, h, w, h]), num_classes)
        acts = [
            top_actions(s, labels, args.action_score_thr, args.topk,
                        custom_classes) for s in scores
        ]
        keys[ts] = (center, boxes, acts)

    half = int(round(args.step * fps / 2))
    out = []
    for i, frame in enumerate(frames):
        near = [v for v in keys.values() if abs(v[0] - i) <= half]
        if near:
            center, boxes, acts = min(near, key=lambda v: abs(v[0] - i))
            frame = draw(frame, boxes, acts)
        out.append(frame)
    write_video(args.out, out, fps)
    return keys


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='mmx3d AVA config')
    p.add_argument('checkpoint', help='its trained checkpoint')
    p.add_argument('video', help='input video file or folder of frames')
    p.add_argument('out', help='output .mp4')
    p.add_argument('--proposals', help='proposal .pkl/.csv keyed by '
                   'video_id,timestamp')
    p.add_argument('--video-id', help='video_id in the proposal file '
                   '(default: the input file name)')
    p.add_argument('--det-config', help='MMDetection person detector config')
    p.add_argument('--det-checkpoint', help='its checkpoint')
    p.add_argument('--det-score-thr', type=float, default=0.8,
                   help='minimum proposal score (reference: 0.8)')
    p.add_argument('--action-score-thr', type=float, default=0.4)
    p.add_argument('--topk', type=int, default=3,
                   help='actions drawn per box')
    p.add_argument('--label-map', help='AVA label map .pbtxt (default: the '
                   'config\'s label_file)')
    p.add_argument('--timestamp-start', type=float, default=0.0,
                   help='time in seconds of the first frame (900 for AVA '
                   'rawframes)')
    p.add_argument('--step', type=int, default=1,
                   help='seconds between key frames')
    p.add_argument('--fps', type=float, default=None,
                   help='frame rate (default: the video\'s)')
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    keys = run_demo(args)
    n = sum(len(v[1]) for v in keys.values())
    print(f'{n} boxes on {len(keys)} key frames -> {args.out}')


if __name__ == '__main__':
    main()
