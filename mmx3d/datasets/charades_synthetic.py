# Copyright (c) mmx3d contributors. All rights reserved.
"""A tiny Charades-format dataset of synthetic, overlapping actions.

Each class is a coloured shape with its own look and motion; an action of
the class is the shape being on screen during the action's interval. A
video holds 0 to ``max_actions`` actions whose intervals overlap, on a noisy
grey background; the annotations are written in the official Charades CSV
format, so :class:`CharadesDataset` reads them unchanged. Shapes cover only
part of the (wide) frame, so a spatial crop can miss them and pooling over
views matters.
"""
import csv
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from .synthetic import write_video

#: class index -> (name, BGR colour, shape, motion (dx, dy) in frame
#: widths/heights per second)
CLASSES: Tuple[Tuple[str, Tuple[int, int, int], str, Tuple[float, float]],
               ...] = (
    ('red disc moving right', (40, 40, 230), 'disc', (0.25, 0.0)),
    ('green square moving left', (40, 200, 40), 'square', (-0.25, 0.0)),
    ('blue triangle moving down', (230, 60, 30), 'triangle', (0.0, 0.25)),
    ('yellow ring moving up', (30, 220, 230), 'ring', (0.0, -0.25)),
    ('magenta bar still', (220, 40, 220), 'bar', (0.0, 0.0)),
    ('cyan cross moving diagonally', (230, 220, 40), 'cross', (0.2, 0.2)),
)

#: the official CSV columns, in order
CSV_COLUMNS = ('id', 'subject', 'scene', 'quality', 'relevance', 'verified',
               'script', 'objects', 'descriptions', 'actions', 'length')


