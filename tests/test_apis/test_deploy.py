# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d.apis.deploy and tools/deployment/export_onnx.py.

The reference throughout is MMAction2's own test path (``predict``, BN not
folded, softmax in ``average_clip``), not the module that was exported, so
a wrong wrapper, a wrong BN folding or a wrong export all fail."""
import copy
import importlib
import importlib.util
import os.path as osp
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from mmaction.structures import ActionDataSample

from mmx3d.apis import init_recognizer
from mmx3d.apis.deploy import (
    INSTALL_HINT,
    ClipClassifier,
    DeployDependencyError,
    OnnxCheckError,
    OnnxRecognizer,
    check_onnx,
    export_onnx,
)
from mmx3d.converters import export_pyslowfast, save_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = (4, 64, 64)  # T, H, W: global pooling in every variant's head
ATOL = 1e-4


def config(arch):
    return osp.join(ROOT, f'configs/x3d/x3d_{arch}_kinetics400.py')


def clips(n, shape=SMALL, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, *shape, generator=gen)


@torch.no_grad()
def mmaction_probs(recognizer, x):
    """Probabilities of MMAction2's test path, one view per video."""
    samples = [ActionDataSample() for _ in range(len(x))]
    out = recognizer.predict(x[:, None], samples)
    return torch.stack([s.pred_score for s in out]).double().numpy()


@torch.no_grad()
def randomized(arch, seed=0):
    """A recognizer whose BN statistics are far from identity (so folding
    matters) and whose logits spread (so the probabilities are not all
    1/400)."""
    model = init_recognizer(config(arch))
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
    fc = model.cls_head.fc_cls
    fc.weight.copy_(torch.randn(fc.weight.shape, generator=gen) * 0.5)
    return model


@pytest.fixture(scope='module')
def xs_model():
    return randomized('xs')


@pytest.fixture(scope='module')
def xs_onnx(xs_model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('onnx') / 'x3d_xs.onnx')
    return export_onnx(xs_model, out=path, shape=SMALL)


@pytest.mark.parametrize('arch', ['xs', 's', 'm', 'l', 'xl'])
def test_export_matches_mmaction_predict(arch, tmp_path):
    model = randomized(arch)
    info = export_onnx(model, out=str(tmp_path / 'x3d.onnx'), shape=SMALL)
    assert info['max_abs_diff'] <= ATOL
    x = clips(2)
    got = OnnxRecognizer(info['path'], num_threads=1).probs(x)
    want = mmaction_probs(model, x)
    assert got.shape == (2, 400)
    assert want.max() > 4 / 400  # not uniform: a real comparison
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


def test_metadata_states_the_input_contract(xs_model, xs_onnx):
    meta = OnnxRecognizer(xs_onnx['path']).meta
    assert meta['mean'] == [114.75] * 3 and meta['std'] == [57.375] * 3
    assert meta['clip_shape'] == [4, 64, 64]
    assert meta['output'] == 'probs' and meta['num_classes'] == '400'
    assert meta['config'].endswith('x3d_xs_kinetics400.py')
    graph = onnx.load(xs_onnx['path']).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == 'N'


def test_bn_is_folded_on_a_copy(xs_model, tmp_path, monkeypatch):
    # the graph cannot show it (the exporter's constant folding also folds
    # an eval BN), so watch what export_onnx folds
    # (the package re-exports the function under the module's name)
    fuse_mod = importlib.import_module('mmx3d.models.utils.fuse_bn')
    folded, fuse_bn = [], fuse_mod.fuse_bn

    def spy(model):
        folded.append(fuse_bn(model))
        return folded[-1]

    monkeypatch.setattr(fuse_mod, 'fuse_bn', spy)
    export_onnx(xs_model, out=str(tmp_path / 'x.onnx'), shape=SMALL)
    assert len(folded) == 1 and folded[0] is not xs_model
    assert fuse_mod.count_bn(folded[0]) == 0
    assert fuse_mod.count_bn(xs_model) > 0  # the caller's model is intact


