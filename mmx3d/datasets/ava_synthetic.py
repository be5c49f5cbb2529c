# Copyright (c) mmx3d contributors. All rights reserved.
"""A tiny AVA-format dataset of synthetic actors.

Every key frame shows two or three "actors" (textured grey boxes) on a
cluttered, desaturated background. An actor performs one or two of four
visually distinct, animated actions, or none (a bystander, labelled
``stand``, a class left out of the evaluated label map as AVA leaves 20 of
its 80 classes out):

========  ==========================================================
action    what is drawn inside the actor's box
========  ==========================================================
1 wave    a red patch at the upper left, moving up and down
2 talk    a blue disc at the top centre (the head), pulsing
3 walk    green vertical stripes on the lower part, sliding sideways
4 carry   a yellow square at the right, bobbing
5 stand   nothing (bystander; not evaluated)
========  ==========================================================

The files follow AVA v2.2 exactly (see :func:`generate_synthetic_ava`), so
the whole detection pipeline (dataset, proposals, exclusions, label map,
evaluator) runs unchanged on it.
"""
import os
import os.path as osp
import pickle
from typing import Dict, List, Tuple

import cv2
import numpy as np

#: action id -> name; 1..4 are evaluated, 5 is not
ACTIONS = {1: 'wave', 2: 'talk', 3: 'walk', 4: 'carry', 5: 'stand'}
EVALUATED = (1, 2, 3, 4)
FPS = 30
FIRST_FRAME_TIME = 900  # img_00001.jpg is at 15:00, as in AVA's rawframes
FIRST_KEY_FRAME = 902


