# Copyright (c) mmx3d contributors. All rights reserved.
"""What a long-video run writes: CSV and JSON, a timeline PNG of classes
against time, and the video with the current top class drawn on it."""
import bisect
import csv
import json
import os.path as osp
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .clips import VideoFrameReader
from .recognize import LongVideoResult
from .windows import Window


def _row(w: Window) -> Dict:
    return dict(index=w.index, start=float(w.start), end=float(w.end),
                start_frame=w.start_frame, end_frame=w.end_frame)


def write_csv(result: LongVideoResult, path: str) -> str:
    """One row per window: ``index, start, end`` (seconds, 6 decimals),
    ``start_frame, end_frame`` (end exclusive), then ``label_1, score_1,
    ... label_k, score_k``.

    Args:
        result (LongVideoResult): From :func:`.recognize_long`.
        path (str): The CSV file.

    Returns:
        str: ``path``.
    """
    k = max((len(w.topk) for w in result.windows), default=0)
    header = ['index', 'start', 'end', 'start_frame', 'end_frame']
    for j in range(1, k + 1):
        header += [f'label_{j}', f'score_{j}']
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', newline='', encoding='utf-8') as f:
        out = csv.writer(f)
        out.writerow(header)
        for w in result.windows:
            row = [w.index, f'{float(w.start):.6f}', f'{float(w.end):.6f}',
                   w.start_frame, w.end_frame]
            for _, name, score in w.topk:
                row += [name, f'{score:.6f}']
            out.writerow(row)
    return path


def to_json(result: LongVideoResult) -> Dict:
    """The JSON document :func:`write_json` writes.

    Returns:
        dict: ``video, fps, num_frames, duration, window, hop, backend,
        wall_s, realtime_factor, max_frames_held`` and ``windows``: per
        window ``index, start, end, start_frame, end_frame, frame_inds``
        and ``topk`` (``class, label, score``).
    """
    return dict(
        video=result.video, fps=float(result.fps),
        num_frames=result.num_frames, duration=float(result.duration),
        window=float(result.window), hop=float(result.hop),
        backend=result.backend, wall_s=result.wall_s,
        realtime_factor=result.realtime_factor,
        max_frames_held=result.max_frames_held,
        windows=[
            dict(_row(w), frame_inds=w.frame_inds.tolist(),
                 topk=[dict(label=n, score=s, **{'class': c})
                       for c, n, s in w.topk]) for w in result.windows
        ])


