# Copyright (c) mmx3d contributors. All rights reserved.
"""Print parameters and GFLOPs (multiply-adds of conv and linear layers) of
a config's model for one clip.

Example::

    python tools/analysis/get_flops.py configs/x3d/x3d_s_kinetics400.py
    python tools/analysis/get_flops.py configs/x3d/x3d_m_kinetics400.py \
        --shape 16 256 256
"""
import argparse

from mmx3d.apis.runner import load_config
from mmx3d.utils.complexity import (
    clip_shape_from_cfg,
    recognizer_complexity,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Params and GFLOPs')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape', type=int, nargs=3, metavar=('T', 'H', 'W'),
        help='clip shape; default: the config\'s training clip')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config)
    from mmengine.registry import init_default_scope

    from mmx3d.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmx3d'))
    model = MODELS.build(cfg.model)
    shape = tuple(args.shape) if args.shape else clip_shape_from_cfg(cfg)
    res = recognizer_complexity(model, shape)
    print(f'Config: {args.config}')
    print(f'Input clip: 3x{shape[0]}x{shape[1]}x{shape[2]} (C x T x H x W)')
    print(f'Params: {res["params"]:,} ({res["params"] / 1e6:.2f}M incl. BN; '
          f'{res["params_no_bn"]:,} without BN)')
    print(f'GFLOPs: {res["gflops"]:.2f} (multiply-adds of conv and linear '
          'layers)')
    return res


if __name__ == '__main__':
    main()
