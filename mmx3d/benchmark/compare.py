# Copyright (c) mmx3d contributors. All rights reserved.
"""Rounds over the implementations, their summary, ratios and report.

The parent drives the implementations of one phase in rounds: in each
round every implementation runs ``iters`` timed iterations in turn, the
order rotating from round to round, so that drift of a shared machine
(other jobs, thermal state) hits all of them alike. Per implementation
(:func:`summarize_times`), throughput is the median over all timed
iterations; per pair (:func:`ratios`), the speed-up is the median over
rounds of (median time of the other in that round / median time of mmx3d
in that round). ``best-of`` (ratio of the fastest iterations) and ``CPU
time`` (ratio of the median process CPU seconds per iteration, which time
spent waiting for a core does not inflate) help on a busy machine.
"""
import math
import os
import statistics
from typing import Callable, Dict, List, Optional, Sequence

from mmengine.config import Config

from .builders import DEPLOY_IMPLS
from .timing import BenchOptions
from .worker import LocalClient, WorkerClient

#: FLOPs of a training step per forward pass (forward + 2x backward)
TRAIN_FLOP_FACTOR = 3.0


def summarize_times(times: List[List[List[float]]], batch: int,
                    gflops_per_clip: float, phase: str) -> Dict:
    """Throughput of one implementation from its timing table.

    Args:
        times (list): Per round, per iteration ``[wall s, CPU s]``.
        batch (int): Clips per iteration.
        gflops_per_clip (float): GFLOPs of one clip's forward pass.
        phase (str): ``train`` (a step counts 3 forward passes) or
            ``infer``.

    Returns:
        dict: ``clips_per_s`` (median over iterations), ``gflop_per_s``,
        ``round_medians`` (median wall time per round), ``min_s``,
        ``cpu_s`` (median CPU seconds).
    """
    flat = [x for rnd in times for x in rnd]
    ips = statistics.median(batch / x[0] for x in flat)
    mult = TRAIN_FLOP_FACTOR if phase == 'train' else 1.0
    return dict(
        clips_per_s=ips,
        gflop_per_s=ips * gflops_per_clip * mult,
        round_medians=[statistics.median(x[0] for x in rnd)
                       for rnd in times],
        min_s=min(x[0] for x in flat),
        cpu_s=statistics.median(x[1] for x in flat))


def ratios(results: Dict[str, Dict], base: str = 'mmx3d') -> Dict[str, Dict]:
    """Per-round speed ratios (other time / base time) and memory ratios.

    Args:
        results (dict): impl -> :func:`summarize_times` (+ ``peak_mem_mb``).
        base (str): The implementation compared with. Defaults to
            ``'mmx3d'``.

    Returns:
        dict: other impl -> ``speedup`` (median of ``speedup_per_round``),
        ``speedup_best``, ``speedup_cpu`` and, where both peaks are known,
        ``mem_ratio`` (base peak / other peak).
    """
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


def run_phase(phase: str, impls: Sequence[str], cfg: Config, spec: Dict,
              opts: BenchOptions, rounds: int = 10, iters: int = 1,
              warmup: int = 2, inprocess: bool = False,
              log: Optional[Callable[[str], None]] = print
              ) -> Dict[str, Dict]:
    """Alternate rounds over the implementations of one phase.

    Args:
        phase (str): ``train`` or ``infer``.
        impls (Sequence[str]): Implementations.
        cfg (Config): The loaded config (in-process clients).
        spec (dict): Its model spec.
        opts (BenchOptions): Benchmark options.
        rounds (int): Rounds. Defaults to 10.
        iters (int): Timed iterations per implementation and round.
        warmup (int): Untimed iterations first. Defaults to 2.
        inprocess (bool): Run everything in this process. Defaults to
            False (one worker process per implementation).
        log (callable, optional): Receives a line per round.

    Returns:
        dict: impl -> :func:`summarize_times` plus the worker's stats.
    """
    env = dict(os.environ)
    if opts.threads:
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(opts.threads)
    clients = {}
    try:
        for impl in impls:
            clients[impl] = (LocalClient(impl, phase, cfg, spec, opts)
                             if inprocess else
                             WorkerClient(impl, phase, opts, env))
        for c in clients.values():
            c.recv()  # ready
        for impl in impls:
            clients[impl].call('warmup', warmup)
        times = {impl: [] for impl in impls}
        for r in range(rounds):
            k = r % len(impls)
            for impl in list(impls[k:]) + list(impls[:k]):
                times[impl].append(clients[impl].call('run', iters)['times'])
            if log:
                line = '  '.join(
                    f'{i} {statistics.median(x[0] for x in t[-1]) * 1e3:.0f}'
                    ' ms' for i, t in times.items())
                log(f'[{phase}] round {r + 1}/{rounds}: {line} '
                    '(median per iteration)')
        results = {}
        for impl in impls:
            st = clients[impl].call('stats')
            results[impl] = dict(
                **summarize_times(times[impl], opts.batch,
                                  st['gflops_per_clip'], phase), **st)
        return results
    finally:
        for c in clients.values():
            c.close()


