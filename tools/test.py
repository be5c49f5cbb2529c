# Copyright (c) mmx3d contributors. All rights reserved.
"""Test a checkpoint with the config's multi-view test pipeline.

Examples::

    python tools/test.py configs/x3d/x3d_s_kinetics400.py x3d_s.pth
    tools/dist_test.sh configs/x3d/x3d_s_kinetics400.py x3d_s.pth 8 \
        --dump results.pkl
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import DictAction

from mmx3d.apis.runner import build_runner, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test an mmx3d model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (any format '
                        'mmx3d loads)')
    parser.add_argument('--work-dir', help='directory for logs and results')
    parser.add_argument('--dump', help='pickle file for the predictions')
    parser.add_argument(
        '--out', help='JSON file for the metrics (default: '
        '<work_dir>/test_metrics.json)')
    parser.add_argument(
        '--views', help='test views: K clips per video (overrides the '
        'clip sampler\'s num_clips), or KxC with C = 1 for PySlowFast\'s '
        '1-crop test (short side at the training jitter\'s lower bound, '
        'centre crop at the training crop) or 3 for the config\'s 3 crops, '
        'e.g. 10x1, 10x3')
    parser.add_argument(
        '--fuse', dest='fuse', action='store_true', default=True,
        help='fold BN into convolutions before testing (the default: same '
        'scores, faster)')
    parser.add_argument(
        '--no-fuse', dest='fuse', action='store_false',
        help='test with the BN layers as trained')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    cfg.load_from = args.checkpoint
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='InferenceCostHook'),
        # PySlowFast / PyTorchVideo / MMAction2 checkpoints load as they are
        dict(type='ConvertCheckpointHook')
    ]
    if args.fuse:
        cfg.custom_hooks.append(dict(type='FuseBNHook'))
    if args.dump:
        cfg.test_evaluator = list(cfg.test_evaluator) if isinstance(
            cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
        cfg.test_evaluator.append(
            dict(type='DumpResults', out_file_path=args.dump))
    runner = build_runner(cfg, work_dir=args.work_dir,
                          launcher=args.launcher, views=args.views)
    metrics = runner.test()
    out = args.out or osp.join(runner.work_dir, 'test_metrics.json')
    if runner.rank == 0:
        record = dict(config=args.config, checkpoint=args.checkpoint)
        record.update({k: float(v) for k, v in metrics.items()})
        with open(out, 'w') as f:
            json.dump(record, f, indent=2)
        print(f'metrics written to {out}')
    return metrics


if __name__ == '__main__':
    main()
