# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d.benchmark and its CLI tools/analysis/benchmark.py.

Nothing here is timed: the arithmetic on timing tables is checked on fake
tables with exact answers, the builders against published parameter
counts, and a tiny end-to-end run against the relations its figures must
satisfy (GFLOP/s = FLOPs x clips/s, speed-up = median of round ratios).
"""
import json
import os.path as osp
import statistics
import subprocess
import sys

import pytest
import torch

from mmx3d.apis.runner import load_config
from mmx3d.benchmark import (
    BenchOptions,
    build_model,
    data_throughput,
    denormals_flushed,
    flush_denormal,
    gflops_per_clip,
    import_pytorchvideo_x3d,
    json_results,
    model_spec,
    ratios,
    run_benchmark,
    summarize_times,
)
from mmx3d.utils.complexity import count_flops, recognizer_complexity

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
XS = osp.join(ROOT, 'configs/x3d/x3d_xs_kinetics400.py')
S = osp.join(ROOT, 'configs/x3d/x3d_s_kinetics400.py')
SHAPE = (4, 32, 32)


def test_summarize_times_on_a_fake_table():
    # 3 rounds x 2 iterations of [wall s, CPU s], batch 2
    times = [[[0.5, 0.4], [0.25, 0.2]],
             [[1.0, 0.9], [0.4, 0.3]],
             [[0.2, 0.1], [2.0, 1.5]]]
    s = summarize_times(times, batch=2, gflops_per_clip=0.5, phase='train')
    # clips/s per iteration: 4, 8, 2, 5, 10, 1 -> median 4.5
    assert s['clips_per_s'] == pytest.approx(4.5)
    # a training step counts 3 forward passes
    assert s['gflop_per_s'] == pytest.approx(4.5 * 0.5 * 3)
    assert s['round_medians'] == pytest.approx([0.375, 0.7, 1.1])
    assert s['min_s'] == 0.2
    assert s['cpu_s'] == pytest.approx(0.35)
    infer = summarize_times(times, 2, 0.5, 'infer')
    assert infer['gflop_per_s'] == pytest.approx(4.5 * 0.5)


def test_ratios_are_the_median_of_per_round_ratios():
    base = dict(round_medians=[1.0, 2.0, 1.0, 4.0], min_s=0.5, cpu_s=2.0,
                peak_mem_mb=600.0)
    other = dict(round_medians=[3.0, 2.0, 2.5, 8.0], min_s=1.5, cpu_s=3.0,
                 peak_mem_mb=800.0)
    third = dict(round_medians=[1.0] * 4, min_s=1.0, cpu_s=1.0,
                 peak_mem_mb=None)
    r = ratios(dict(mmx3d=base, mmaction2=other, pytorchvideo=third))
    # per round 3, 1, 2.5, 2 -> median 2.25 (not 2.75 / 1.5, the ratio of
    # the medians, nor 15.5 / 8, that of the sums)
    assert r['mmaction2'] == dict(speedup=2.25,
                                  speedup_per_round=[3.0, 1.0, 2.5, 2.0],
                                  speedup_best=3.0, speedup_cpu=1.5,
                                  mem_ratio=0.75)
    # per round 1, 0.5, 1, 0.25
    assert r['pytorchvideo']['speedup'] == 0.75
    assert 'mem_ratio' not in r['pytorchvideo']  # unknown peak
    assert ratios(dict(mmaction2=other)) == {}


def test_json_results_keys():
    res = dict(clips_per_s=2.0, gflop_per_s=3.0, peak_mem_mb=10.0,
               base_mem_mb=5.0)
    report = dict(
        infer=dict(results=dict(mmx3d=dict(res, deploy_max_abs_diff=1e-9),
                                mmaction2=res),
                   ratios=dict(mmaction2=dict(speedup=2.0, speedup_best=3.0,
                                              speedup_cpu=4.0,
                                              mem_ratio=0.5))),
        data=dict(clips_per_s_per_worker=7.0))
    assert json_results(report) == dict(
        mmx3d=dict(infer_clips_per_s=2.0, infer_gflop_per_s=3.0,
                   infer_peak_mem_mb=10.0, infer_base_mem_mb=5.0,
                   infer_deploy_max_abs_diff=1e-9,
                   infer_speedup_vs_mmaction2=2.0,
                   infer_speedup_best_vs_mmaction2=3.0,
                   infer_speedup_cpu_vs_mmaction2=4.0,
                   infer_mem_ratio_vs_mmaction2=0.5,
                   data_clips_per_s_per_worker=7.0),
        mmaction2=dict(infer_clips_per_s=2.0, infer_gflop_per_s=3.0,
                       infer_peak_mem_mb=10.0, infer_base_mem_mb=5.0))


@pytest.mark.parametrize('impl,params', [('mmx3d', 3794322),
                                         ('mmaction2', 3794322),
                                         ('pytorchvideo', 3794274)])
def test_the_three_builders_build_x3d_s(impl, params):
    """Published X3D-S parameter counts (PyTorchVideo lacks the res2
    shortcut BN: 2 x 24 parameters fewer); the same FLOPs as mmx3d's."""
    if impl == 'pytorchvideo' and import_pytorchvideo_x3d() is None:
        pytest.skip('PyTorchVideo is not installed')
    cfg = load_config(S)
    spec = model_spec(cfg, SHAPE)
    assert spec == dict(arch='s', gamma_w=2.0, gamma_b=2.25, gamma_d=2.2,
                        num_classes=400, shape=SHAPE, dropout=0.5)
    model = build_model(impl, cfg, spec)
    parts = [model] if impl == 'pytorchvideo' else [model.backbone,
                                                    model.cls_head]
    assert sum(p.numel() for m in parts for p in m.parameters()) == params
    reference = recognizer_complexity(build_model('mmx3d', cfg, spec, True),
                                      SHAPE)['gflops']
    assert gflops_per_clip(model, SHAPE) == pytest.approx(reference,
                                                          rel=1e-9)