def _mkdir(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


def _labelmap_text(ids) -> str:
    return ''.join(f'item {{\n  name: "{ACTIONS[i]}"\n  id: {i}\n}}\n'
                   for i in ids)


def _sample_actors(rng: np.random.Generator, w: int,
                   h: int) -> List[dict]:
    """Two or three non-overlapping actors with their actions."""
    n = int(rng.integers(2, 4))
    slot = w / n
    actors = []
    for k in range(n):
        bw = int(min(slot - 4, w * rng.uniform(0.22, 0.27)))
        bh = int(h * rng.uniform(0.5, 0.7))
        x1 = int(k * slot + rng.uniform(2, max(2.5, slot - bw - 2)))
        y1 = int(rng.uniform(2, h - bh - 2))
        r = rng.random()
        if r < 0.2:
            actions = [5]
        elif r < 0.55:
            actions = sorted(rng.choice(EVALUATED, 2, replace=False).tolist())
        else:
            actions = [int(rng.choice(EVALUATED))]
        actors.append(
            dict(
                box=(x1, y1, x1 + bw, y1 + bh),
                actions=actions,
                gray=int(rng.integers(70, 170)),
                texture=rng.integers(-25, 26, (bh, bw, 1)),
                phase=int(rng.integers(0, 8))))
    return actors


def _draw_actor(img: np.ndarray, actor: dict, t: int) -> None:
    x1, y1, x2, y2 = actor['box']
    bw, bh = x2 - x1, y2 - y1
    body = np.clip(actor['gray'] + actor['texture'], 0, 255)
    img[y1:y2, x1:x2] = body.astype(np.uint8)
    cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), (40, 40, 40), 1)
    t = t + actor['phase']
    osc = np.sin(2 * np.pi * t / 8)
    s = max(3, bw // 3)
    for a in actor['actions']:
        if a == 1:  # wave: red patch, upper left, up and down
            yy = int(y1 + 0.12 * bh + 0.08 * bh * (1 + osc))
            cv2.rectangle(img, (x1 + 1, yy), (x1 + s, yy + s), (30, 30, 230),
                          -1)
        elif a == 2:  # talk: blue head, pulsing
            r = max(2, int(bw * 0.16 + 1.5 * osc))
            cv2.circle(img, ((x1 + x2) // 2, y1 + r + 1), r, (230, 80, 20),
                       -1)
        elif a == 3:  # walk: green stripes sliding sideways
            top = y1 + int(0.6 * bh)
            for x in range(x1 + (t % 4), x2, 4):
                cv2.line(img, (x, top), (x, y2 - 2), (30, 210, 30), 2)
        elif a == 4:  # carry: yellow square, right, bobbing
            yy = int(y1 + 0.4 * bh + 2 * osc)
            cv2.rectangle(img, (x2 - s, yy), (x2 - 1, yy + s), (20, 220, 230),
                          -1)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    base = rng.integers(90, 200, (h // 6 + 1, w // 6 + 1, 1))
    tint = rng.integers(-12, 13, (1, 1, 3))
    bg = np.clip(base + tint, 0, 255).astype(np.uint8)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    for _ in range(5):  # desaturated clutter
        g = int(rng.integers(40, 220))
        cv2.circle(bg, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                   int(rng.integers(3, 8)), (g, g, g), -1)
    return bg


def _jitter(rng: np.random.Generator, box: Tuple[float, ...],
            amount: float) -> List[float]:
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    d = rng.uniform(-amount, amount, 4) * (bw, bh, bw, bh)
    out = np.clip(np.array(box) + d, 0, 1)
    return out.tolist()


def render_video(rng: np.random.Generator, video_id: str,
                 num_keyframes: int, w: int, h: int, frame_dir: str
                 ) -> Tuple[List[list], Dict[str, np.ndarray]]:
    """Write one video's frames; return its annotation rows and proposals.

    Key frame ``t`` (902, 903, ...) owns frames ``30 (t - 900) + 1 +/- 15``;
    its actors are fixed in that window.
    """
    _mkdir(frame_dir)
    bg = _background(rng, w, h)
    last = FIRST_KEY_FRAME + num_keyframes - 1
    num_frames = FPS * (last - FIRST_FRAME_TIME) + 15
    rows, proposals = [], {}
    segments = {}
    for ts in range(FIRST_KEY_FRAME, last + 1):
        actors = _sample_actors(rng, w, h)
        segments[ts] = actors
        key = f'{video_id},{ts:04d}'
        props = []
        for pid, actor in enumerate(actors):
            x1, y1, x2, y2 = actor['box']
            nbox = (round(x1 / w, 3), round(y1 / h, 3), round(x2 / w, 3),
                    round(y2 / h, 3))
            for a in actor['actions']:
                rows.append([video_id, f'{ts:04d}', *nbox, a, pid])
            # a detector's box: close to the ground truth, high score
            props.append(_jitter(rng, nbox, 0.03) +
                         [float(rng.uniform(0.85, 1.0))])
        for _ in range(int(rng.integers(1, 3))):  # low-score false boxes
            x1, y1 = rng.uniform(0, 0.7), rng.uniform(0, 0.4)
            props.append([
                x1, y1,
                min(1.0, x1 + rng.uniform(0.15, 0.3)),
                min(1.0, y1 + rng.uniform(0.3, 0.6)),
                float(rng.uniform(0.05, 0.75))
            ])
        arr = np.array(props, dtype=np.float32)
        proposals[key] = arr[np.argsort(-arr[:, 4])]
    for f in range(1, num_frames + 1):
        ts = FIRST_FRAME_TIME + int(round((f - 1) / FPS))
        img = bg.copy()
        for actor in segments.get(ts, []):
            _draw_actor(img, actor, f)
        cv2.imwrite(osp.join(frame_dir, f'img_{f:05d}.jpg'), img,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
    return rows, proposals


def generate_synthetic_ava(root: str,
                           num_train_videos: int = 12,
                           num_val_videos: int = 4,
                           num_keyframes: int = 8,
                           width: int = 96,
                           height: int = 72,
                           seed: int = 0) -> Dict[str, str]:
    """Write the synthetic dataset in the AVA v2.2 layout.

    ::

        root/rawframes/<video_id>/img_00001.jpg ...     30 fps from 15:00
        root/annotations/ava_{train,val}_v2.2.csv
        root/annotations/ava_{train,val}_excluded_timestamps_v2.2.csv
        root/annotations/ava_action_list_v2.2.pbtxt          (5 actions)
        root/annotations/ava_action_list_v2.2_for_activitynet_2019.pbtxt
                                                        (the 4 evaluated)
        root/annotations/ava_dense_proposals_{train,val}.synthetic.pkl

    Key frames are 902, 903, ... (``num_keyframes`` per video). Proposals
    are the ground-truth boxes jittered by up to 3% (scores 0.85-1) plus
    one or two false boxes scoring below 0.8. One key frame per split is
    listed as excluded (its ground truth must then not count). The
    training and validation videos are disjoint.

    Args:
        root (str): Output directory.
        num_train_videos (int): Training videos. Defaults to 12.
        num_val_videos (int): Held-out videos. Defaults to 4.
        num_keyframes (int): Key frames per video. Defaults to 8.
        width (int): Frame width. Defaults to 96.
        height (int): Frame height. Defaults to 72.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: Paths: ``data_root``, ``ann_file_{train,val}``,
        ``exclude_file_{train,val}``, ``label_file``, ``label_file_all``,
        ``proposal_file_{train,val}``.
    """
    ann_dir = _mkdir(osp.join(root, 'annotations'))
    frames_root = _mkdir(osp.join(root, 'rawframes'))
    out = dict(data_root=frames_root)
    out['label_file_all'] = osp.join(ann_dir, 'ava_action_list_v2.2.pbtxt')
    out['label_file'] = osp.join(
        ann_dir, 'ava_action_list_v2.2_for_activitynet_2019.pbtxt')
    with open(out['label_file_all'], 'w') as f:
        f.write(_labelmap_text(sorted(ACTIONS)))
    with open(out['label_file'], 'w') as f:
        f.write(_labelmap_text(EVALUATED))
    counts = dict(train=num_train_videos, val=num_val_videos)
    for k, split in enumerate(('train', 'val')):
        rng = np.random.default_rng(seed + 1000 * k)
        rows, proposals = [], {}
        for i in range(counts[split]):
            vid = f'syn_{split}_{i:03d}'
            r, p = render_video(rng, vid, num_keyframes, width, height,
                                osp.join(frames_root, vid))
            rows += r
            proposals.update(p)
        out[f'ann_file_{split}'] = osp.join(ann_dir, f'ava_{split}_v2.2.csv')
        with open(out[f'ann_file_{split}'], 'w') as f:
            for row in rows:
                f.write(','.join(
                    f'{v:.3f}' if isinstance(v, float) else str(v)
                    for v in row) + '\n')
        # exclude the second key frame of the first video
        out[f'exclude_file_{split}'] = osp.join(
            ann_dir, f'ava_{split}_excluded_timestamps_v2.2.csv')
        with open(out[f'exclude_file_{split}'], 'w') as f:
            f.write(f'syn_{split}_000,{FIRST_KEY_FRAME + 1:04d}\n')
        out[f'proposal_file_{split}'] = osp.join(
            ann_dir, f'ava_dense_proposals_{split}.synthetic.pkl')
        with open(out[f'proposal_file_{split}'], 'wb') as f:
            pickle.dump(proposals, f)
    return out
