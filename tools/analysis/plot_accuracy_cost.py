# Copyright (c) mmx3d contributors. All rights reserved.
"""Plot top-1 against inference GFLOPs per video for a set of test runs
(the accuracy/cost trade-off of the X3D paper's supplementary Fig. A.1).

Each input is a metrics JSON written by ``tools/test.py`` (``--out``), which
holds ``acc/top1``, ``views`` and ``gflops_per_video``.

Example::

    for k in 1 3 5 10; do
      python tools/test.py CONFIG CKPT --views $k --out runs/k$k.json
    done
    python tools/analysis/plot_accuracy_cost.py runs/*.json --out fig.png
"""
import argparse
import json
import os.path as osp
from collections import defaultdict

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def load_runs(paths):
    """Group metrics files by config: {config: [(gflops, top1, views)]}."""
    runs = defaultdict(list)
    for path in paths:
        with open(path) as f:
            m = json.load(f)
        missing = [k for k in ('acc/top1', 'gflops_per_video', 'views')
                   if k not in m]
        if missing:
            raise ValueError(f'{path}: missing {missing}; expected a metrics '
                             'file written by tools/test.py --out')
        name = osp.splitext(osp.basename(m.get('config', path)))[0]
        runs[name].append((m['gflops_per_video'], 100 * m['acc/top1'],
                           int(m['views'])))
    return {k: sorted(v) for k, v in runs.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('metrics', nargs='+', help='test_metrics JSON files')
    p.add_argument('--out', default='accuracy_cost.png')
    a = p.parse_args(argv)
    runs = load_runs(a.metrics)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, pts in runs.items():
        ax.plot([x[0] for x in pts], [x[1] for x in pts], marker='o',
                label=name)
        for g, t, v in pts:
            ax.annotate(f'{v} views', (g, t), fontsize=7)
    ax.set_xscale('log')
    ax.set_xlabel('inference GFLOPs per video (views x GFLOPs per view)')
    ax.set_ylabel('top-1 (%)')
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.out, dpi=100)
    print(a.out)


if __name__ == '__main__':
    main()
