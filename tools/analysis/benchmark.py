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
  from the unfused model's is reported (``deploy_max_abs_diff``).

mmx3d is benchmarked with its optimisations switched on on top of the
config (``channels_last=True`` in backbone and data preprocessor,
``fused_ops=True``); ``--plain`` benchmarks the config as it is. MMAction2's
``X3D`` + ``X3DHead`` and PyTorchVideo's ``create_x3d`` (if installed) are
built with the same expansion factors and run as published (default memory
format). All run in fp32 unless ``--amp`` (CUDA only).

Design of ``--compare``: CPU peak memory is a per-process high-water mark
(``VmHWM``), so every implementation runs in its own worker process, one
set of workers per phase (train, then infer), all importing the same
libraries. The parent drives them in rounds: in each round every worker
runs ``--iters`` timed iterations in turn, the order rotating from round to
round, so that drift of a shared machine (other jobs, thermal state) hits
all implementations alike. A ratio is computed per round (median time of
the other implementation / median time of mmx3d in that round) and the
median of the per-round ratios is reported as the speedup. Throughput is
the median over all timed iterations. Two further ratios help on a busy
machine, where other jobs only ever add time: ``best-of`` (ratio of the
fastest iterations) and ``CPU time`` (ratio of the median process CPU
seconds per iteration, which time spent waiting for a core does not
inflate). Peak memory is the worker's ``VmHWM`` (CPU; it
includes the ~0.6 GB of imported libraries, also reported as ``base``) or
``torch.cuda.max_memory_allocated`` (GPU). ``--inprocess`` runs everything
in this process instead (fast, for tests; no per-implementation memory).

GFLOP/s counts the multiply-adds of conv and linear layers, as the X3D
paper counts FLOPs, of one forward pass; a training step counts 3x that.
The workers inherit the environment, so allocator settings exported before
the command (``MALLOC_*``, ``THP_MEM_ALLOC_ENABLE``) apply to every
implementation alike.

``--json PATH`` writes ``{impl: {"train_clips_per_s", "infer_clips_per_s",
"train_peak_mem_mb", "infer_peak_mem_mb", ...}}`` for ``impl`` in
``mmx3d``, ``mmaction2``, ``pytorchvideo``; the ``mmx3d`` entry also holds
the ratios (``train_speedup_vs_mmaction2``, ``train_mem_ratio_vs_...``,
``infer_deploy_max_abs_diff``, ``data_clips_per_s_per_worker``, ...).

``--data`` times the config's training pipeline (decode, sample, augment)
on synthetic videos written to a temporary directory, in this process with
one thread, i.e. clips/s of one dataloader worker, with a per-transform
breakdown, and suggests ``num_workers`` for the measured training speed.
"""
import argparse
import contextlib
import copy
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmengine.config import DictAction  # noqa: E402

IMPLS = ('mmx3d', 'mmaction2', 'pytorchvideo')
#: RGB mean/std in 0..255 units (0.45 / 0.225 in [0, 1] units)
MEAN, STD = 114.75, 57.375


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
    p.add_argument('--impls', nargs='+', choices=IMPLS,
                   help='implementations to run (default: mmx3d, or all '
                   'available with --compare)')
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
                   help='mmx3d as configured, without channels-last and '
                   'fused ops')
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
    # internal: run as a worker process
    p.add_argument('--worker', choices=IMPLS, help=argparse.SUPPRESS)
    p.add_argument('--phase', choices=['train', 'infer'],
                   help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --------------------------------------------------------------------------
# model specification shared by the implementations


def load_cfg(args):
    from mmx3d.apis.runner import load_config
    return load_config(args.config, args.cfg_options)


def model_spec(cfg, args) -> Dict:
    """Expansion factors, classes and clip shape of the config's X3D."""
    from mmx3d.models.backbones.x3d import X3DBackbone
    from mmx3d.utils.complexity import clip_shape_from_cfg
    bb = cfg.model.backbone
    preset = X3DBackbone.arch_settings[bb.get('arch', 's')]
    gw = bb.get('gamma_w') or preset[0]
    gb = bb.get('gamma_b') or preset[1]
    gd = bb.get('gamma_d') or preset[2]
    shape = tuple(args.shape) if args.shape else clip_shape_from_cfg(cfg)
    return dict(
        arch=bb.get('arch', 's'), gamma_w=gw, gamma_b=gb, gamma_d=gd,
        num_classes=cfg.model.cls_head.num_classes, shape=shape,
        dropout=cfg.model.cls_head.get('dropout_ratio', 0.5))