def json_results(report: Dict) -> Dict[str, Dict]:
    """The ``--json`` file of ``tools/analysis/benchmark.py``:
    ``{impl: {"train_clips_per_s", "infer_clips_per_s",
    "train_peak_mem_mb", ...}}``, the ``mmx3d`` entry also holding the
    ratios (``train_speedup_vs_mmaction2``, ...)."""
    results = {}
    for phase in ('train', 'infer'):
        if phase not in report:
            continue
        for impl, r in report[phase]['results'].items():
            out = results.setdefault(impl, {})
            out[f'{phase}_clips_per_s'] = r['clips_per_s']
            out[f'{phase}_peak_mem_mb'] = r['peak_mem_mb']
            out[f'{phase}_gflop_per_s'] = r['gflop_per_s']
            if r.get('base_mem_mb') is not None:
                out[f'{phase}_base_mem_mb'] = r['base_mem_mb']
            if 'malloc_policy' in r:
                out[f'{phase}_malloc_policy'] = r['malloc_policy']
            for key in ('deploy_max_abs_diff', 'compile_s',
                        'onnx_max_abs_diff', 'onnx_export_max_abs_diff'):
                if key in r:
                    out[f'{phase}_{key}'] = r[key]
        for impl, rr in report[phase]['ratios'].items():
            m = results['mmx3d']
            for key in ('speedup', 'speedup_best', 'speedup_cpu'):
                m[f'{phase}_{key}_vs_{impl}'] = rr[key]
            if 'mem_ratio' in rr:
                m[f'{phase}_mem_ratio_vs_{impl}'] = rr['mem_ratio']
    if 'data' in report:
        results.setdefault('mmx3d', {})['data_clips_per_s_per_worker'] = (
            report['data']['clips_per_s_per_worker'])
    return results


def format_report(report: Dict, spec: Dict, opts: BenchOptions,
                  rounds: int, iters: int) -> str:
    """The human-readable tables of a benchmark report."""
    lines = []
    mem_kind = 'alloc peak' if opts.device.startswith('cuda') else 'peak RSS'
    shape = 'x'.join(map(str, spec['shape']))
    for phase in ('train', 'infer'):
        if phase not in report:
            continue
        res, rat = report[phase]['results'], report[phase]['ratios']
        lines += [f'\n{phase}: {opts.batch} clips of {shape}, {rounds} '
                  f'rounds x {iters} iterations',
                  f'  {"impl":13s} {"clips/s":>8s} {"GFLOP/s":>8s} '
                  f'{mem_kind + " MB":>14s} {"speedup":>8s} '
                  f'{"mem ratio":>9s}']
        for impl, r in res.items():
            mem = r.get('peak_mem_mb')
            memstr = f'{mem:.0f}' if mem else 'n/a'
            sp = rat.get(impl, {}).get('speedup')
            mr = rat.get(impl, {}).get('mem_ratio')
            lines.append(f'  {impl:13s} {r["clips_per_s"]:8.2f} '
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
            lines.append(line)
        if 'deploy_max_abs_diff' in res.get('mmx3d', {}):
            diff = res['mmx3d']['deploy_max_abs_diff']
            lines.append('  mmx3d deploy (BN folded) max |logit difference| '
                         f'vs unfused: {diff:.2e}')
        if 'onnx_max_abs_diff' in res.get('onnxruntime', {}):
            diff = res['onnxruntime']['onnx_max_abs_diff']
            lines.append('  onnxruntime (exported, BN folded) max '
                         '|probability difference| vs PyTorch unfused: '
                         f'{diff:.2e}')
        with_policy = [i for i, r in res.items() if r.get('malloc_policy')]
        if with_policy:
            others = [i for i in res if i not in with_policy]
            lines.append('  glibc malloc policy (env_cfg.cpu_malloc): '
                         + ', '.join(with_policy) +
                         ('; C library defaults: ' + ', '.join(others)
                          if others else ''))
        if 'base_mem_mb' in res.get('mmx3d', {}):
            base = ', '.join(f'{i} {r["base_mem_mb"]:.0f}'
                             for i, r in res.items() if r.get('base_mem_mb'))
            lines.append(f'  RSS after building (libraries + model), MB: '
                         f'{base}')
    if 'data' in report:
        d = report['data']
        lines.append(f'\ndata pipeline (1 worker, 1 thread, {d["video"]}): '
                     f'{d["clips_per_s_per_worker"]:.2f} clips/s')
        for name, ms in d['breakdown_ms'].items():
            lines.append(f'  {name:22s} {ms:8.1f} ms/clip')
        train = report.get('train', {}).get('results', {}).get('mmx3d')
        if train:
            need = train['clips_per_s'] / d['clips_per_s_per_worker']
            lines.append(f'  to feed mmx3d training '
                         f'({train["clips_per_s"]:.2f} clips/s) use '
                         f'num_workers >= {max(1, math.ceil(need))} (if the '
                         'workers get their own cores)')
    return '\n'.join(lines)


def run_benchmark(cfg: Config, spec: Dict, opts: BenchOptions,
                  impls: Sequence[str], phases: Sequence[str] = ('train',
                                                                 'infer'),
                  rounds: int = 10, iters: int = 1, warmup: int = 2,
                  inprocess: bool = False,
                  log: Optional[Callable[[str], None]] = print) -> Dict:
    """:func:`run_phase` and :func:`ratios` for each phase.

    The inference-only implementations (``mmx3d_eager``, ``onnxruntime``:
    :data:`~mmx3d.benchmark.builders.DEPLOY_IMPLS`) are left out of the
    ``train`` phase.

    Returns:
        dict: phase -> ``results`` (impl -> summary) and ``ratios``
        (other impl -> ratios to mmx3d); see :func:`json_results`.
    """
    report = {}
    for phase in phases:
        those = [i for i in impls
                 if phase == 'infer' or i not in DEPLOY_IMPLS]
        if not those:
            continue
        res = run_phase(phase, those, cfg, spec, opts, rounds, iters,
                        warmup, inprocess, log)
        report[phase] = dict(results=res, ratios=ratios(res))
    return report
