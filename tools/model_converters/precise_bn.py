# Copyright (c) mmx3d contributors. All rights reserved.
"""Recompute a checkpoint's BN statistics over training batches (precise BN).

Repairs checkpoints written before mmx3d 0.2.0, whose head BN was left at
mean 0 / variance 1 by precise BN (docs/changelog.md)::

    python tools/model_converters/precise_bn.py \\
        configs/x3d/x3d_xs_synthetic.py OLD.pth --out FIXED.pth
"""
import argparse

from mmengine.config import DictAction

from mmx3d.apis.recompute_bn import recompute_bn


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the config it was trained with')
    parser.add_argument('checkpoint', help='checkpoint (any X3D format)')
    parser.add_argument('--out', required=True, help='output checkpoint')
    parser.add_argument('--num-batches', type=int, default=200,
                        help='training batches to average over')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    used = recompute_bn(args.config, args.checkpoint, args.out,
                        args.num_batches, args.cfg_options)
    print(f'BN statistics recomputed over {used} training batches: '
          f'{args.out}')


if __name__ == '__main__':
    main()
