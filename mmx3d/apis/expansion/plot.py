# Copyright (c) mmx3d contributors. All rights reserved.
"""Accuracy against GFLOPs of an expansion search (the paper's Fig. 2)."""
from typing import Dict, List, Sequence

from .operators import AXES, AXIS_NAMES

_MARKERS = dict(fast='>', temporal='s', spatial='D', depth='v', width='^',
                bottleneck='o')


def plot_trajectory(rows: Sequence[Dict], out: str,
                    title: str = 'X3D stepwise expansion') -> str:
    """Plot every candidate and the chosen path; write a PNG.

    Uses Matplotlib's Agg canvas directly (no ``pyplot``, no change of the
    global backend).

    Args:
        rows (Sequence[dict]): Trajectory rows (``step``, ``axis``,
            ``gflops``, ``acc``, ``chosen``).
        out (str): Output PNG path.
        title (str): Figure title. Defaults to 'X3D stepwise expansion'.

    Returns:
        str: ``out``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    done = [r for r in rows if r.get('acc') is not None]
    for axis in AXES:
        pts = [r for r in done if r['axis'].split('_')[0] == axis]
        if pts:
            ax.scatter([r['gflops'] for r in pts],
                       [100 * r['acc'] for r in pts],
                       marker=_MARKERS[axis], s=28, alpha=0.6,
                       label=AXIS_NAMES[axis])
    path: List[Dict] = sorted((r for r in done if r['chosen']),
                              key=lambda r: (r['step'], r['gflops']))
    if path:
        ax.plot([r['gflops'] for r in path], [100 * r['acc'] for r in path],
                '-', color='black', lw=1.2, marker='o', ms=4,
                label='chosen path')
        for r in path:
            name = 'start' if r['axis'] == 'start' else r['axis'].split(
                '_')[0]
            ax.annotate(f'{r["step"]}: {name}', (r['gflops'], 100 * r['acc']),
                        textcoords='offset points', xytext=(4, -10),
                        fontsize=7)
    ax.set_xscale('log')
    ax.set_xlabel('GFLOPs per clip (training crop)')
    ax.set_ylabel('validation top-1 (%)')
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.margins(x=0.12, y=0.08)
    ax.legend(fontsize=7, loc='upper left')
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    return out