def test_flush_denormal_is_scoped():
    if not torch.set_flush_denormal(False):
        pytest.skip('this CPU cannot flush denormals')
    assert not denormals_flushed()
    with flush_denormal():
        assert denormals_flushed()
        with flush_denormal():
            assert denormals_flushed()
        assert denormals_flushed()  # the inner block restored "on"
    assert not denormals_flushed()


@pytest.mark.slow
def test_inprocess_compare_figures_are_consistent():
    cfg = load_config(XS)
    spec = model_spec(cfg, SHAPE)
    opts = BenchOptions(config=XS, shape=SHAPE, batch=2, threads=1)
    impls = ['mmx3d', 'mmaction2']
    if import_pytorchvideo_x3d() is not None:
        impls.append('pytorchvideo')
    can_flush = torch.set_flush_denormal(False)
    report = run_benchmark(cfg, spec, opts, impls, rounds=3, iters=1,
                           warmup=1, inprocess=True, log=None)
    # the benchmark flushes denormals only while it times
    assert not (can_flush and denormals_flushed())
    gflops = recognizer_complexity(build_model('mmx3d', cfg, spec, True),
                                   SHAPE)['gflops']
    ptv = build_model('pytorchvideo', cfg, spec) if len(impls) > 2 else None
    for phase, mult in (('train', 3), ('infer', 1)):
        res = report[phase]['results']
        assert list(res) == impls
        for impl, r in res.items():
            flops = gflops
            if impl == 'pytorchvideo':
                flops = count_flops(ptv.eval(), torch.zeros(1, 3, *SHAPE))
                flops /= 1e9
            assert r['gflops_per_clip'] == pytest.approx(flops, rel=1e-9)
            # one iteration per round: the round medians are the times
            ips = statistics.median(2 / t for t in r['round_medians'])
            assert r['clips_per_s'] == pytest.approx(ips, rel=1e-12)
            assert r['gflop_per_s'] == pytest.approx(ips * flops * mult,
                                                     rel=1e-12)
            assert r['peak_mem_mb'] is None  # not per impl in one process
        for impl, rr in report[phase]['ratios'].items():
            per = [o / m for o, m in zip(res[impl]['round_medians'],
                                         res['mmx3d']['round_medians'])]
            assert rr['speedup'] == pytest.approx(statistics.median(per))
    assert res['mmx3d']['deploy_max_abs_diff'] < 1e-4
    assert 'deploy_max_abs_diff' not in res['mmaction2']


