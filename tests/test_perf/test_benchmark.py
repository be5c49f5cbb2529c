# Copyright (c) mmx3d contributors. All rights reserved.
"""``tools/analysis/benchmark.py`` runs end to end in a tiny configuration.

Nothing here is timed: benchmarks belong to the tool, tests only check that
it runs, compares like with like and writes what scripts expect.
"""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from tools.analysis import benchmark

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
XS = osp.join(ROOT, 'configs/x3d/x3d_xs_kinetics400.py')
S = osp.join(ROOT, 'configs/x3d/x3d_s_kinetics400.py')
TINY = ['--shape', '4', '32', '32', '--batch', '1', '--iters', '1',
        '--warmup', '1', '--rounds', '2', '--threads', '1']


def test_inprocess_compare_data_and_json(tmp_path):
    out = tmp_path / 'bench.json'
    res = benchmark.main([
        XS, *TINY, '--compare', '--inprocess', '--data', '--data-videos',
        '1', '--data-iters', '1', '--data-size', '48', '--json', str(out)
    ])
    saved = json.loads(out.read_text())
    assert set(saved) == set(res) == {'mmx3d', 'mmaction2', 'pytorchvideo'}
    for impl, r in saved.items():
        for key in ('train_clips_per_s', 'infer_clips_per_s',
                    'train_peak_mem_mb', 'infer_peak_mem_mb'):
            assert key in r, (impl, key)
        assert r['train_clips_per_s'] > 0 and r['infer_clips_per_s'] > 0
    m = saved['mmx3d']
    assert m['infer_deploy_max_abs_diff'] < 1e-4
    assert m['data_clips_per_s_per_worker'] > 0
    for phase in ('train', 'infer'):
        for other in ('mmaction2', 'pytorchvideo'):
            assert m[f'{phase}_speedup_vs_{other}'] > 0


def test_worker_processes_report_peak_memory(tmp_path):
    out = tmp_path / 'bench.json'
    benchmark.main([XS, *TINY, '--mode', 'infer', '--json', str(out)])
    r = json.loads(out.read_text())['mmx3d']
    assert r['infer_peak_mem_mb'] > 100  # a real VmHWM of a worker
    assert 'train_clips_per_s' not in r


@pytest.mark.parametrize('impl,params', [('mmx3d', 3794322),
                                         ('mmaction2', 3794322),
                                         ('pytorchvideo', 3794274)])
def test_the_three_models_are_the_same_network(impl, params):
    """Published X3D-S parameter counts (PyTorchVideo lacks the res2
    shortcut BN: 2 x 24 parameters fewer)."""
    args = benchmark.parse_args([S, '--shape', '4', '32', '32', '--batch',
                                 '1'])
    cfg = Config.fromfile(S)
    spec = benchmark.model_spec(cfg, args)
    if impl == 'pytorchvideo' and benchmark.import_pytorchvideo_x3d() is None:
        pytest.skip('PyTorchVideo is not installed')
    bench = benchmark.Bench(impl, 'train', cfg, spec, args)
    model = bench.model
    if impl != 'pytorchvideo':
        model = [model.backbone, model.cls_head]
    else:
        model = [model]
    assert sum(p.numel() for m in model for p in m.parameters()) == params
    # GFLOPs of one 4x32x32 clip agree across implementations
    assert bench.gflops == pytest.approx(0.0255, rel=0.05)


def test_worker_argv_keeps_json_with_the_parent():
    argv = ['cfg.py', '--json', 'x.json', '--batch', '2', '--json=y']
    assert benchmark.worker_argv(argv) == ['cfg.py', '--batch', '2']