def test_normalize_matches_data_preprocessor(xs_model, xs_onnx):
    frames = torch.randint(0, 256, (1, 3, *SMALL)).float()
    data = dict(inputs=[frames[0][None]], data_samples=[ActionDataSample()])
    want = xs_model.data_preprocessor(data)['inputs'][:, 0]
    got = OnnxRecognizer(xs_onnx['path']).normalize(frames.numpy())
    np.testing.assert_allclose(got, want.numpy(), atol=1e-6)


@pytest.mark.parametrize('batch', [1, 3])
def test_dynamic_batch(xs_model, xs_onnx, batch):
    runner = OnnxRecognizer(xs_onnx['path'], num_threads=1)
    x = clips(batch, seed=batch)
    got = runner.probs(x)
    assert got.shape == (batch, 400)
    np.testing.assert_allclose(got, mmaction_probs(xs_model, x), atol=ATOL)
    # a clip's scores do not depend on the rest of the batch
    np.testing.assert_allclose(runner.probs(x[-1:])[0], got[-1], atol=1e-6)


def test_views_are_averaged_by_the_caller(xs_onnx):
    runner = OnnxRecognizer(xs_onnx['path'], num_threads=1)
    x = clips(4)
    per_clip = runner.probs(x)
    np.testing.assert_allclose(
        runner.probs(x, views=2),
        [per_clip[:2].mean(0), per_clip[2:].mean(0)], atol=1e-12)
    with pytest.raises(ValueError, match='not a multiple of views=3'):
        runner.probs(x, views=3)


def test_logits_output(xs_model, tmp_path):
    info = export_onnx(xs_model, out=str(tmp_path / 'logits.onnx'),
                       shape=SMALL, output='logits')
    runner = OnnxRecognizer(info['path'], num_threads=1)
    assert runner.meta['output'] == 'logits'
    assert runner.meta['scores'] == 'logits'
    x = clips(2)
    with torch.no_grad():
        want = xs_model.cls_head(xs_model.extract_feat(x[:, None])[0])
    logits = runner(x)
    np.testing.assert_allclose(logits, want.numpy(), atol=ATOL)
    np.testing.assert_allclose(runner.probs(x), mmaction_probs(xs_model, x),
                               atol=ATOL)


@pytest.mark.parametrize('output', ['probs', 'logits'])
def test_fully_convolutional_head(xs_model, tmp_path, output):
    # XS tests on 182 crops, trained on 160: the head pools with the
    # training kernel at every position and returns log-probabilities
    shape = (4, 182, 182)
    info = export_onnx(xs_model, out=str(tmp_path / 'fc.onnx'),
                       output=output)
    assert info['shape'] == shape
    assert info['scores'] == ('log_probs' if output == 'logits' else 'probs')
    runner = OnnxRecognizer(info['path'], num_threads=1)
    x = clips(2, shape)
    if output == 'logits':
        np.testing.assert_allclose(np.exp(runner(x)).sum(-1), 1, atol=1e-5)
    np.testing.assert_allclose(runner.probs(x), mmaction_probs(xs_model, x),
                               atol=ATOL)


def test_pyslowfast_checkpoint(tmp_path):
    model = randomized('s', seed=3)
    ckpt = str(tmp_path / 'x3d_s_pyslowfast.pyth')
    save_checkpoint(export_pyslowfast(model.state_dict()), ckpt,
                    'pyslowfast')
    info = export_onnx(config('s'), ckpt, out=str(tmp_path / 's.onnx'),
                       shape=SMALL)
    assert info['checkpoint'] == ckpt
    x = clips(2)
    got = OnnxRecognizer(info['path'], num_threads=1).probs(x)
    np.testing.assert_allclose(got, mmaction_probs(model, x), atol=ATOL)
    # the checkpoint was loaded: a fresh random model scores differently
    fresh = mmaction_probs(init_recognizer(config('s')), x)
    assert np.abs(got - fresh).max() > 100 * ATOL


def test_check_fails_on_a_different_model(xs_model, xs_onnx):
    reference = ClipClassifier(copy.deepcopy(xs_model)).eval()
    assert check_onnx(xs_onnx['path'], reference, clips(2)) <= ATOL
    with torch.no_grad():
        reference.cls_head.conv5_bn.running_mean += 0.5
    with pytest.raises(OnnxCheckError, match='differ from PyTorch by'):
        check_onnx(xs_onnx['path'], reference, clips(2))


