# Copyright (c) mmx3d contributors. All rights reserved.
"""A small Kinetics-format dataset that only temporal models can solve.

Each video shows a few solid-coloured discs and squares drifting in one
random direction over a cluttered static background; the drift is the same
for every class and carries no label information. The class is how the
shapes' brightness evolves over the clip: rising, falling, rising then
falling, or falling then rising. Every class covers the same range of
brightness, so any single frame (or the set of frames in shuffled order) is
compatible with every class: a model fed one frame, or shuffled frames,
stays near chance (25%).
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

#: class index -> (name, brightness profile over normalised time u in [0, 1])
CLASSES = (
    ('brightening', lambda u: u),
    ('darkening', lambda u: 1 - u),
    ('flash', lambda u: 1 - abs(2 * u - 1)),
    ('dip', lambda u: abs(2 * u - 1)),
)


def render_video(rng: np.random.Generator,
                 label: int,
                 num_frames: int = 16,
                 size: int = 96,
                 speed: float = 2.0,
                 num_shapes: int = 4) -> np.ndarray:
    """Render one clip of class ``label``.

    Args:
        rng (np.random.Generator): Random source.
        label (int): Index into :data:`CLASSES`.
        num_frames (int): Frames. Defaults to 16.
        size (int): Frame height; the width is 4/3 of it. Defaults to 96.
        speed (float): Mean drift in pixels per frame. Defaults to 2.
        num_shapes (int): Shapes. Defaults to 4.

    Returns:
        np.ndarray: uint8 frames (T, H, 4H/3, 3), BGR.
    """
    profile = CLASSES[label][1]
    h, w = size, size * 4 // 3
    bg = rng.integers(40, 216, (h // 8, w // 8, 3), dtype=np.uint8)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_NEAREST)
    bg = cv2.GaussianBlur(bg, (5, 5), 0)
    for _ in range(6):  # static clutter
        c = tuple(int(v) for v in rng.integers(40, 216, 3))
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(bg, p, int(rng.integers(3, 8)), c, -1)
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    shapes = []
    for _ in range(num_shapes):
        shapes.append(
            dict(
                pos=rng.uniform(0, 1, 2) * (w, h),
                r=int(rng.integers(size // 10, size // 6)),
                color=rng.uniform(0.5, 1.0, 3) * 255,
                square=bool(rng.integers(0, 2)),
                v=speed * rng.uniform(0.5, 1.5)))
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    for t in range(num_frames):
        img = bg.copy()
        gain = 0.1 + 0.9 * profile(t / max(num_frames - 1, 1))
        for s in shapes:
            x, y = (s['pos'] + direction * s['v'] * t) % (w, h)
            x, y = int(x), int(y)
            color = tuple(float(c) * gain for c in s['color'])
            if s['square']:
                cv2.rectangle(img, (x - s['r'], y - s['r']),
                              (x + s['r'], y + s['r']), color, -1)
            else:
                cv2.circle(img, (x, y), s['r'], color, -1)
        frames[t] = img
    return frames


def write_video(path: str, frames: np.ndarray, fps: int = 30) -> None:
    """Write BGR frames as an MPEG-4 part 2 (``mp4v``) file decord reads."""
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot open a mp4v writer for {path!r}')
    for f in frames:
        writer.write(f)
    writer.release()


def generate_synthetic_kinetics(root: str,
                                num_train: int = 400,
                                num_val: int = 100,
                                num_frames: int = 16,
                                size: int = 96,
                                seed: int = 0,
                                splits: Optional[Sequence[str]] = None,
                                speed: float = 2.0) -> Dict[str, str]:
    """Write the synthetic dataset in Kinetics video-list format.

    Layout::

        root/videos/{train,val}/<class>_<i>.mp4
        root/{train,val}_list_videos.txt   # "train/<class>_<i>.mp4 <label>"
        root/label_map.txt                 # one class name per line

    Classes are balanced. Files that already exist are kept, so calling it
    twice is cheap.

    Args:
        root (str): Output directory.
        num_train (int): Training videos. Defaults to 400.
        num_val (int): Held-out videos. Defaults to 100.
        num_frames (int): Frames per video. Defaults to 16.
        size (int): Frame height (width = 4/3 of it). Defaults to 96.
        seed (int): Random seed (val uses ``seed + 1``). Defaults to 0.
        splits (Sequence[str], optional): Subset of ``('train', 'val')``.
        speed (float): Mean drift in pixels per frame. Defaults to 2.

    Returns:
        dict: split -> list file path.
    """
    counts = {'train': num_train, 'val': num_val}
    out = {}
    with open(osp.join(_mkdir(root), 'label_map.txt'), 'w') as f:
        f.write('\n'.join(name for name, _ in CLASSES) + '\n')
    for k, split in enumerate(splits or ('train', 'val')):
        rng = np.random.default_rng(seed + k)
        vdir = _mkdir(osp.join(root, 'videos', split))
        lines = []
        for i in range(counts[split]):
            label = i % len(CLASSES)
            name = f'{CLASSES[label][0]}_{i:05d}.mp4'
            path = osp.join(vdir, name)
            frames = render_video(rng, label, num_frames, size, speed)
            if not osp.exists(path):
                write_video(path, frames)
            lines.append(f'{split}/{name} {label}')
        out[split] = osp.join(root, f'{split}_list_videos.txt')
        with open(out[split], 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return out


def _mkdir(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path