def _draw(img: np.ndarray, shape: str, center: Tuple[int, int], r: int,
          color: Tuple[int, int, int]) -> None:
    x, y = center
    if shape == 'disc':
        cv2.circle(img, (x, y), r, color, -1)
    elif shape == 'square':
        cv2.rectangle(img, (x - r, y - r), (x + r, y + r), color, -1)
    elif shape == 'triangle':
        pts = np.array([(x, y - r), (x - r, y + r), (x + r, y + r)], np.int32)
        cv2.fillPoly(img, [pts], color)
    elif shape == 'ring':
        cv2.circle(img, (x, y), r, color, max(2, r // 2))
    elif shape == 'bar':
        cv2.rectangle(img, (x - r, y - r // 2), (x + r, y + r // 2), color,
                      -1)
    elif shape == 'cross':
        t = max(2, r // 2)
        cv2.rectangle(img, (x - r, y - t // 2), (x + r, y + t // 2), color,
                      -1)
        cv2.rectangle(img, (x - t // 2, y - r), (x + t // 2, y + r), color,
                      -1)
    else:
        raise ValueError(f'unknown shape {shape!r}')


def sample_actions(rng: np.random.Generator,
                   duration: float,
                   max_actions: int = 3,
                   empty_ratio: float = 0.1,
                   min_fraction: float = 0.5) -> np.ndarray:
    """Random overlapping actions of distinct classes.

    Args:
        rng (np.random.Generator): Random source.
        duration (float): Video length in seconds.
        max_actions (int): Most actions per video. Defaults to 3.
        empty_ratio (float): Probability of a video without actions.
            Defaults to 0.1.
        min_fraction (float): Shortest action as a fraction of the video.
            Defaults to 0.5.

    Returns:
        np.ndarray: (K, 3) rows ``class, start, end`` (seconds, 2 decimals).
    """
    if rng.random() < empty_ratio:
        return np.zeros((0, 3))
    k = int(rng.integers(1, max_actions + 1))
    classes = rng.choice(len(CLASSES), size=k, replace=False)
    rows = []
    for c in classes:
        length = duration * rng.uniform(min_fraction, 1.0)
        start = rng.uniform(0, duration - length)
        rows.append((c, round(start, 2), round(start + length, 2)))
    return np.array(rows, np.float64)


def render_video(rng: np.random.Generator,
                 actions: np.ndarray,
                 num_frames: int = 24,
                 fps: float = 8.0,
                 size: Tuple[int, int] = (32, 64)) -> np.ndarray:
    """Render a video showing ``actions``.

    A frame ``i`` (at ``i / fps`` s) shows the shape of every action with
    ``start <= i / fps <= end``.

    Args:
        rng (np.random.Generator): Random source.
        actions (np.ndarray): (K, 3) ``class, start, end`` rows.
        num_frames (int): Frames. Defaults to 24.
        fps (float): Frame rate. Defaults to 8.
        size (tuple[int, int]): ``(height, width)``. Defaults to (32, 64).

    Returns:
        np.ndarray: uint8 frames (T, H, W, 3), BGR.
    """
    h, w = size
    bg = rng.integers(90, 150, (h // 4, w // 4, 3), dtype=np.uint8)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    r = max(3, h // 4)
    tracks = []
    for cls, start, end in actions:
        _, color, shape, (vx, vy) = CLASSES[int(cls)]
        pos = rng.uniform((r, r), (w - r, h - r))
        tracks.append((start, end, shape, color, pos, (vx * w, vy * h)))
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    for i in range(num_frames):
        t = i / fps
        img = bg.copy()
        for start, end, shape, color, pos, vel in tracks:
            if start <= t <= end:
                # bounce inside the frame
                x = _bounce(pos[0] + vel[0] * (t - start), r, w - r)
                y = _bounce(pos[1] + vel[1] * (t - start), r, h - r)
                _draw(img, shape, (x, y), r, color)
        noise = rng.integers(-8, 9, img.shape)
        frames[i] = np.clip(img.astype(np.int16) + noise, 0, 255)
    return frames


def _bounce(v: float, lo: float, hi: float) -> int:
    span = hi - lo
    v = (v - lo) % (2 * span)
    return int(round(lo + (v if v <= span else 2 * span - v)))


def format_actions(actions: np.ndarray) -> str:
    """The CSV ``actions`` field: ``c002 0.50 2.75;c004 1.00 3.00``."""
    return ';'.join(f'c{int(c):03d} {s:.2f} {e:.2f}' for c, s, e in actions)


def generate_synthetic_charades(root: str,
                                num_train: int = 96,
                                num_test: int = 32,
                                num_frames: int = 24,
                                fps: float = 8.0,
                                size: Tuple[int, int] = (32, 64),
                                max_actions: int = 3,
                                seed: int = 0,
                                rawframes: bool = False,
                                splits: Optional[Sequence[str]] = None
                                ) -> Dict[str, str]:
    """Write the mini dataset in the official Charades layout.

    Layout::

        root/Charades_v1_480/<id>.mp4          # videos
        root/Charades_v1_rgb/<id>/<id>-000001.jpg ...   # with rawframes
        root/Charades_v1_{train,test}.csv      # official CSV format
        root/Charades_v1_classes.txt           # "c000 <name>" lines

    Every class gets at least one positive in each split (the first videos
    cycle through the classes).

    Args:
        root (str): Output directory.
        num_train (int): Training videos. Defaults to 96.
        num_test (int): Held-out videos. Defaults to 32.
        num_frames (int): Frames per video. Defaults to 24.
        fps (float): Frame rate. Defaults to 8.
        size (tuple[int, int]): ``(height, width)``. Defaults to (32, 64).
            decord 0.6 misreads some small mp4v widths (48 fails, 56, 64,
            80, 96 read back correctly).
        max_actions (int): Most actions per video. Defaults to 3.
        seed (int): Random seed (split k uses ``seed + k``). Defaults to 0.
        rawframes (bool): Also write JPEG frames. Defaults to False.
        splits (Sequence[str], optional): Subset of ``('train', 'test')``.

    Returns:
        dict: split -> CSV path.
    """
    counts = {'train': num_train, 'test': num_test}
    vdir = osp.join(root, 'Charades_v1_480')
    os.makedirs(vdir, exist_ok=True)
    with open(osp.join(root, 'Charades_v1_classes.txt'), 'w') as f:
        f.write(''.join(f'c{i:03d} {c[0]}\n' for i, c in enumerate(CLASSES)))
    duration = num_frames / fps
    out = {}
    for k, split in enumerate(splits or ('train', 'test')):
        rng = np.random.default_rng(seed + k)
        rows = []
        for i in range(counts[split]):
            vid = f'{split[:2].upper()}{i:03d}'
            actions = sample_actions(rng, duration, max_actions)
            if i < len(CLASSES):  # every class has a positive
                actions = actions[actions[:, 0] != i]
                actions = np.concatenate(
                    [[[i, 0.0, round(duration * 0.75, 2)]], actions])
            frames = render_video(rng, actions, num_frames, fps, size)
            write_video(osp.join(vdir, f'{vid}.mp4'), frames, fps=fps)
            if rawframes:
                fdir = osp.join(root, 'Charades_v1_rgb', vid)
                os.makedirs(fdir, exist_ok=True)
                for j, frame in enumerate(frames, 1):
                    cv2.imwrite(osp.join(fdir, f'{vid}-{j:06d}.jpg'), frame)
            names = [CLASSES[int(c)][0] for c in actions[:, 0]]
            rows.append(
                dict(id=vid,
                     subject='SYN',
                     scene='Synthetic room',
                     quality='7',
                     relevance='7',
                     verified='Yes',
                     script='Shapes appear: ' + ', '.join(names) + '.',
                     objects=';'.join(sorted({n.split()[1] for n in names})),
                     descriptions=f'{len(names)} synthetic action(s).',
                     actions=format_actions(actions),
                     length=f'{duration:.2f}'))
        out[split] = osp.join(root, f'Charades_v1_{split}.csv')
        with open(out[split], 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return out
