# Copyright (c) mmx3d contributors. All rights reserved.
"""Training and inference throughput, GFLOP/s and peak memory of an X3D
config, optionally against MMAction2's and PyTorchVideo's X3D.

Examples::

    # mmx3d alone, X3D-S at its training clip (13x160x160), batch 4
    python tools/analysis/benchmark.py configs/x3d/x3d_s_kinetics400.py \\
        --batch 4
    # the three implementations, ratios, JSON for scripts
    python tools/analysis/benchmark.py configs/x3d/x3d_s_kinetics400.py \\
        --batch 4 --compare --rounds 5 --json s.json
    # inference only: mmx3d BN folded, eager and through ONNX Runtime
    python tools/analysis/benchmark.py configs/x3d/x3d_xs_kinetics400.py \\
        --mode infer --batch 1 --threads 1
    # also the training data pipeline (clips/s per dataloader worker)
    python tools/analysis/benchmark.py configs/x3d/x3d_s_kinetics400.py \\
        --mode train --data

What is timed (after ``--warmup`` untimed iterations):

* ``train``: one optimisation step on a batch of random uint8 clips of the
  variant's shape: data preprocessor (normalisation), forward, loss,
  backward and an SGD step (MMEngine's ``train_step`` for mmx3d and
  MMAction2, the same steps by hand for PyTorchVideo).
* ``infer``: ``test_step`` under ``torch.no_grad`` (preprocessor, forward,
  softmax). The mmx3d figure is the deploy path: BN folded into the convs
  (:func:`mmx3d.models.utils.fuse_bn`); the largest difference of its logits
  from the unfused model's is reported (``deploy_max_abs_diff``). Beside
  it, in the same rounds, ``mmx3d_eager`` (BN not folded) and, where
  ``onnxruntime`` is installed and the device is the CPU, ``onnxruntime``:
  the model exported by :func:`mmx3d.apis.deploy.export_onnx` to a
  temporary file (normalisation + ONNX Runtime, as many threads as
  PyTorch), with the largest difference of its probabilities from
  PyTorch's (``onnx_max_abs_diff``). ``--no-deploy-paths`` leaves both
  out; ``--impls`` picks implementations explicitly.

mmx3d is benchmarked as the config ships it: the shipped configs turn on
``channels_last=True`` (backbone and data preprocessor) and ``fused_ops=True``,
and their runtime sets a glibc malloc policy (``env_cfg.cpu_malloc``, which
``tools/train.py`` and ``tools/test.py`` apply; :mod:`mmx3d.utils.malloc`),
so mmx3d's workers run with it; ``--plain`` switches all three off for
comparison. ``--malloc-all`` gives every implementation the policy: the
comparison of the models alone. MMAction2's
``X3D`` + ``X3DHead`` and PyTorchVideo's ``create_x3d`` (if installed) are
built with the same expansion factors and run as published (default memory
format). All run in fp32 unless ``--amp`` (CUDA only).

Every implementation runs in its own worker process (CPU peak memory,
``VmHWM``, is per process; it includes the ~0.6 GB of imported libraries,
also reported as ``base``), all importing the same libraries, driven in
rounds with a rotating order; the speed-up is the median of the per-round
time ratios, with ``best-of`` and ``CPU time`` ratios for busy machines
(:mod:`mmx3d.benchmark.compare`). On GPU the peak is
``torch.cuda.max_memory_allocated``. ``--inprocess`` runs everything in
this process instead (fast; no per-implementation memory).

GFLOP/s counts the multiply-adds of conv and linear layers, as the X3D
paper counts FLOPs, of one forward pass; a training step counts 3x that.
The workers inherit the environment, so allocator settings exported before
the command (``MALLOC_*``, ``THP_MEM_ALLOC_ENABLE``) apply to every
implementation (mmx3d's workers then set ``env_cfg.cpu_malloc`` on top).

``--json PATH`` writes ``{impl: {"train_clips_per_s", "infer_clips_per_s",
"train_peak_mem_mb", "infer_peak_mem_mb", ...}}`` for ``impl`` in
``mmx3d``, ``mmaction2``, ``pytorchvideo``, ``mmx3d_eager``,
``onnxruntime``; the ``mmx3d`` entry also holds
the ratios (``train_speedup_vs_mmaction2``, ``train_mem_ratio_vs_...``,
``infer_deploy_max_abs_diff``, ``data_clips_per_s_per_worker``, ...).

``--data`` times the config's training pipeline (decode, sample, augment)
on synthetic videos written to a temporary directory, in this process with
one thread, i.e. clips/s of one dataloader worker, with a per-transform
breakdown, and suggests ``num_workers`` for the measured training speed.
"""
import argparse
import json
from typing import Dict, List

import torch
from mmengine.config import DictAction

