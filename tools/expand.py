# Copyright (c) mmx3d contributors. All rights reserved.
"""Grow an X3D for your data and budget by the paper's stepwise expansion.

Each step writes one config per axis (X-Fast, X-Temporal, X-Spatial,
X-Depth, X-Width, X-Bottleneck; each ~c_hat x the FLOPs of the current
model), trains and validates each with tools/train.py (or dist_train.sh /
slurm_train.sh), keeps the best and goes on; see docs/expansion.md.
Rerunning the same command continues an interrupted search.

Examples::

    python tools/expand.py configs/x3d/x3d_x2d_synthetic.py --steps 3 \
        --epochs 1 --work-dir work_dirs/expand_synthetic
    python tools/expand.py configs/x3d/x3d_x2d_synthetic.py --steps 10 \
        --target-gflops 0.05 --select acc_per_logflops
    python tools/expand.py BASE --steps 11 --paper-regularisation \
        --launcher slurm --partition gpu --gpus 8
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmx3d.apis.expansion import (
    AXES,
    LAUNCHERS,
    SELECT_RULES,
    Launcher,
    Regularisation,
    run_search,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='X3D stepwise expansion search')
    p.add_argument('config', help='base (start) config, e.g. X2D')
    p.add_argument('--steps', type=int, required=True,
                   help='most expansion steps')
    p.add_argument('--target-gflops', type=float,
                   help='FLOP budget per clip: stop once exceeded, then '
                   'contract the last axis onto it')
    p.add_argument('--c-hat', type=float, default=2.0,
                   help='FLOP ratio of one expansion step (default 2)')
    p.add_argument('--work-dir',
                   help='default: work_dirs/expand_<config name>')
    p.add_argument('--select', choices=SELECT_RULES, default='acc',
                   help='which candidate a step keeps: best validation '
                   'accuracy, or best accuracy gain per log-FLOPs')
    p.add_argument('--axes', nargs='+', default=list(AXES),
                   help=f'axes tried per step (default all: {list(AXES)})')
    p.add_argument('--epochs', type=int,
                   help='training epochs of each candidate (the schedule '
                   'is rescaled); default: the base config\'s')
    p.add_argument('--metric', default='acc/top1',
                   help='validation metric to select on')
    p.add_argument('--crop-divisor', type=int, default=8,
                   help='X-Spatial crops are multiples of it (default 8)')
    p.add_argument('--launcher', choices=LAUNCHERS, default='local',
                   help='local: tools/train.py; dist: tools/dist_train.sh; '
                   'slurm: tools/slurm_train.sh (a step\'s candidates at '
                   'once)')
    p.add_argument('--gpus', type=int, default=1,
                   help='processes (dist) or Slurm tasks per candidate')
    p.add_argument('--partition', help='Slurm partition (--launcher slurm)')
    p.add_argument('--seed', type=int, default=0,
                   help='training seed of every candidate')
    reg = p.add_argument_group(
        'regularisation (the paper: --paper-regularisation)')
    reg.add_argument('--paper-regularisation', action='store_true',
                     help='= --double-batch-until 8 --bn-clips 16 '
                     '--drop-connect 0.1 --drop-connect-from 11')
    reg.add_argument('--double-batch-until', type=int, default=0,
                     help='steps before this one: x2 batch, half schedule')
    reg.add_argument('--bn-clips', type=int,
                     help='BN statistics over groups of this many clips')
    reg.add_argument('--drop-connect', type=float, default=0.0,
                     help='drop-connect rate')
    reg.add_argument('--drop-connect-from', type=int, default=11,
                     help='first step with drop-connect')
    p.add_argument('--no-plot', action='store_true',
                   help='do not write trajectory.png')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override base config settings, key=value; '
                   'written into every generated config')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    reg = Regularisation.paper() if args.paper_regularisation else \
        Regularisation(double_batch_until=args.double_batch_until,
                       bn_clips=args.bn_clips, drop_connect=args.drop_connect,
                       drop_connect_from=args.drop_connect_from)
    name = osp.splitext(osp.basename(args.config))[0]
    work_dir = args.work_dir or osp.join('work_dirs', f'expand_{name}')
    launcher = Launcher(
        tools_dir=osp.dirname(osp.abspath(__file__)), kind=args.launcher,
        gpus=args.gpus, partition=args.partition, seed=args.seed)
    res = run_search(
        args.config, work_dir, args.steps, launcher, c_hat=args.c_hat,
        target_gflops=args.target_gflops, axes=args.axes,
        select=args.select, epochs=args.epochs, regularisation=reg,
        cfg_options=args.cfg_options, crop_divisor=args.crop_divisor,
        metric=args.metric, plot=not args.no_plot)
    print('step  axis                    GFLOPs    params   '
          f'{args.metric:>9s}  chosen')
    for c in res.candidates:
        print(f'{c.step:4d}  {c.axis:22s} {c.gflops:8.4f} '
              f'{c.params / 1e6:7.3f}M  {c.acc:9.4f}  '
              f'{"*" if c.chosen else ""}')
    print(f'final: {res.final.name} -> {res.final_config}')
    for k, v in sorted(res.files.items()):
        print(f'{k}: {v}')
    return res


if __name__ == '__main__':
    main()