def _load_tool():
    path = osp.join(ROOT, 'tools/deployment/export_onnx.py')
    spec = importlib.util.spec_from_file_location('export_onnx_tool', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_missing_onnxruntime_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # import fails
    with pytest.raises(DeployDependencyError, match='onnxruntime'):
        export_onnx(config('xs'), out=str(tmp_path / 'x.onnx'), shape=SMALL)
    rc = _load_tool().main([config('xs'), '--out', str(tmp_path / 'x.onnx'),
                            '--shape', *map(str, SMALL)])
    assert rc == 2
    assert INSTALL_HINT in capsys.readouterr().err
    assert 'pip install mmx3d[deploy]' in INSTALL_HINT


@pytest.mark.slow
def test_cli(tmp_path):
    out = tmp_path / 'cli.onnx'
    res = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/deployment/export_onnx.py'),
         config('xs'), '--out', str(out), '--shape', '4', '64', '64',
         '--output', 'logits', '--opset', '17'],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'max abs difference of probabilities' in res.stdout
    assert 'mean=[114.75, 114.75, 114.75]' in res.stdout
    assert onnx.load(str(out)).opset_import[0].version == 17
    assert OnnxRecognizer(str(out)).meta['output'] == 'logits'


def test_cli_variant_shape_and_bad_shape(tmp_path, capsys):
    tool = _load_tool()
    args = tool.parse_args([config('xs'), '--variant-shape'])
    assert args.variant_shape and args.shape is None
    with pytest.raises(SystemExit):
        tool.parse_args([config('xs'), '--variant-shape', '--shape', '4',
                         '64', '64'])
    rc = tool.main([config('xs'), '--out', str(tmp_path / 'x.onnx'),
                    '--atol', '-1', '--shape', *map(str, SMALL)])
    assert rc == 1
    assert 'allowed: -1' in capsys.readouterr().err


@pytest.mark.slow
def test_recognize_demo_with_onnxruntime(tmp_path):
    """``recognize.py --backend onnxruntime`` on a real video gives the
    PyTorch model's top classes and probabilities (1e-4)."""
    import subprocess
    import sys

    from mmx3d.apis import init_recognizer, recognize
    from mmx3d.apis.inference import recognize_onnx
    from mmx3d.datasets.synthetic import render_video, write_video
    video = str(tmp_path / 'clip.mp4')
    write_video(video, render_video(np.random.default_rng(0), 1, 40, 72))
    config = osp.join(ROOT, 'configs/x3d/x3d_xs_synthetic.py')
    model = init_recognizer(config)
    with torch.no_grad():  # probabilities that differ between classes
        model.cls_head.fc_cls.weight.mul_(2000)
    onnx_file = str(tmp_path / 'xs.onnx')
    export_onnx(model, out=onnx_file)
    names = ['a', 'b', 'c', 'd']
    ref = recognize(model, video, topk=4, label_map=names)
    got = recognize_onnx(onnx_file, config, video, topk=4, label_map=names)
    assert [n for n, _ in got] == [n for n, _ in ref]
    assert max(abs(p - q) for (_, p), (_, q) in zip(got, ref)) <= 1e-4
    assert ref[0][1] - ref[-1][1] > 0.05  # not uniform
    label_map = tmp_path / 'names.txt'
    label_map.write_text('\n'.join(names) + '\n')
    proc = subprocess.run(
        [sys.executable, 'tools/demo/recognize.py', video, config, onnx_file,
         '--backend', 'onnxruntime', '--label-map', str(label_map),
         '--topk', '2'], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert [ln.split()[1] for ln in lines] == [n for n, _ in ref[:2]]


def test_idle_threads_do_not_spin(xs_onnx):
    """ONNX Runtime's idle threads sleep unless asked to spin, so they do
    not take the cores from the decoder or the next benchmark worker."""
    key = 'session.intra_op.allow_spinning'
    runner = OnnxRecognizer(xs_onnx['path'], num_threads=2)
    assert runner.session.get_session_options().get_session_config_entry(
        key) == '0'
    spinning = OnnxRecognizer(xs_onnx['path'], num_threads=2,
                              allow_spinning=True)
    assert spinning.session.get_session_options().get_session_config_entry(
        key) == '1'