def mmx3d_model_cfg(cfg, args):
    model = copy.deepcopy(cfg.model)
    if not args.plain:
        model.backbone.channels_last = True
        model.backbone.fused_ops = True
        dp = model.get('data_preprocessor', {})
        if dp.get('type') in ('ActionDataPreprocessor', 'X3DDataPreprocessor'):
            dp['type'] = 'X3DDataPreprocessor'
            dp['channels_last'] = True
    return model


def _round_width(width, multiplier, min_width=8, divisor=8):
    width *= multiplier
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


def mmaction2_model_cfg(spec):
    # MMAction2 hard-codes a base width of 24 (= 12 * 2)
    gw = spec['gamma_w'] / 2.0
    feat = _round_width(24, gw) * 8
    return dict(
        type='Recognizer3D',
        backbone=dict(type='X3D', gamma_w=gw, gamma_b=spec['gamma_b'],
                      gamma_d=spec['gamma_d']),
        cls_head=dict(type='X3DHead', in_channels=int(feat * spec['gamma_b']),
                      num_classes=spec['num_classes'],
                      dropout_ratio=spec['dropout'], average_clips='prob'),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               mean=[MEAN] * 3, std=[STD] * 3,
                               format_shape='NCTHW'))


def import_pytorchvideo_x3d():
    """PyTorchVideo's ``create_x3d``, or None if not installed.

    ``pytorchvideo.models`` imports ``torchvision.ops.RoIAlign`` for its
    detection head only; where torchvision is absent a stand-in module is
    registered for that import (X3D does not use it).
    """
    stub = {}
    try:
        import torchvision  # noqa: F401
    except ImportError:
        import types
        tv = types.ModuleType('torchvision')
        ops = types.ModuleType('torchvision.ops')

        class RoIAlign:  # placeholder, never instantiated by X3D

            def __init__(self, *args, **kwargs):
                raise RuntimeError('torchvision is not installed')

        ops.RoIAlign = RoIAlign
        tv.ops = ops
        stub = {'torchvision': tv, 'torchvision.ops': ops}
        sys.modules.update(stub)
    try:
        from pytorchvideo.models.x3d import create_x3d
    except Exception:  # noqa: BLE001 - any import failure means absent
        return None
    finally:
        # nobody else may mistake the stand-in for torchvision
        for name, module in stub.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return create_x3d


# --------------------------------------------------------------------------
# one implementation in one phase