@pytest.mark.slow
def test_data_throughput_restores_threads():
    import cv2
    cfg = load_config(XS)
    before = torch.get_num_threads(), cv2.getNumThreads()
    d = data_throughput(cfg, videos=1, iters=2, size=48)
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before
    assert d['video'] == '64 frames 64x48 mp4v'
    names = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert list(d['breakdown_ms']) == names
    # the breakdown adds up to (at most) the total time per clip
    assert sum(d['breakdown_ms'].values()) <= (
        1e3 / d['clips_per_s_per_worker'] * 1.0001)


@pytest.mark.slow
def test_cli_worker_processes(tmp_path):
    """The CLI with one worker process per implementation writes the
    documented JSON; peak memory is a real worker ``VmHWM``."""
    out = tmp_path / 'bench.json'
    res = subprocess.run([
        sys.executable, osp.join(ROOT, 'tools/analysis/benchmark.py'), XS,
        '--shape', *map(str, SHAPE), '--batch', '1', '--iters', '1',
        '--warmup', '1', '--rounds', '2', '--threads', '1', '--mode',
        'infer', '--impls', 'mmx3d', 'mmaction2', '--json', str(out)
    ], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'round 2/2' in res.stdout
    saved = json.loads(out.read_text())
    assert set(saved) == {'mmx3d', 'mmaction2'}
    m = saved['mmx3d']
    assert set(m) == {
        'infer_clips_per_s', 'infer_peak_mem_mb', 'infer_gflop_per_s',
        'infer_base_mem_mb', 'infer_deploy_max_abs_diff',
        'infer_speedup_vs_mmaction2', 'infer_speedup_best_vs_mmaction2',
        'infer_speedup_cpu_vs_mmaction2', 'infer_mem_ratio_vs_mmaction2',
        'infer_malloc_policy'
    }
    # mmx3d's worker ran with the shipped runtime's malloc policy, as
    # tools/test.py does; MMAction2's with the C library's defaults
    shipped = load_config(XS).env_cfg.cpu_malloc
    assert m['infer_malloc_policy'] == dict(shipped)
    assert saved['mmaction2']['infer_malloc_policy'] is None
    assert 'glibc malloc policy (env_cfg.cpu_malloc): mmx3d; C library ' \
        'defaults: mmaction2' in res.stdout
    for r in saved.values():
        # libraries and model alone take more than 100 MB; the peak is
        # at least what was resident after building
        assert r['infer_base_mem_mb'] > 100
        assert r['infer_peak_mem_mb'] >= r['infer_base_mem_mb']
    assert m['infer_mem_ratio_vs_mmaction2'] == pytest.approx(
        m['infer_peak_mem_mb'] / saved['mmaction2']['infer_peak_mem_mb'])


def test_deploy_check_compares_the_whole_recognizer():
    """The deploy check of mmx3d's inference benchmark runs backbone and
    head (``stage='head'``): a change confined to the classifier shows."""
    from mmx3d.benchmark.timing import Bench
    cfg = load_config(XS)
    opts = BenchOptions(config=XS, shape=SHAPE, batch=2)
    bench = Bench('mmx3d', 'infer', cfg, model_spec(cfg, SHAPE), opts)
    assert bench._deploy_check() < 1e-4
    bench.unfused['cls_head.fc_cls.bias'][0] += 1.0
    assert bench._deploy_check() == pytest.approx(1.0, abs=1e-3)


def _load_cli():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', osp.join(ROOT, 'tools/analysis/benchmark.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_default_impls_add_the_deploy_paths_at_inference(monkeypatch):
    cli = _load_cli()
    monkeypatch.setattr(cli, 'onnxruntime_available', lambda: True)
    args = cli.parse_args([XS])
    assert cli.default_impls(args) == ['mmx3d', 'mmx3d_eager',
                                       'onnxruntime']
    args = cli.parse_args([XS, '--compare', '--mode', 'infer'])
    assert cli.default_impls(args) == ['mmx3d', 'mmaction2', 'pytorchvideo',
                                       'mmx3d_eager', 'onnxruntime']
    args = cli.parse_args([XS, '--mode', 'train'])
    assert cli.default_impls(args) == ['mmx3d']
    args = cli.parse_args([XS, '--no-deploy'])  # mmx3d is eager itself
    assert cli.default_impls(args) == ['mmx3d', 'onnxruntime']
    args = cli.parse_args([XS, '--no-deploy-paths'])
    assert cli.default_impls(args) == ['mmx3d']
    monkeypatch.setattr(cli, 'onnxruntime_available', lambda: False)
    assert cli.default_impls(cli.parse_args([XS])) == ['mmx3d',
                                                        'mmx3d_eager']


@pytest.fixture
def peaked_models(monkeypatch):
    """Every benchmarked model with a classifier scaled so that its class
    probabilities are far from uniform (differences show)."""
    from mmx3d.benchmark import timing

    def build(*args, **kwargs):
        model = build_model(*args, **kwargs)
        with torch.no_grad():
            model.cls_head.fc_cls.weight.mul_(2000)
        return model

    monkeypatch.setattr(timing, 'build_model', build)


@pytest.mark.slow
def test_onnxruntime_column_beside_eager_and_folded(peaked_models):
    """One in-process run: ONNX Runtime and eager PyTorch timed beside the
    BN-folded model at inference only; ONNX Runtime's probabilities on
    the benchmark batch are PyTorch's (1e-4)."""
    pytest.importorskip('onnxruntime')
    cfg = load_config(XS)
    spec = model_spec(cfg, SHAPE)
    opts = BenchOptions(config=XS, shape=SHAPE, batch=2, threads=1)
    impls = ['mmx3d', 'mmx3d_eager', 'onnxruntime']
    report = run_benchmark(cfg, spec, opts, impls, rounds=2, iters=1,
                           warmup=1, inprocess=True, log=None)
    assert list(report['train']['results']) == ['mmx3d']
    res = report['infer']['results']
    assert list(res) == impls
    assert res['onnxruntime']['onnx_max_abs_diff'] <= 1e-4
    assert res['onnxruntime']['onnx_export_max_abs_diff'] <= 1e-4
    assert res['mmx3d']['deploy_max_abs_diff'] < 1e-4
    assert 'deploy_max_abs_diff' not in res['mmx3d_eager']  # not folded
    flops = res['mmx3d']['gflops_per_clip']
    for r in res.values():
        assert r['gflops_per_clip'] == pytest.approx(flops, rel=1e-9)
        ips = statistics.median(2 / t for t in r['round_medians'])
        assert r['clips_per_s'] == pytest.approx(ips, rel=1e-12)
    saved = json_results(report)
    assert set(saved) == set(impls)
    assert 'infer_onnx_max_abs_diff' in saved['onnxruntime']
    per = [o / m for o, m in zip(res['onnxruntime']['round_medians'],
                                 res['mmx3d']['round_medians'])]
    assert saved['mmx3d']['infer_speedup_vs_onnxruntime'] == pytest.approx(
        statistics.median(per))


@pytest.mark.slow
def test_onnx_check_sees_a_different_model(peaked_models):
    """The ORT check compares probabilities that differ between classes:
    an exported graph that is not the model's fails it."""
    pytest.importorskip('onnxruntime')
    from mmx3d.benchmark.timing import Bench
    cfg = load_config(XS)
    opts = BenchOptions(config=XS, shape=SHAPE, batch=2)
    bench = Bench('onnxruntime', 'infer', cfg, model_spec(cfg, SHAPE), opts)
    assert bench._onnx_check() <= 1e-4
    with torch.no_grad():
        probs = torch.stack([d.pred_score for d in
                             bench.model.test_step(bench.data)])
        # 400 classes: probabilities from 1e-4 to 2e-2, not all 1/400
        assert float(probs.max() - probs.min()) > 0.01
        bench.model.cls_head.fc_cls.bias[0] += 5.0
    assert bench._onnx_check() > 1e-2
    with pytest.raises(ValueError, match='inference path'):
        Bench('onnxruntime', 'train', cfg, model_spec(cfg, SHAPE), opts)
