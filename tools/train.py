# Copyright (c) mmx3d contributors. All rights reserved.
"""Train a model from a config with MMEngine's Runner.

Examples::

    python tools/train.py configs/x3d/x3d_s_kinetics400.py
    tools/dist_train.sh configs/x3d/x3d_s_kinetics400.py 8 --amp
    python tools/train.py CONFIG                 # resumes if the work dir
                                                 # holds a checkpoint
    python tools/train.py CONFIG --resume PATH.pth   # a given checkpoint
    python tools/train.py CONFIG --no-resume     # start over

Rerunning a command continues from the newest complete checkpoint of its
work dir (damaged files skipped, the file used is logged); ``--no-resume``
starts over. A work dir is locked while a training runs in it.
"""
import argparse
import os

from mmx3d.apis.runner import build_runner, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train an mmx3d model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and models')
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        metavar='PATH',
        help='resume from the given checkpoint (an error if it is damaged). '
        'The default, also with no value: resume from the newest complete '
        'checkpoint in the work dir (damaged files skipped with a log '
        'line), or train from scratch if there is none')
    resume.add_argument(
        '--no-resume',
        dest='resume',
        action='store_const',
        const=False,
        help='start over, even if the work dir holds checkpoints (they are '
        'overwritten as the new run saves)')
    parser.add_argument(
        '--amp', action='store_true', help='mixed precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        choices=['on', 'off'],
        help='override the config\'s auto_scale_lr.enable')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--deterministic', action='store_true',
        help='deterministic cuDNN/torch algorithms')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=_DictAction,
        help='override config settings, key=value (xxx=yyy)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.resume is None:  # neither flag: resume if there is a checkpoint
        args.resume = 'auto'
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _dict_action():
    from mmengine.config import DictAction
    return DictAction


_DictAction = _dict_action()


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    runner = build_runner(
        cfg,
        work_dir=args.work_dir,
        launcher=args.launcher,
        resume=args.resume,
        amp=args.amp,
        no_validate=args.no_validate,
        auto_scale_lr=args.auto_scale_lr,
        seed=args.seed,
        deterministic=args.deterministic)
    runner.train()


if __name__ == '__main__':
    main()
