# Copyright (c) mmx3d contributors. All rights reserved.
"""Write the built-in synthetic AVA-format dataset.

Example::

    python tools/data/ava/generate_synthetic.py data/ava_synthetic
    python tools/train.py configs/x3d/x3d_xs_ava_synthetic.py
"""
import argparse

from mmx3d.datasets.ava_synthetic import generate_synthetic_ava


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('root', nargs='?', default='data/ava_synthetic')
    p.add_argument('--train-videos', type=int, default=12)
    p.add_argument('--val-videos', type=int, default=4)
    p.add_argument('--keyframes', type=int, default=8,
                   help='key frames per video (902, 903, ...)')
    p.add_argument('--width', type=int, default=96)
    p.add_argument('--height', type=int, default=72)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    out = generate_synthetic_ava(a.root, a.train_videos, a.val_videos,
                                 a.keyframes, a.width, a.height, a.seed)
    for k, v in out.items():
        print(f'{k}: {v}')


if __name__ == '__main__':
    main()
