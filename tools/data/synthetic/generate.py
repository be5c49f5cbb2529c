# Copyright (c) mmx3d contributors. All rights reserved.
"""Write the built-in synthetic dataset (Kinetics list format): four
classes that differ only in how the shapes' brightness evolves over a clip.

Example::

    python tools/data/synthetic/generate.py data/synthetic --train 400 \
        --val 100
"""
import argparse

from mmx3d.datasets.synthetic import generate_synthetic_kinetics


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('root', nargs='?', default='data/synthetic')
    p.add_argument('--train', type=int, default=400)
    p.add_argument('--val', type=int, default=100)
    p.add_argument('--frames', type=int, default=16)
    p.add_argument('--size', type=int, default=96)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    out = generate_synthetic_kinetics(a.root, a.train, a.val, a.frames,
                                      a.size, a.seed)
    for split, path in out.items():
        print(f'{split}: {path}')


if __name__ == '__main__':
    main()
