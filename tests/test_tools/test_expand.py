# Copyright (c) mmx3d contributors. All rights reserved.
"""tools/expand.py: a real search on tiny synthetic data (trained with
tools/train.py), killed mid-step and rerun; its outputs; the final config
trains."""
import csv
import importlib.util
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools/expand.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('mmx3d_tool_expand', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_options():
    tool = _load_tool()
    args = tool.parse_args(['base.py', '--steps', '3', '--axes', 'fast',
                            'depth', '--paper-regularisation', '--launcher',
                            'slurm', '--partition', 'p', '--gpus', '8'])
    assert (args.steps, args.axes, args.c_hat) == (3, ['fast', 'depth'], 2.0)
    assert (args.select, args.launcher, args.gpus) == ('acc', 'slurm', 8)
    assert args.paper_regularisation and args.target_gflops is None
    with pytest.raises(SystemExit):
        tool.parse_args(['base.py', '--steps', '1', '--select', 'loss'])


def _tiny_base(tmp_path, data):
    """x3d_x2d_synthetic.py on the tiny synthetic set, 4 clips a batch."""
    path = tmp_path / 'tiny_x2d.py'
    path.write_text(f"""_base_ = [{osp.join(ROOT,
                                   'configs/x3d/x3d_x2d_synthetic.py')!r}]
root = {data!r}
videos = dict(data_prefix=dict(video=f'{{root}}/videos'))
loader = dict(batch_size=4, num_workers=0, persistent_workers=False)
train_dataloader = dict(
    **loader, dataset=dict(ann_file=f'{{root}}/train_list_videos.txt',
                           **videos))
val_dataloader = dict(
    **loader, dataset=dict(ann_file=f'{{root}}/val_list_videos.txt',
                           **videos))
test_dataloader = val_dataloader
custom_hooks = [dict(type='PreciseBNHook', num_batches=2)]
default_hooks = dict(logger=dict(interval=1))
""")
    return str(path)


def _launches(work_dir):
    with open(osp.join(work_dir, 'launches.log')) as f:
        return [line.split('\t')[1:3] for line in f if line.strip()]


@pytest.fixture(scope='module')
def killed_and_rerun(synthetic_data, tmp_path_factory):
    """Search 2 steps x 2 axes; SIGKILL it (and its training) once the
    first step-1 candidate has its result; rerun the same command."""
    tmp = tmp_path_factory.mktemp('expand')
    work = str(tmp / 'search')
    cmd = [sys.executable, TOOL, _tiny_base(tmp, synthetic_data),
           '--steps', '2', '--epochs', '1', '--axes', 'fast', 'spatial',
           '--work-dir', work]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    marker = osp.join(work, 'step01_fast', 'result.json')
    with open(tmp / 'first.log', 'w') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.time() + 600
        while not osp.exists(marker) and proc.poll() is None and \
                time.time() < deadline:
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert osp.exists(marker), open(tmp / 'first.log').read()[-3000:]
    before = {}
    for name in ('step00_start', 'step01_fast'):
        p = osp.join(work, name, 'result.json')
        before[name] = (open(p).read(), os.stat(p).st_mtime_ns)
    launches_before = _launches(work)
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return dict(work=work, before=before, launches_before=launches_before,
                stdout=res.stdout, tmp=tmp)


@pytest.mark.slow
def test_rerun_does_not_retrain_finished_candidates(killed_and_rerun):
    run = killed_and_rerun
    work = run['work']
    # killed while step01_spatial trained (or right before it started)
    assert [n for n, _ in run['launches_before']] in (
        ['step00_start', 'step01_fast'],
        ['step00_start', 'step01_fast', 'step01_spatial'])
    names = [n for n, _ in _launches(work)]
    assert names.count('step00_start') == 1
    assert names.count('step01_fast') == 1
    assert 1 <= names.count('step01_spatial') <= 2
    assert names.count('step02_fast') + names.count('step02_spatial') == 2
    for name, (text, mtime) in run['before'].items():
        p = osp.join(work, name, 'result.json')
        assert open(p).read() == text
        assert os.stat(p).st_mtime_ns == mtime


@pytest.mark.slow
def test_search_outputs(killed_and_rerun):
    work = killed_and_rerun['work']
    with open(osp.join(work, 'trajectory.json')) as f:
        traj = json.load(f)
    rows = traj['candidates']
    assert [(r['step'], r['axis']) for r in rows] == [
        (0, 'start'), (1, 'fast'), (1, 'spatial'), (2, 'fast'),
        (2, 'spatial')]
    chosen = [r for r in rows if r['chosen']]
    assert [r['step'] for r in chosen] == [0, 1, 2]
    for r in rows:
        assert 0 <= r['acc'] <= 1 and r['wall_s'] > 0
        with open(osp.join(work, f'step{r["step"]:02d}_{r["axis"]}',
                           'result.json')) as f:
            assert json.load(f)['acc'] == r['acc']
    # each step picked its most accurate candidate (ties: fewer FLOPs)
    for step in (1, 2):
        cands = [r for r in rows if r['step'] == step]
        best = max(cands, key=lambda r: (r['acc'], -r['gflops']))
        assert best['chosen']
    for a, b in zip(chosen, chosen[1:]):
        assert 1.7 < b['gflops'] / a['gflops'] < 2.3
    with open(osp.join(work, 'trajectory.csv')) as f:
        table = list(csv.DictReader(f))
    assert [int(r['step']) for r in table] == [0, 1, 1, 2, 2]
    assert [r['chosen'] for r in table] == [str(r['chosen']) for r in rows]
    with open(osp.join(work, 'trajectory.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    final = Config.fromfile(osp.join(work, 'final_config.py'))
    last = chosen[-1]
    assert final.clip_len == last['frames']
    assert final.train_crop == last['crop']
    assert final.model.backbone.gamma_w == last['gamma_w']
    assert 'final:' in killed_and_rerun['stdout']


@pytest.mark.slow
def test_final_config_trains(killed_and_rerun):
    work = killed_and_rerun['work']
    out = str(killed_and_rerun['tmp'] / 'final_train')
    res = subprocess.run([
        sys.executable, osp.join(ROOT, 'tools/train.py'),
        osp.join(work, 'final_config.py'), '--work-dir', out,
        '--cfg-options', 'train_cfg.max_epochs=1'
    ], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert res.returncode == 0, res.stderr[-3000:]
    assert osp.isfile(osp.join(out, 'epoch_1.pth'))
