# Copyright (c) mmx3d contributors. All rights reserved.
"""Folding BN into convolutions keeps the eval-mode outputs."""
import copy
import os.path as osp
import pickle
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from mmx3d.models.utils.fuse_bn import count_bn, fuse_bn, fuse_conv_bn
from mmx3d.registry import HOOKS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CL = torch.channels_last_3d


def _randomise_bn(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.3, 0.3, generator=g)
                m.running_mean.uniform_(-0.3, 0.3, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)


def _recognizer(channels_last=False, **backbone):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_xs_kinetics400.py'))
    cfg.model.backbone.update(gamma_d=1.0, channels_last=channels_last,
                              **backbone)
    model = MODELS.build(cfg.model)
    _randomise_bn(model)
    return model.eval()


def _logits(model, x):
    with torch.no_grad():
        return model(x, mode='tensor', stage='head')


@pytest.mark.parametrize('channels_last', [False, True])
def test_fuse_bn_keeps_outputs(channels_last):
    model = _recognizer(channels_last)
    x = torch.randn(2, 1, 3, 4, 48, 48)
    ref = _logits(model, x)
    n_bn = count_bn(model)
    # stem 1 + 4 stages x blocks (1, 2, 5, 3) x 3 + 4 downsample + conv5
    assert n_bn == 1 + 11 * 3 + 4 + 1
    fused = fuse_bn(copy.deepcopy(model))
    assert count_bn(fused) == 0
    out = _logits(fused, x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert (out - ref).abs().max() < 1e-4
    # every folded conv has a bias now; the SE layers and lin5 are untouched
    bb = fused.backbone
    assert bb.stem.conv_t.bias is not None and bb.stem.conv_xy.bias is None
    for name in ('conv_a', 'conv_b', 'conv_c'):
        assert getattr(bb.res3[1], name).bias is not None
    assert bb.res2[0].downsample[0].bias is not None
    assert isinstance(bb.res2[0].downsample[1], nn.Identity)
    assert fused.cls_head.conv5.bias is not None
    if channels_last:
        w = bb.res2[0].conv_a.weight
        assert w.is_contiguous(memory_format=CL)


def test_fuse_conv_bn_grouped_and_biased_conv():
    torch.manual_seed(0)
    conv = nn.Conv3d(6, 6, 3, padding=1, groups=6, bias=True).double()
    bn = nn.BatchNorm3d(6).double().eval()
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
        bn.weight.normal_()
        bn.bias.normal_()
    x = torch.randn(2, 6, 3, 5, 5, dtype=torch.float64)
    ref = bn(conv(x))
    out = fuse_conv_bn(copy.deepcopy(conv), bn)(x)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_fuse_conv_bn_errors():
    with pytest.raises(ValueError, match='channels'):
        fuse_conv_bn(nn.Conv3d(4, 4, 1), nn.BatchNorm3d(5))
    with pytest.raises(ValueError, match='running statistics'):
        fuse_conv_bn(nn.Conv3d(4, 4, 1),
                     nn.BatchNorm3d(4, track_running_stats=False))
    with pytest.raises(TypeError):
        fuse_conv_bn(nn.Linear(4, 4), nn.BatchNorm1d(4))


def test_fuse_bn_hook_before_test():
    model = _recognizer()
    x = torch.randn(1, 1, 3, 4, 32, 32)
    ref = _logits(model, x)
    hook = HOOKS.build(dict(type='FuseBNHook'))
    runner = SimpleNamespace(model=model)
    hook.before_test(runner)
    assert count_bn(model) == 0
    torch.testing.assert_close(_logits(model, x), ref, rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize('flags,folded', [([], True), (['--fuse'], True),
                                           (['--no-fuse'], False)])
def test_test_tool_folds_bn_by_default(monkeypatch, tmp_path, flags, folded):
    """``tools/test.py`` folds BN unless ``--no-fuse`` (the hook it adds
    folds a model's BNs before testing)."""
    import tools.test as test_tool
    captured = {}

    def fake_build_runner(cfg, **kwargs):
        captured['hooks'] = list(cfg.custom_hooks)
        raise SystemExit(0)

    monkeypatch.setattr(test_tool, 'build_runner', fake_build_runner)
    with pytest.raises(SystemExit):
        test_tool.main([
            osp.join(ROOT, 'configs/x3d/x3d_xs_kinetics400.py'),
            str(tmp_path / 'none.pth'), *flags
        ])
    fuse = [h for h in captured['hooks'] if h['type'] == 'FuseBNHook']
    assert len(fuse) == int(folded)
    if folded:
        model = _recognizer()
        HOOKS.build(fuse[0]).before_test(SimpleNamespace(model=model))
        assert count_bn(model) == 0


def test_init_recognizer_fuse_keeps_scores(tmp_path):
    """``init_recognizer(..., fuse=True)`` (what ``recognize.py`` uses)
    folds every BN and gives the unfused model's logits."""
    from mmx3d.apis import init_recognizer
    ckpt = str(tmp_path / 'xs.pth')
    torch.save(dict(state_dict=_recognizer().state_dict()), ckpt)
    config = osp.join(ROOT, 'configs/x3d/x3d_xs_kinetics400.py')
    opts = {'model.backbone.gamma_d': 1.0}
    plain = init_recognizer(config, ckpt, cfg_options=opts)
    folded = init_recognizer(config, ckpt, cfg_options=opts, fuse=True)
    assert count_bn(plain) == 39 and count_bn(folded) == 0
    x = torch.randn(1, 1, 3, 4, 32, 32)
    torch.testing.assert_close(_logits(folded, x), _logits(plain, x),
                               rtol=1e-5, atol=1e-5)


def test_fuse_bn_hook_in_a_real_test_loop(synthetic_data, tmp_path):
    """MMEngine's test loop with ``FuseBNHook`` (the hook runs after the
    checkpoint is loaded) gives the unfused model's predictions."""
    from mmx3d.apis import build_runner
    from tests.helpers.tiny import tiny_synthetic_cfg
    model = None
    ckpt = str(tmp_path / 'random.pth')
    scores = {}
    for fuse in (False, True):
        cfg = tiny_synthetic_cfg(synthetic_data, str(tmp_path / f'w{fuse}'))
        cfg.test_evaluator = dict(type='DumpResults',
                                  out_file_path=str(tmp_path / f'{fuse}.pkl'))
        cfg.custom_hooks = [dict(type='FuseBNHook')] if fuse else []
        if model is None:
            model = MODELS.build(cfg.model)
            _randomise_bn(model)
            torch.save(dict(state_dict=model.state_dict()), ckpt)
        cfg.load_from = ckpt
        runner = build_runner(cfg)
        runner.test()
        # stem + 4 blocks x 3 + 4 shortcuts + conv5
        assert count_bn(runner.model) == (0 if fuse else 18)
        with open(tmp_path / f'{fuse}.pkl', 'rb') as f:
            scores[fuse] = torch.stack(
                [torch.as_tensor(r['pred_score']) for r in pickle.load(f)])
    torch.testing.assert_close(scores[True], scores[False], rtol=1e-5,
                               atol=1e-6)