from mmx3d.apis.runner import load_config
from mmx3d.benchmark import (
    ALL_IMPLS,
    DEPLOY_IMPLS,
    IMPLS,
    BenchOptions,
    data_throughput,
    format_report,
    import_pytorchvideo_x3d,
    json_results,
    model_spec,
    onnxruntime_available,
    run_benchmark,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Benchmark training/inference of an X3D config',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='config file')
    p.add_argument('--batch', type=int, default=4, help='clips per batch')
    p.add_argument('--mode', choices=['train', 'infer', 'both'],
                   default='both')
    p.add_argument('--compare', action='store_true',
                   help='also MMAction2\'s X3D and (if installed) '
                   'PyTorchVideo\'s create_x3d; print the ratios')
    p.add_argument('--impls', nargs='+', choices=ALL_IMPLS,
                   help='implementations to run (default: mmx3d, or all '
                   'available with --compare; at inference also '
                   'mmx3d_eager and onnxruntime, if installed)')
    p.add_argument('--no-deploy-paths', action='store_true',
                   help='leave out the mmx3d_eager and onnxruntime '
                   'inference runs')
    p.add_argument('--shape', type=int, nargs=3, metavar=('T', 'H', 'W'),
                   help='clip shape (default: the config\'s training clip)')
    p.add_argument('--iters', type=int, default=1,
                   help='timed iterations per implementation and round')
    p.add_argument('--warmup', type=int, default=2,
                   help='untimed iterations before the first round')
    p.add_argument('--rounds', type=int, default=10,
                   help='rounds (implementations alternate within each)')
    p.add_argument('--threads', type=int, default=None,
                   help='CPU threads (default: torch\'s default)')
    p.add_argument('--device', default='cpu', help='cpu or cuda[:i]')
    p.add_argument('--amp', action='store_true',
                   help='mixed precision (CUDA only)')
    p.add_argument('--compile', action='store_true',
                   help='torch.compile the mmx3d backbone and head')
    p.add_argument('--plain', action='store_true',
                   help='mmx3d without channels-last, fused ops and the '
                   'malloc policy (the shipped configs turn them on)')
    p.add_argument('--malloc-all', action='store_true',
                   help='every implementation with the config\'s '
                   'env_cfg.cpu_malloc (default: mmx3d only, as shipped): '
                   'the models alone')
    p.add_argument('--no-deploy', action='store_true',
                   help='mmx3d inference without BN folding')
    p.add_argument('--inprocess', action='store_true',
                   help='run all implementations in this process (no '
                   'per-implementation peak memory)')
    p.add_argument('--data', action='store_true',
                   help='also time the training data pipeline')
    p.add_argument('--data-videos', type=int, default=4,
                   help='synthetic videos for --data')
    p.add_argument('--data-iters', type=int, default=12,
                   help='pipeline runs for --data')
    p.add_argument('--data-size', type=int, default=256,
                   help='frame height of the synthetic videos (width 4/3)')
    p.add_argument('--json', help='write the results to this JSON file')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='config overrides key=value (MMEngine syntax)')
    return p.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    if args.amp and not args.device.startswith('cuda'):
        raise SystemExit('--amp needs --device cuda')
    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads_before)


def default_impls(args) -> List[str]:
    """mmx3d (all of :data:`IMPLS` with ``--compare``) and, when inference
    is timed, the deploy paths: ``mmx3d_eager`` unless ``--no-deploy``
    (then ``mmx3d`` is eager itself) and ``onnxruntime`` if installed."""
    impls = list(IMPLS) if args.compare else ['mmx3d']
    if args.mode == 'train' or args.no_deploy_paths:
        return impls
    for impl in DEPLOY_IMPLS:
        if impl == 'mmx3d_eager' and args.no_deploy:
            continue
        if impl == 'onnxruntime' and not onnxruntime_available():
            print('onnxruntime is not installed: its inference run is '
                  'skipped (pip install mmx3d[deploy])')
            continue
        impls.append(impl)
    return impls


def run(args) -> Dict:
    cfg = load_config(args.config, args.cfg_options)
    spec = model_spec(cfg, args.shape)
    opts = BenchOptions(
        config=args.config, cfg_options=args.cfg_options, shape=args.shape,
        batch=args.batch, device=args.device, amp=args.amp,
        compile=args.compile, plain=args.plain, no_deploy=args.no_deploy,
        seed=args.seed, threads=args.threads, malloc_all=args.malloc_all)
    impls = args.impls or default_impls(args)
    if 'pytorchvideo' in impls and import_pytorchvideo_x3d() is None:
        print('PyTorchVideo is not installed: skipped')
        impls = [i for i in impls if i != 'pytorchvideo']
    if 'onnxruntime' in impls and not args.device.startswith('cpu'):
        print('onnxruntime runs on CPU only here: skipped')
        impls = [i for i in impls if i != 'onnxruntime']
    t, h, w = spec['shape']
    print(f'config: {args.config}  arch: {spec["arch"]}  clip: {t}x{h}x{w}  '
          f'batch: {args.batch}  device: {args.device}  threads: '
          f'{args.threads or torch.get_num_threads()}  '
          f'{"amp" if args.amp else "fp32"}')
    print('mmx3d: ' + ('plain (channels-first, no fused ops, C library '
                       'malloc)' if args.plain else 'as shipped: '
                       'channels_last_3d + fused_ops + env_cfg.cpu_malloc') +
          ('' if args.no_deploy else ', inference with BN folded') +
          (', torch.compile' if args.compile else ''))
    phases = ['train', 'infer'] if args.mode == 'both' else [args.mode]
    report = run_benchmark(cfg, spec, opts, impls, phases, args.rounds,
                           args.iters, args.warmup, args.inprocess,
                           log=lambda line: print(line, flush=True))
    if args.data:
        report['data'] = data_throughput(cfg, args.data_videos,
                                         args.data_iters, args.data_size,
                                         args.seed)
    print(format_report(report, spec, opts, args.rounds, args.iters))
    results = json_results(report)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'results written to {args.json}')
    return results


if __name__ == '__main__':
    main()
