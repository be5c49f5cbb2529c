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


def prepare_output(path: str, option: str) -> str:
    """Make sure ``path`` can be written before the test runs.

    Creates its directory; fails at once (not after hours of testing) if
    that cannot be done or the file cannot be created there.

    Args:
        path (str): The output file.
        option (str): The command-line option, for the message.

    Returns:
        str: The absolute path.

    Raises:
        SystemExit: naming the option, the path and the reason.
    """
    path = osp.abspath(osp.expanduser(path))
    if osp.isdir(path):
        raise SystemExit(f'{option} {path!r} is a directory; give a file '
                         'name')
    folder = osp.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        probe = f'{path}.{os.getpid()}.probe'
        with open(probe, 'w'):
            pass
        os.remove(probe)
    except OSError as e:
        raise SystemExit(f'{option} {path!r}: cannot write to {folder!r} '
                         f'({e.strerror or e}); nothing was tested') from None
    return path


def write_metrics(path: str, record: dict) -> None:
    """Write the metrics JSON atomically (a temporary file, then rename)."""
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=2)
    os.replace(tmp, path)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test an mmx3d model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (any format '
                        'mmx3d loads)')
    parser.add_argument('--work-dir', help='directory for logs and results')
    parser.add_argument('--dump', help='pickle file for the predictions')
    parser.add_argument(
        '--out', help='JSON file for the metrics (default: '
        '<work_dir>/test_metrics.json); its directory is created, and the '
        'test does not start if it cannot be written')
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
    out = prepare_output(args.out, '--out') if args.out else None
    if args.dump:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise SystemExit(f'--dump {args.dump!r}: expected a .pkl file')
        args.dump = prepare_output(args.dump, '--dump')
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
    out = out or osp.join(runner.work_dir, 'test_metrics.json')
    if runner.rank == 0:
        record = dict(config=args.config, checkpoint=args.checkpoint)
        record.update({k: float(v) for k, v in metrics.items()})
        write_metrics(out, record)
        print(f'metrics written to {out}')
    return metrics


if __name__ == '__main__':
    main()
