# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d.apis.expansion: the state, its configs, the six operators and the
search logic (trained here by a stand-in launcher; the real trainings are
in tests/test_tools/test_expand.py)."""
import json
import math
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmx3d.apis.expansion import (
    AXES,
    Expander,
    ExpansionState,
    Launcher,
    Regularisation,
    TrainSettings,
    config_text,
    parse_axes,
    read_metric,
    render_config,
    run_search,
    select_best,
)
from mmx3d.apis.expansion.search import Candidate
from mmx3d.registry import MODELS
from mmx3d.utils.complexity import recognizer_complexity

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
X2D = osp.join(ROOT, 'configs/x3d/x3d_x2d_synthetic.py')
STARTS = {
    'x2d': X2D,
    'xs': osp.join(ROOT, 'configs/x3d/x3d_xs_kinetics400.py'),
    's': osp.join(ROOT, 'configs/x3d/x3d_s_kinetics400.py'),
}
#: axis -> the factors it may change
CHANGES = dict(fast={'gamma_t', 'gamma_tau'},
               temporal={'gamma_t', 'gamma_tau'}, spatial={'gamma_s'},
               depth={'gamma_d'}, width={'gamma_w'},
               bottleneck={'gamma_b'})


@pytest.fixture(scope='module')
def expanders():
    """One Expander per start config (they cache their measurements)."""
    out = {}
    for name, path in STARTS.items():
        cfg = Config.fromfile(path)
        out[name] = (ExpansionState.from_config(path, cfg), Expander(cfg))
    return out


def test_x2d_start_state():
    cfg = Config.fromfile(X2D)
    state = ExpansionState.from_config(X2D, cfg)
    assert state.factors() == dict(gamma_tau=12, gamma_t=1, gamma_s=1.0,
                                   gamma_w=1.0, gamma_b=1.0, gamma_d=1.0)
    model = MODELS.build(cfg.model)
    assert model.backbone.stage_channels == [16, 24, 48, 96]
    assert model.backbone.stage_inner_channels == [16, 24, 48, 96]
    assert model.backbone.stage_blocks == [1, 2, 5, 3]
    x = torch.randn(2, 3, 1, 64, 64)
    assert model.backbone(x).shape == (2, 96, 1, 2, 2)
    for split in ('train', 'val', 'test'):
        sampler = cfg[f'{split}_dataloader'].dataset.pipeline[1]
        assert (sampler.clip_len, sampler.frame_interval) == (1, 12)


def test_xs_start_state_reads_the_preset(expanders):
    state = expanders['xs'][0]
    assert state.factors() == dict(gamma_tau=12, gamma_t=4, gamma_s=1.0,
                                   gamma_w=2.0, gamma_b=2.25, gamma_d=2.2)


@pytest.mark.parametrize('axis', list(AXES))
@pytest.mark.parametrize('start', list(STARTS))
def test_operator_doubles_flops(expanders, start, axis):
    state, exp = expanders[start]
    cand = exp.expand(state, axis)
    ratio = exp.gflops(cand) / exp.gflops(state)
    assert abs(ratio / 2 - 1) < 0.15, (start, axis, ratio)
    changed = {k for k, v in cand.factors().items()
               if v != state.factors()[k]}
    assert changed and changed <= CHANGES[axis], changed
    # the nearest discrete candidate: neither neighbour is nearer
    if axis in ('fast', 'temporal'):
        for t in (cand.gamma_t - 1, cand.gamma_t + 1):
            if t > state.gamma_t:
                other = exp.gflops(cand.replace(gamma_t=t))
                assert abs(math.log(other / exp.gflops(state) / 2)) >= \
                    abs(math.log(ratio / 2))


def test_temporal_operators_keep_or_stretch_the_duration(expanders):
    state, exp = expanders['s']  # 13 x 6
    fast, temporal = exp.expand(state, 'fast'), exp.expand(state, 'temporal')
    assert (fast.gamma_t, fast.gamma_tau) == (26, 3)  # same 78 frames
    assert (temporal.gamma_t, temporal.gamma_tau) == (26, 4)  # 6 * 0.75
    state, exp = expanders['x2d']  # 1 x 12
    assert exp.expand(state, 'fast').factors()['gamma_tau'] == 6
    assert exp.expand(state, 'temporal').factors()['gamma_tau'] == 9


def test_x2d_expansions_exact(expanders):
    """The measured candidates of the first step from X2D (the paper's
    rounding: crops multiples of 8, widths of 8, depths ceil-ed)."""
    state, exp = expanders['x2d']
    assert exp.gflops(state) == pytest.approx(0.002427392, rel=1e-9)
    spatial = exp.expand(state, 'spatial')
    assert spatial.gamma_s * 64 == pytest.approx(88)
    width = exp.expand(state, 'width')
    assert exp._widths(width.gamma_w) == (24, 24, 40, 72, 152)
    # from X2D x2 wide, x2.25 bottleneck: XS's 2.2 deep (3, 5, 11, 7) is
    # 1.92x; one block more in res4 is 2.02x, nearer
    net = state.replace(gamma_w=2.0, gamma_b=2.25)
    depth = exp.expand(net, 'depth')
    assert exp.gflops(net.replace(gamma_d=2.2)) / exp.gflops(net) == \
        pytest.approx(1.92, abs=0.01)
    assert math.ceil(depth.gamma_d * 5) == 12
    assert [math.ceil(depth.gamma_d * b) for b in (1, 2, 3)] == [3, 5, 7]


def test_contraction_ratio_and_same(expanders):
    state, exp = expanders['xs']
    half_way = exp.expand(state, 'width', ratio=1.5)
    assert abs(exp.gflops(half_way) / exp.gflops(state) / 1.5 - 1) < 0.1
    assert exp.expand(state, 'spatial', ratio=1.01,
                      allow_same=True) == state


def test_measure_matches_the_counter_on_a_real_model(expanders):
    """Meta device and BN swapped out: the same numbers as a CPU model."""
    state, exp = expanders['x2d']
    cand = state.replace(gamma_t=2, gamma_tau=6, gamma_w=1.5, gamma_b=2.25,
                         gamma_s=1.25)
    cfg = render_config(cand, exp.cfg)
    model = MODELS.build(cfg.model)
    res = recognizer_complexity(model, (2, 80, 80))
    assert exp.measure(cand) == (pytest.approx(res['gflops'], rel=1e-12),
                                 res['params'])


def test_config_file_loads_to_the_rendered_config(tmp_path, expanders):
    state, exp = expanders['x2d']
    cand = state.replace(gamma_t=2, gamma_tau=6, gamma_s=1.375,
                         gamma_w=2.0, gamma_b=2.25)
    train = TrainSettings(batch_mult=2, max_epochs=4, schedule_mult=0.5,
                          bn_clips=16, drop_connect_rate=0.1)
    text = config_text(cand, exp.cfg, train, header=['a candidate'],
                       cfg_options={'train_dataloader.num_workers': 0})
    path = tmp_path / 'cand.py'
    path.write_text(text)
    assert text.startswith('# a candidate\n_base_ = [')
    loaded = Config.fromfile(str(path))
    rendered = render_config(cand, Config.fromfile(
        X2D, ), train)
    rendered.train_dataloader.num_workers = 0
    assert loaded.to_dict() == rendered.to_dict()
    # the rewrites
    assert (loaded.clip_len, loaded.frame_interval) == (2, 6)
    assert (loaded.train_crop, loaded.test_crop) == (88, 99)
    assert loaded.scale_range == (99, 116)
    steps = {s['type']: s for s in loaded.train_dataloader.dataset.pipeline}
    assert steps['RandomCrop']['size'] == 88
    assert steps['RandomRescale']['scale_range'] == (99, 116)
    test = {s['type']: s for s in loaded.test_dataloader.dataset.pipeline}
    assert test['ThreeCrop']['crop_size'] == 99
    assert test['Resize']['scale'] == (-1, 99)
    assert test['PySlowFastSampleFrames']['num_clips'] == 3
    assert loaded.train_pipeline == loaded.train_dataloader.dataset.pipeline
    assert loaded.train_dataloader.batch_size == 16
    assert loaded.train_dataloader.num_workers == 0
    assert loaded.train_cfg.max_epochs == 2
    warmup, cosine = loaded.param_scheduler
    assert warmup.end == 1  # a warm-up keeps its length
    assert (cosine.T_max, cosine.end) == (2, 2)
    backbone = loaded.model.backbone
    assert backbone.norm_cfg.type == 'SubBatchNorm3d'
    assert backbone.norm_cfg.group_size == 16
    assert backbone.drop_connect_rate == 0.1
    model = MODELS.build(loaded.model)
    assert model.cls_head.conv5.in_channels == model.backbone.feat_dim == 192
    assert model.cls_head.mid_channels == model.backbone.conv5_channels
    assert model.cls_head.train_crop_size == 88
    x = torch.randn(2, 3, 2, 88, 88)
    assert model.backbone(x).shape == (2, 192, 2, 3, 3)
    # nothing callable left (the Runner dumps the config)
    assert Config.fromstring(loaded.pretty_text, '.py').to_dict() == \
        loaded.to_dict()


def test_not_an_x3d_config(tmp_path):
    path = tmp_path / 'r.py'
    path.write_text("model = dict(backbone=dict(type='ResNet3d'))\n")
    with pytest.raises(ValueError, match='r.py: model.backbone must be an '
                       'X3DBackbone'):
        ExpansionState.from_config(str(path))


def test_parse_axes():
    assert parse_axes(['X-Fast', 'depth', 'fast']) == ['fast', 'depth']
    with pytest.raises(ValueError, match="unknown axis 'height'"):
        parse_axes(['height'])


def test_paper_regularisation_by_step():
    reg = Regularisation.paper()
    s0, s7, s8, s11 = (reg.train_settings(k, epochs=4)
                       for k in (0, 7, 8, 11))
    assert (s0.batch_mult, s0.schedule_mult) == (2.0, 0.5)
    assert (s7.batch_mult, s7.schedule_mult) == (2.0, 0.5)
    assert (s8.batch_mult, s8.schedule_mult) == (1.0, 1.0)
    assert s0.bn_clips == s8.bn_clips == 16
    assert s8.drop_connect_rate is None and s11.drop_connect_rate == 0.1
    assert s0.max_epochs == 4
    final = reg.final_settings(11)
    assert (final.batch_mult, final.max_epochs, final.drop_connect_rate) \
        == (1.0, None, 0.1)
    assert Regularisation().train_settings(0) == TrainSettings()


def _cand(axis, gflops, acc):
    state = ExpansionState('b', 1, 1)
    return Candidate(1, axis, state, axis, '', '', gflops, 0, acc=acc)


def test_select_rules():
    current = _cand('start', 1.0, 0.5)
    a = _cand('fast', 2.0, 0.70)  # +0.20 for ln 2
    b = _cand('width', 1.5, 0.65)  # +0.15 for ln 1.5: 0.37 per log-FLOP
    assert select_best([a, b], current, 'acc') is a
    assert select_best([a, b], current, 'acc_per_logflops') is b
    tie = _cand('depth', 1.8, 0.70)
    assert select_best([a, tie], current, 'acc') is tie  # fewer FLOPs
    with pytest.raises(ValueError, match='select must be one of'):
        select_best([a], current, 'loss')


def _scalars(work_dir, stamp, lines):
    d = osp.join(work_dir, stamp, 'vis_data')
    os.makedirs(d, exist_ok=True)
    with open(osp.join(d, 'scalars.json'), 'w') as f:
        f.write('\n'.join(lines))


def test_read_metric_over_resumed_runs(tmp_path):
    wd = str(tmp_path)
    _scalars(wd, '20240101_000000', [
        json.dumps({'loss': 1.0, 'step': 5}),
        json.dumps({'acc/top1': 0.5, 'step': 1}),
        json.dumps({'acc/top1': 0.75, 'step': 2}),
    ])
    # the resumed run validated epoch 3, then was killed mid-line
    _scalars(wd, '20240101_010000', [
        json.dumps({'acc/top1': 0.625, 'step': 3}), '{"acc/to'
    ])
    assert read_metric(wd) == (0.625, 0.75, 3)
    with pytest.raises(FileNotFoundError, match="no validation 'mAP'"):
        read_metric(wd, 'mAP')


def test_launcher_commands(tmp_path):
    from mmx3d.apis.expansion import TrainJob
    job = TrainJob('step01_fast', 'c.py', 'w')
    local = Launcher('/t', python='py')
    assert local.command(job, resume=False) == [
        'py', '/t/train.py', 'c.py', '--work-dir', 'w', '--seed', '0']
    dist = Launcher('/t', kind='dist', gpus=2, seed=None)
    assert dist.command(job, resume=True) == [
        'bash', '/t/dist_train.sh', 'c.py', '2', '--work-dir', 'w',
        '--resume']
    slurm = Launcher('/t', kind='slurm', partition='p', gpus=8)
    assert slurm.command(job, False) == [
        'bash', '/t/slurm_train.sh', 'p', 'step01_fast', 'c.py', 'w',
        '--seed', '0']
    with pytest.raises(ValueError, match='needs a partition'):
        Launcher('/t', kind='slurm')


class FakeLauncher(Launcher):
    """Trains nothing: writes the scalars a training would, with an
    accuracy per axis (``accs``), and records what it was asked to run."""

    def __init__(self, accs):
        super().__init__('/nonexistent')
        self.accs = accs
        self.launched = []

    def run(self, jobs):
        for job in jobs:
            self.launched.append(job.name)
            axis = job.name.split('_', 1)[1]
            acc = self.accs.get(axis, self.accs.get(axis.split('_')[0]))
            _scalars(job.work_dir, '20240101_000000',
                     [json.dumps({'acc/top1': acc, 'step': 1})])
        return {job.name: 1.0 for job in jobs}


def test_search_logic_budget_contraction_and_resume(tmp_path):
    accs = dict(start=0.25, fast=0.6, spatial=0.4)
    axes = ['fast', 'spatial']
    wd = str(tmp_path / 'search')
    launcher = FakeLauncher(accs)
    target = 0.0065  # X2D 0.0024 -> fast 0.0046 -> (x2 = 0.0091) too much
    res = run_search(X2D, wd, steps=5, launcher=launcher, axes=axes,
                     target_gflops=target, plot=False)
    assert launcher.launched == [
        'step00_start', 'step01_fast', 'step01_spatial', 'step02_fast',
        'step02_spatial', 'step02_fast_contracted'
    ]
    path = [c.name for c in res.path]
    assert path == ['step00_start', 'step01_fast', 'step02_fast',
                    'step02_fast_contracted']
    final = res.final
    assert final.name == 'step02_fast_contracted'
    # the last axis (frames) re-solved from step 1 for the budget
    step1 = res.path[1]
    assert step1.state.gamma_t == 2 and final.state.gamma_t == 3
    assert abs(math.log(final.gflops / target)) < abs(
        math.log(res.path[2].gflops / target))
    with open(osp.join(wd, 'trajectory.json')) as f:
        rows = json.load(f)['candidates']
    assert [r['chosen'] for r in rows] == [
        True, True, False, True, False, True]
    with open(osp.join(wd, 'trajectory.csv')) as f:
        header = f.readline().strip().split(',')
    assert header[:8] == ['step', 'axis', 'gamma_tau', 'gamma_t', 'gamma_s',
                          'gamma_w', 'gamma_b', 'gamma_d']
    cfg = Config.fromfile(res.final_config)
    assert (cfg.clip_len, cfg.frame_interval) == (3, 4)
    assert cfg.train_cfg.max_epochs == 12  # the base's schedule
    with open(osp.join(wd, 'step01_fast', 'result.json')) as f:
        assert json.load(f)['acc'] == 0.6
    # the same search again: every candidate has its result, none trains
    again = FakeLauncher(accs)
    res2 = run_search(X2D, wd, steps=5, launcher=again, axes=axes,
                      target_gflops=target, plot=False)
    assert again.launched == []
    assert [c.name for c in res2.path] == path
    # another search in the same work dir is refused
    with pytest.raises(RuntimeError, match='belongs to a different search'):
        run_search(X2D, wd, steps=1, launcher=again, axes=axes,
                   cfg_options={'train_dataloader.batch_size': 4},
                   plot=False)


def test_search_stops_at_the_step_count(tmp_path):
    launcher = FakeLauncher(dict(start=0.25, spatial=0.3, bottleneck=0.35))
    res = run_search(X2D, str(tmp_path), steps=2, launcher=launcher,
                     axes=['spatial', 'bottleneck'], epochs=1,
                     regularisation=Regularisation.paper(), plot=True,
                     select='acc_per_logflops')
    assert [c.name for c in res.path] == [
        'step00_start', 'step01_bottleneck', 'step02_bottleneck']
    assert osp.getsize(res.files['png']) > 1000
    cand = Config.fromfile(res.path[1].config)
    assert cand.train_cfg.max_epochs == 1  # round(1 x 0.5), at least 1
    assert cand.train_dataloader.batch_size == 16  # x2 before step 8
    final = Config.fromfile(res.final_config)
    assert final.train_dataloader.batch_size == 8
    assert final.model.backbone.norm_cfg.group_size == 16