def peak_rss_mb() -> Optional[float]:
    """``VmHWM`` (peak resident set) of this process in MiB."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> Optional[float]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class Bench:
    """One implementation, built for one phase (``train`` or ``infer``)."""

    def __init__(self, impl: str, phase: str, cfg, spec: Dict, args):
        import torch
        self.torch = torch
        self.impl, self.phase, self.args = impl, phase, args
        self.device = torch.device(args.device)
        self.cuda = self.device.type == 'cuda'
        self.amp = bool(args.amp and self.cuda)
        self.batch = args.batch
        self.extra: Dict = {}
        # denormals would make some iterations arbitrarily slow
        torch.set_flush_denormal(True)
        torch.manual_seed(args.seed)
        t, h, w = spec['shape']
        clips = torch.randint(0, 256, (self.batch, 1, 3, t, h, w),
                              dtype=torch.uint8)
        self.labels = torch.randint(0, spec['num_classes'], (self.batch, ))
        if impl == 'pytorchvideo':
            self.model = self._build_ptv(spec)
            self.clips = clips.view(self.batch, 3, t, h, w).to(self.device)
        else:
            self.model = self._build_mm(impl, cfg, spec)
            from mmaction.structures import ActionDataSample
            samples = []
            for i in range(self.batch):
                ds = ActionDataSample()
                ds.set_gt_label(self.labels[i:i + 1])
                samples.append(ds)
            self.data = dict(inputs=[c for c in clips], data_samples=samples)
        self.model.to(self.device)
        self.labels = self.labels.to(self.device)
        self.gflops = self._gflops(spec)
        if phase == 'train':
            self.model.train()
            self._setup_optim()
        else:
            self.model.eval()
            if impl == 'mmx3d' and not args.no_deploy:
                from mmx3d.models.utils.fuse_bn import fuse_bn
                self.unfused = copy.deepcopy(self.model.state_dict())
                self._cfg = cfg
                fuse_bn(self.model)
        if args.compile and impl == 'mmx3d':
            t0 = time.perf_counter()
            self.model.backbone.compile()
            self.model.cls_head.compile()
            self.step()
            self.extra['compile_s'] = time.perf_counter() - t0
        self.base_mem = current_rss_mb()

    # -- building ----------------------------------------------------------
    def _build_mm(self, impl, cfg, spec):
        from mmengine.registry import DefaultScope
        if impl == 'mmx3d':
            from mmx3d.registry import MODELS
            from mmx3d.utils import register_all_modules
            register_all_modules(init_default_scope=False)
            with DefaultScope.overwrite_default_scope('mmx3d'):
                return MODELS.build(mmx3d_model_cfg(cfg, self.args))
        from mmaction.registry import MODELS
        with DefaultScope.overwrite_default_scope('mmaction'):
            return MODELS.build(mmaction2_model_cfg(spec))

    def _build_ptv(self, spec):
        create_x3d = import_pytorchvideo_x3d()
        if create_x3d is None:
            raise RuntimeError('PyTorchVideo is not installed')
        t, h, w = spec['shape']
        if h != w:
            raise ValueError('PyTorchVideo\'s X3D needs square clips')
        return create_x3d(
            input_clip_length=t, input_crop_size=h,
            model_num_class=spec['num_classes'],
            width_factor=spec['gamma_w'], depth_factor=spec['gamma_d'],
            bottleneck_factor=spec['gamma_b'],
            dropout_rate=spec['dropout'], head_activation=None)

    def _gflops(self, spec) -> float:
        from mmx3d.utils.complexity import count_flops
        torch = self.torch
        t, h, w = spec['shape']
        x = torch.zeros(1, 3, t, h, w, device=self.device)
        net = self.model
        if self.impl != 'pytorchvideo':
            net = _BackboneHead(self.model)
        training = self.model.training
        self.model.eval()
        flops = count_flops(net, x)
        self.model.train(training)
        return flops / 1e9

    def _setup_optim(self):
        torch = self.torch
        optim = torch.optim.SGD(self.model.parameters(), lr=1e-4,
                                momentum=0.9, weight_decay=5e-5)
        if self.impl == 'pytorchvideo':
            self.optim = optim
            self.scaler = torch.amp.GradScaler('cuda') if self.amp else None
            return
        from mmengine.optim import AmpOptimWrapper, OptimWrapper
        self.optim = (AmpOptimWrapper(optimizer=optim) if self.amp else
                      OptimWrapper(optimizer=optim))

    def _deploy_check(self) -> float:
        """Largest logit difference of the folded model from the unfused
        one (rebuilt from the saved weights) on the benchmark batch."""
        torch = self.torch
        ref_model = self._build_mm('mmx3d', self._cfg, None)
        ref_model.load_state_dict(self.unfused)
        ref_model.to(self.device).eval()
        with torch.no_grad():
            data = self.model.data_preprocessor(self.data, False)
            out = self.model(data['inputs'], mode='tensor', stage='head')
            ref = ref_model(data['inputs'], mode='tensor', stage='head')
        return float((out - ref).abs().max())

    # -- timing ------------------------------------------------------------
    def _autocast(self):
        if self.amp:
            return self.torch.autocast('cuda', dtype=self.torch.float16)
        return contextlib.nullcontext()

    def step(self):
        torch = self.torch
        if self.phase == 'train':
            if self.impl == 'pytorchvideo':
                self.optim.zero_grad(set_to_none=True)
                x = (self.clips.float() - MEAN) / STD
                with self._autocast():
                    loss = torch.nn.functional.cross_entropy(
                        self.model(x), self.labels)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.optim)
                    self.scaler.update()
                else:
                    loss.backward()
                    self.optim.step()
            else:
                self.model.train_step(self.data, self.optim)
        else:
            with torch.no_grad(), self._autocast():
                if self.impl == 'pytorchvideo':
                    x = (self.clips.float() - MEAN) / STD
                    self.model(x).softmax(-1)
                else:
                    self.model.test_step(self.data)
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def run(self, iters: int) -> List[List[float]]:
        """``[wall seconds, process CPU seconds]`` of each iteration."""
        times = []
        for _ in range(iters):
            t0, c0 = time.perf_counter(), time.process_time()
            self.step()
            times.append([time.perf_counter() - t0, time.process_time() - c0])
        return times

    def warmup(self, iters: int) -> None:
        self.run(iters)
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats(self.device)

    def stats(self) -> Dict:
        out = dict(gflops_per_clip=self.gflops, **self.extra)
        if self.cuda:
            out['peak_mem_mb'] = self.torch.cuda.max_memory_allocated(
                self.device) / 2**20
        else:
            out['peak_mem_mb'] = peak_rss_mb()
            out['base_mem_mb'] = self.base_mem
        if getattr(self, 'unfused', None) is not None:  # after the peak
            out['deploy_max_abs_diff'] = self._deploy_check()
        return out


class _BackboneHead:
    """``backbone`` then ``cls_head`` of a recognizer (logits of clips)."""

    def __init__(self, recognizer):
        self.r = recognizer

    def modules(self):
        return self.r.modules()

    def __call__(self, x):
        import torch
        if getattr(self.r.backbone, 'channels_last', False):
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return self.r.cls_head(self.r.backbone(x))


# --------------------------------------------------------------------------
# worker processes


def worker_main(args) -> None:
    """Serve ``warmup``/``run``/``stats``/``exit`` commands (JSON lines on
    stdin) for one implementation and phase; answer on the original stdout.
    Everything else printed goes to stderr."""
    proto = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    # the same libraries in every worker, so that base memory is comparable
    import mmx3d  # noqa: F401
    import_pytorchvideo_x3d()
    cfg = load_cfg(args)
    spec = model_spec(cfg, args)

    def reply(obj):
        proto.write(json.dumps(obj) + '\n')

    try:
        bench = Bench(args.worker, args.phase, cfg, spec, args)
    except Exception as e:  # noqa: BLE001 - reported to the parent
        reply(dict(error=f'{type(e).__name__}: {e}'))
        return
    reply(dict(ready=True))
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd['cmd'] == 'warmup':
            bench.warmup(cmd['iters'])
            reply(dict(ok=True))
        elif cmd['cmd'] == 'run':
            reply(dict(times=bench.run(cmd['iters'])))
        elif cmd['cmd'] == 'stats':
            reply(bench.stats())
        else:
            break


class WorkerClient:
    """A worker process driven through JSON lines."""

    def __init__(self, impl: str, phase: str, argv: Sequence[str], env):
        self.impl = impl
        self.log = tempfile.TemporaryFile(mode='w+')
        cmd = [sys.executable, osp.abspath(__file__), *argv, '--worker',
               impl, '--phase', phase]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=env,
                                     bufsize=1)

    def recv(self) -> Dict:
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            tail = self.log.read()[-3000:]
            raise RuntimeError(f'{self.impl} worker died:\n{tail}')
        msg = json.loads(line)
        if 'error' in msg:
            raise RuntimeError(f'{self.impl} worker: {msg["error"]}')
        return msg

    def call(self, **cmd) -> Dict:
        self.proc.stdin.write(json.dumps(cmd) + '\n')
        self.proc.stdin.flush()
        return self.recv()

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps(dict(cmd='exit')) + '\n')
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001
            self.proc.kill()
        self.log.close()


class LocalClient:
    """The same interface, in this process."""

    def __init__(self, impl, phase, cfg, spec, args):
        self.impl = impl
        self.bench = Bench(impl, phase, cfg, spec, args)

    def call(self, cmd, iters=0):
        if cmd == 'warmup':
            self.bench.warmup(iters)
            return dict(ok=True)
        if cmd == 'run':
            return dict(times=self.bench.run(iters))
        out = self.bench.stats()
        out['peak_mem_mb'] = None  # not per implementation in one process
        out.pop('base_mem_mb', None)
        return out

    def close(self):
        del self.bench


# --------------------------------------------------------------------------
# driver


def run_phase(phase: str, impls: Sequence[str], cfg, spec, args,
              argv: Sequence[str]) -> Dict[str, Dict]:
    """Alternate rounds over the implementations of one phase."""
    env = dict(os.environ)
    if args.threads:
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(args.threads)
    clients = {}
    try:
        for impl in impls:
            if args.inprocess:
                clients[impl] = LocalClient(impl, phase, cfg, spec, args)
            else:
                clients[impl] = WorkerClient(impl, phase, argv, env)
        if not args.inprocess:
            for c in clients.values():
                c.recv()  # ready
        for impl in impls:
            clients[impl].call(cmd='warmup', iters=args.warmup)
        times = {impl: [] for impl in impls}
        for r in range(args.rounds):
            k = r % len(impls)
            for impl in list(impls[k:]) + list(impls[:k]):
                t = clients[impl].call(cmd='run', iters=args.iters)['times']
                times[impl].append(t)
            last = {
                i: statistics.median(x[0] for x in times[i][-1])
                for i in impls
            }
            line = '  '.join(f'{i} {t * 1e3:.0f} ms' for i, t in last.items())
            print(f'[{phase}] round {r + 1}/{args.rounds}: {line} '
                  f'(median per iteration)', flush=True)
        results = {}
        for impl in impls:
            st = clients[impl].call(cmd='stats')
            flat = [x for rnd in times[impl] for x in rnd]
            ips = statistics.median(args.batch / x[0] for x in flat)
            mult = 3.0 if phase == 'train' else 1.0
            results[impl] = dict(
                clips_per_s=ips,
                gflop_per_s=ips * st['gflops_per_clip'] * mult,
                round_medians=[
                    statistics.median(x[0] for x in rnd)
                    for rnd in times[impl]
                ],
                min_s=min(x[0] for x in flat),
                cpu_s=statistics.median(x[1] for x in flat),
                **st)
        return results
    finally:
        for c in clients.values():
            c.close()


def ratios(results: Dict[str, Dict], base: str = 'mmx3d') -> Dict[str, Dict]:
    """Per-round speed ratios (other time / base time) and memory ratios."""
    out = {}
    if base not in results:
        return out
    b = results[base]
    for impl, r in results.items():
        if impl == base:
            continue
        per_round = [o / m for o, m in zip(r['round_medians'],
                                           b['round_medians'])]
        entry = dict(speedup=statistics.median(per_round),
                     speedup_per_round=per_round,
                     speedup_best=r['min_s'] / b['min_s'],
                     speedup_cpu=r['cpu_s'] / b['cpu_s'])
        if b.get('peak_mem_mb') and r.get('peak_mem_mb'):
            entry['mem_ratio'] = b['peak_mem_mb'] / r['peak_mem_mb']
        out[impl] = entry
    return out


def data_throughput(cfg, args, spec) -> Dict:
    """Clips/s of the config's training pipeline on synthetic videos, one
    worker (this process, one thread)."""
    import cv2
    import numpy as np
    import torch
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope

    from mmx3d.datasets.synthetic import render_video, write_video
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    pipeline = cfg.train_dataloader.dataset.pipeline
    clip_len = frame_interval = 1
    for step in pipeline:
        if step['type'] == 'SampleFrames':
            clip_len = step['clip_len']
            frame_interval = step.get('frame_interval', 1)
    frames = max(64, clip_len * frame_interval + 16)
    rng = np.random.default_rng(args.seed)
    tmp = tempfile.mkdtemp(prefix='mmx3d_bench_')
    paths = []
    for i in range(args.data_videos):
        path = osp.join(tmp, f'v{i}.mp4')
        write_video(path, render_video(rng, i % 4, frames, args.data_size))
        paths.append(path)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmx3d')):
        compose = Compose(copy.deepcopy(pipeline))
    names = [type(t).__name__ for t in compose.transforms]
    spent = [0.0] * len(names)

    def one(path):
        results = dict(filename=path, label=0, start_index=0,
                       modality='RGB')
        for k, tr in enumerate(compose.transforms):
            t0 = time.perf_counter()
            results = tr(results)
            spent[k] += time.perf_counter() - t0
        return results

    for p in paths[:2]:
        one(p)  # warm-up (decoder initialisation)
    spent = [0.0] * len(names)
    t0 = time.perf_counter()
    for i in range(args.data_iters):
        one(paths[i % len(paths)])
    total = time.perf_counter() - t0
    for p in paths:
        os.remove(p)
    os.rmdir(tmp)
    torch.set_num_threads(threads)
    h = args.data_size
    return dict(
        clips_per_s_per_worker=args.data_iters / total,
        video=f'{frames} frames {h * 4 // 3}x{h} mp4v',
        breakdown_ms={n: 1e3 * s / args.data_iters
                      for n, s in zip(names, spent)})


def worker_argv(argv: Sequence[str]) -> List[str]:
    """Command-line arguments handed to the workers (``--json``/``--data``
    stay with the parent)."""
    out, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        if a in ('--json', ):
            skip = 1
            continue
        if a.startswith('--json='):
            continue
        out.append(a)
    return out


def main(argv=None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker:
        worker_main(args)
        return {}
    import torch
    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, argv)
    finally:
        torch.set_num_threads(threads_before)


def _run(args, argv) -> Dict:
    import torch
    if args.amp and not args.device.startswith('cuda'):
        raise SystemExit('--amp needs --device cuda')
    import mmx3d  # noqa: F401
    cfg = load_cfg(args)
    spec = model_spec(cfg, args)
    impls = args.impls or (['mmx3d', 'mmaction2', 'pytorchvideo']
                           if args.compare else ['mmx3d'])
    if 'pytorchvideo' in impls and import_pytorchvideo_x3d() is None:
        print('PyTorchVideo is not installed: skipped')
        impls = [i for i in impls if i != 'pytorchvideo']
    t, h, w = spec['shape']
    threads = args.threads or torch.get_num_threads()
    print(f'config: {args.config}  arch: {spec["arch"]}  clip: {t}x{h}x{w}  '
          f'batch: {args.batch}  device: {args.device}  threads: {threads}  '
          f'{"amp" if args.amp else "fp32"}')
    print('mmx3d: ' + ('as configured' if args.plain else
                       'channels_last_3d + fused_ops') +
          ('' if args.no_deploy else ', inference with BN folded') +
          (', torch.compile' if args.compile else ''))
    phases = ['train', 'infer'] if args.mode == 'both' else [args.mode]
    wargv = worker_argv(argv)
    results = {impl: {} for impl in impls}
    report = {}
    for phase in phases:
        res = run_phase(phase, impls, cfg, spec, args, wargv)
        report[phase] = dict(results=res, ratios=ratios(res))
        for impl, r in res.items():
            results[impl][f'{phase}_clips_per_s'] = r['clips_per_s']
            results[impl][f'{phase}_peak_mem_mb'] = r['peak_mem_mb']
            results[impl][f'{phase}_gflop_per_s'] = r['gflop_per_s']
            if r.get('base_mem_mb') is not None:
                results[impl][f'{phase}_base_mem_mb'] = r['base_mem_mb']
            for key in ('deploy_max_abs_diff', 'compile_s'):
                if key in r:
                    results[impl][f'{phase}_{key}'] = r[key]
        for impl, rr in report[phase]['ratios'].items():
            for key in ('speedup', 'speedup_best', 'speedup_cpu'):
                results['mmx3d'][f'{phase}_{key}_vs_{impl}'] = rr[key]
            if 'mem_ratio' in rr:
                results['mmx3d'][f'{phase}_mem_ratio_vs_{impl}'] = rr[
                    'mem_ratio']
    if args.data:
        d = data_throughput(cfg, args, spec)
        results.setdefault('mmx3d', {})['data_clips_per_s_per_worker'] = d[
            'clips_per_s_per_worker']
        report['data'] = d
    print_report(report, spec, args)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'results written to {args.json}')
    return results


def print_report(report: Dict, spec: Dict, args) -> None:
    mem_kind = 'alloc peak' if args.device.startswith('cuda') else 'peak RSS'
    for phase in ('train', 'infer'):
        if phase not in report:
            continue
        res, rat = report[phase]['results'], report[phase]['ratios']
        shape = 'x'.join(map(str, spec['shape']))
        print(f'\n{phase}: {args.batch} clips of {shape}, {args.rounds} '
              f'rounds x {args.iters} iterations')
        print(f'  {"impl":13s} {"clips/s":>8s} {"GFLOP/s":>8s} '
              f'{mem_kind + " MB":>14s} {"speedup":>8s} {"mem ratio":>9s}')
        for impl, r in res.items():
            mem = r.get('peak_mem_mb')
            memstr = f'{mem:.0f}' if mem else 'n/a'
            sp = rat.get(impl, {}).get('speedup')
            mr = rat.get(impl, {}).get('mem_ratio')
            print(f'  {impl:13s} {r["clips_per_s"]:8.2f} '
                  f'{r["gflop_per_s"]:8.1f} {memstr:>14s} '
                  f'{"" if sp is None else f"{sp:.2f}x":>8s} '
                  f'{"" if mr is None else f"{mr:.2f}x":>9s}')
        for impl, rr in rat.items():
            per = ', '.join(f'{x:.2f}' for x in rr['speedup_per_round'])
            line = (f'  mmx3d vs {impl}: {phase} speed {rr["speedup"]:.2f}x '
                    f'(median of rounds: {per}; best-of '
                    f'{rr["speedup_best"]:.2f}x, CPU time '
                    f'{rr["speedup_cpu"]:.2f}x)')
            if 'mem_ratio' in rr:
                line += f', peak memory {rr["mem_ratio"]:.2f}x of {impl}'
            print(line)
        if 'deploy_max_abs_diff' in res.get('mmx3d', {}):
            print('  mmx3d deploy (BN folded) max |logit difference| vs '
                  f'unfused: {res["mmx3d"]["deploy_max_abs_diff"]:.2e}')
        if 'base_mem_mb' in res.get('mmx3d', {}):
            base = ', '.join(f'{i} {r["base_mem_mb"]:.0f}'
                             for i, r in res.items() if r.get('base_mem_mb'))
            print(f'  RSS after building (libraries + model), MB: {base}')
    if 'data' in report:
        d = report['data']
        print(f'\ndata pipeline (1 worker, 1 thread, {d["video"]}): '
              f'{d["clips_per_s_per_worker"]:.2f} clips/s')
        for name, ms in d['breakdown_ms'].items():
            print(f'  {name:22s} {ms:8.1f} ms/clip')
        train = report.get('train', {}).get('results', {}).get('mmx3d')
        if train:
            need = train['clips_per_s'] / d['clips_per_s_per_worker']
            print(f'  to feed mmx3d training ({train["clips_per_s"]:.2f} '
                  f'clips/s) use num_workers >= {max(1, math.ceil(need))} '
                  '(if the workers get their own cores)')


if __name__ == '__main__':
    main()