def write_json(result: LongVideoResult, path: str) -> str:
    """Write :func:`to_json` of ``result`` to ``path``; return ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(to_json(result), f, indent=1)
    return path


def timeline_matrix(result: LongVideoResult, max_classes: int = 10
                    ) -> Tuple[List[str], np.ndarray]:
    """Classes to plot and their score per window.

    The classes are those in any window's top-k, the ``max_classes`` with
    the largest summed score, ordered by first top-1 appearance (then by
    summed score). A class outside a window's top-k scores 0 there.

    Returns:
        tuple[list[str], np.ndarray]: Names and a (classes, windows) matrix.
    """
    total: Dict[str, float] = {}
    for w in result.windows:
        for _, name, score in w.topk:
            total[name] = total.get(name, 0.0) + score
    keep = sorted(total, key=lambda n: -total[n])[:max_classes]
    first = {}
    for w in result.windows:
        if w.topk and w.topk[0][1] in keep:
            first.setdefault(w.topk[0][1], w.index)
    keep.sort(key=lambda n: (first.get(n, len(result.windows)), -total[n]))
    row = {n: r for r, n in enumerate(keep)}
    mat = np.zeros((len(keep), len(result.windows)))
    for w in result.windows:
        for _, name, score in w.topk:
            if name in row:
                mat[row[name], w.index] = score
    return keep, mat


def plot_timeline(result: LongVideoResult, path: str,
                  max_classes: int = 10, dpi: int = 80) -> str:
    """A PNG of classes against time: each window's top-k probabilities as
    a colour band over the window's hop around its centre, the top-1 class
    marked with a dot.

    Args:
        result (LongVideoResult): From :func:`.recognize_long`.
        path (str): The PNG file.
        max_classes (int): Most classes (rows) shown. Defaults to 10.
        dpi (int): Resolution. Defaults to 80.

    Returns:
        str: ``path``.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    names, mat = timeline_matrix(result, max_classes)
    centers = np.array([float(w.center) for w in result.windows])
    edges = np.concatenate([[float(result.windows[0].start)],
                            (centers[1:] + centers[:-1]) / 2,
                            [float(result.windows[-1].end)]])
    fig = Figure(figsize=(8, 1.2 + 0.35 * max(len(names), 1)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    mesh = ax.pcolormesh(edges, np.arange(len(names) + 1) - 0.5, mat,
                         cmap=matplotlib.colormaps['Blues'], vmin=0, vmax=1)
    row = {n: r for r, n in enumerate(names)}
    top = [(c, row[w.topk[0][1]]) for c, w in zip(centers, result.windows)
           if w.topk and w.topk[0][1] in row]
    if top:
        xs, ys = zip(*top)
        ax.plot(xs, ys, 'o', color='tab:red', markersize=3, label='top-1')
        ax.legend(loc='lower right', bbox_to_anchor=(1, 1), fontsize=7,
                  frameon=False)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, float(result.duration))
    ax.set_xlabel('time (s)')
    ax.set_title(f'{osp.basename(result.video)}: window '
                 f'{float(result.window):g} s, hop {float(result.hop):g} s',
                 fontsize=9)
    fig.colorbar(mesh, ax=ax, label='probability', fraction=0.03)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def label_at(result: LongVideoResult, t: float) -> Optional[Window]:
    """The window whose centre is nearest to time ``t`` (seconds)."""
    if not result.windows:
        return None
    centers = [float(w.center) for w in result.windows]
    k = bisect.bisect_left(centers, t)
    near = [j for j in (k - 1, k) if 0 <= j < len(centers)]
    return result.windows[min(near, key=lambda j: abs(centers[j] - t))]


def draw_label(frame_bgr: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Draw text lines on a BGR frame, top left, in place (OpenCV).

    Returns:
        np.ndarray: ``frame_bgr``.
    """
    import cv2
    h = frame_bgr.shape[0]
    scale = max(0.35, h / 480.0)
    for j, text in enumerate(lines):
        y = int((j + 1) * 22 * scale) + 4
        cv2.putText(frame_bgr, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(frame_bgr, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return frame_bgr


def write_overlay_video(result: LongVideoResult, path: str,
                        lines: int = 1) -> str:
    """The video with the top class of the window nearest in time drawn on
    each frame (a second sequential pass over the file; mp4v, OpenCV).

    Args:
        result (LongVideoResult): From :func:`.recognize_long`.
        path (str): The output file (``.mp4``).
        lines (int): Top classes drawn. Defaults to 1.

    Returns:
        str: ``path``.
    """
    import cv2
    reader = VideoFrameReader(result.video)
    writer = None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        for i, rgb in reader.read(range(reader.num_frames)):
            if writer is None:
                h, w = rgb.shape[:2]
                writer = cv2.VideoWriter(
                    path, cv2.VideoWriter_fourcc(*'mp4v'),
                    float(reader.fps), (w, h))
                if not writer.isOpened():
                    raise OSError(f'OpenCV cannot write {path!r}')
            win = label_at(result, float(i / reader.fps))
            text = [f'{s:.2f} {n}' for _, n, s in (win.topk if win else
                                                   [])[:lines]]
            writer.write(draw_label(np.ascontiguousarray(rgb[..., ::-1]),
                                    text))
    finally:
        if writer is not None:
            writer.release()
    return path
