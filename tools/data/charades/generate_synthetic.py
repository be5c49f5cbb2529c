# Copyright (c) mmx3d contributors. All rights reserved.
"""Write the Charades-format mini dataset (synthetic overlapping actions).

Example::

    python tools/data/charades/generate_synthetic.py data/charades_synthetic
    python tools/train.py configs/x3d/x3d_xs_charades_synthetic.py
"""
import argparse

from mmx3d.datasets import charades_synthetic


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('root', nargs='?', default='data/charades_synthetic')
    p.add_argument('--train', type=int, default=96, help='training videos')
    p.add_argument('--test', type=int, default=32, help='held-out videos')
    p.add_argument('--frames', type=int, default=24, help='frames a video')
    p.add_argument('--fps', type=float, default=8.0)
    p.add_argument('--height', type=int, default=32)
    p.add_argument('--width', type=int, default=64)
    p.add_argument('--max-actions', type=int, default=3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--rawframes', action='store_true',
                   help='also write JPEG frames (Charades_v1_rgb layout)')
    a = p.parse_args(argv)
    out = charades_synthetic.generate_synthetic_charades(
        a.root, a.train, a.test, a.frames, a.fps, (a.height, a.width),
        a.max_actions, a.seed, a.rawframes)
    for split, path in out.items():
        print(f'{split}: {path}')


if __name__ == '__main__':
    main()
