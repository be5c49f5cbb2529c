# Copyright (c) mmx3d contributors. All rights reserved.
"""tools/analysis/get_flops.py and plot_accuracy_cost.py."""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool(rel):
    """A tool script as a module (tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(
        'mmx3d_tool_' + osp.splitext(osp.basename(rel))[0],
        osp.join(ROOT, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_get_flops_prints_params_and_gflops():
    res = subprocess.run([
        sys.executable, osp.join(ROOT, 'tools/analysis/get_flops.py'),
        osp.join(ROOT, 'configs/x3d/x3d_s_kinetics400.py')
    ], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'Input clip: 3x13x160x160' in res.stdout
    assert 'Params: 3,794,322' in res.stdout
    assert 'GFLOPs: 1.96' in res.stdout


def test_get_flops_custom_shape():
    main = _load_tool('tools/analysis/get_flops.py').main
    res = main([osp.join(ROOT, 'configs/x3d/x3d_xs_kinetics400.py'),
                '--shape', '13', '160', '160'])
    assert abs(res['gflops'] - 1.963) < 0.001  # XS network on S's clip


def test_plot_accuracy_cost(tmp_path):
    tool = _load_tool('tools/analysis/plot_accuracy_cost.py')
    load_runs, main = tool.load_runs, tool.main
    paths = []
    for views, top1 in [(3, 0.7), (9, 0.8), (30, 0.82)]:
        p = tmp_path / f'k{views}.json'
        p.write_text(json.dumps({
            'config': 'configs/x3d/x3d_s_kinetics400.py', 'acc/top1': top1,
            'views': views, 'gflops_per_video': 2.72 * views
        }))
        paths.append(str(p))
    runs = load_runs(paths)
    assert [v for _, _, v in runs['x3d_s_kinetics400']] == [3, 9, 30]
    out = str(tmp_path / 'fig.png')
    main(paths + ['--out', out])
    assert open(out, 'rb').read(4) == b'\x89PNG'
