# Copyright (c) mmx3d contributors. All rights reserved.
"""Plot training loss and validation top-1 of a work dir (PNG).

Example::

    python tools/analysis/plot_curves.py work_dirs/x3d_xs_synthetic \
        --out curves.png
"""
import argparse
import glob
import json
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def read_scalars(work_dir: str):
    """(train rows, val rows) of the newest ``scalars.json`` in a work dir."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json in {work_dir!r}')
    train, val = [], []
    for path in files:
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                (train if 'loss' in row else val).append(row)
    return train, val


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('work_dir')
    p.add_argument('--out', default=None, help='PNG path')
    a = p.parse_args(argv)
    train, val = read_scalars(a.work_dir)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot([r['step'] for r in train], [r['loss'] for r in train])
    ax[0].set_xlabel('iteration')
    ax[0].set_ylabel('training loss')
    acc = [r for r in val if 'acc/top1' in r]
    ax[1].plot([r['step'] for r in acc], [100 * r['acc/top1'] for r in acc],
               marker='o')
    ax[1].set_xlabel('epoch')
    ax[1].set_ylabel('val top-1 (%)')
    fig.tight_layout()
    out = a.out or osp.join(a.work_dir, 'curves.png')
    fig.savefig(out, dpi=100)
    print(out)


if __name__ == '__main__':
    main()
