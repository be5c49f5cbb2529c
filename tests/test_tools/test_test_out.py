# Copyright (c) mmx3d contributors. All rights reserved.
"""tools/test.py --out: its directory is made before testing, or the run
stops before testing with the reason."""
import importlib.util
import json
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'x3d', 'x3d_xs_synthetic.py')


@pytest.fixture(scope='module')
def tools_test():
    spec = importlib.util.spec_from_file_location(
        'mmx3d_tools_test_out', osp.join(ROOT, 'tools', 'test.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def no_runner(tools_test, monkeypatch):
    """Fail the test if tools/test.py gets as far as building a Runner."""
    built = []

    def build_runner(*args, **kwargs):
        built.append(1)
        raise AssertionError('the test started')

    monkeypatch.setattr(tools_test, 'build_runner', build_runner)
    return built


def test_out_creates_its_directory(tools_test, tmp_path):
    out = tmp_path / 'a' / 'b' / 'metrics.json'
    assert tools_test.prepare_output(str(out), '--out') == str(out)
    assert out.parent.is_dir() and not out.exists()
    assert list(out.parent.iterdir()) == []  # the probe is removed


@pytest.mark.parametrize('option', ['--out', '--dump'])
def test_unwritable_output_fails_before_testing(tools_test, no_runner,
                                                tmp_path, option):
    blocker = tmp_path / 'results'
    blocker.write_text('a file, not a folder')
    name = 'metrics.json' if option == '--out' else 'preds.pkl'
    out = str(blocker / name)
    with pytest.raises(SystemExit) as e:
        tools_test.main([CONFIG, 'ckpt.pth', option, out])
    assert f'{option} {out!r}: cannot write to {str(blocker)!r}' in \
        str(e.value.code)
    assert not no_runner


def test_out_that_is_a_directory_fails_before_testing(tools_test, no_runner,
                                                      tmp_path):
    with pytest.raises(SystemExit, match='is a directory'):
        tools_test.main([CONFIG, 'ckpt.pth', '--out', str(tmp_path)])
    assert not no_runner


@pytest.mark.slow
def test_out_into_a_missing_directory_after_a_real_test(
        tools_test, tmp_path, synthetic_data):
    """The whole test runs and its metrics land in the new directory."""
    from mmengine.config import Config

    from mmx3d.registry import MODELS
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.update(gamma_d=1.0, stage_blocks=(1, 1, 1, 1))
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'model.pth')
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, ckpt)
    out = tmp_path / 'new' / 'dir' / 'metrics.json'
    tools_test.main([
        CONFIG, ckpt, '--work-dir', str(tmp_path / 'work'), '--views', '1',
        '--out', str(out), '--cfg-options',
        'model.backbone.gamma_d=1.0', 'model.backbone.stage_blocks=[1,1,1,1]',
        f'test_dataloader.dataset.ann_file={synthetic_data}/'
        'val_list_videos.txt',
        f'test_dataloader.dataset.data_prefix.video={synthetic_data}/videos',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ])
    record = json.loads(out.read_text())
    assert record['checkpoint'] == ckpt
    assert 0 <= record['acc/top1'] <= 1
    assert [p.name for p in out.parent.iterdir()] == ['metrics.json']
