# Copyright (c) mmx3d contributors. All rights reserved.
"""Resume from real Runner checkpoints: damaged files (truncated, empty,
bit-flipped, unreadable, NaN) are skipped with a log line and the newest
complete one is taken; a rerun of the same command resumes by default;
``--no-resume`` starts over and says so."""
import importlib.util
import os
import os.path as osp
import re
import shutil

import pytest
import torch

from mmx3d.apis import build_runner
from mmx3d.apis import runner as runner_api
from mmx3d.apis.runner import checkpoint_problem, find_resume_checkpoint
from mmx3d.utils.compat import safe_torch_load
from tests.helpers.tiny import tiny_synthetic_cfg

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _cfg(synthetic_data, work, max_epochs=2):
    cfg = tiny_synthetic_cfg(synthetic_data, work, max_epochs=max_epochs)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    cfg.custom_hooks = []  # no precise BN: faster
    return cfg


@pytest.fixture(scope='module')
def trained(synthetic_data, tmp_path_factory):
    """A work dir after 2 epochs: epoch_1.pth, epoch_2.pth (latest)."""
    work = str(tmp_path_factory.mktemp('trained') / 'work')
    build_runner(_cfg(synthetic_data, work)).train()
    assert find_resume_checkpoint(work) == osp.join(work, 'epoch_2.pth')
    return work


@pytest.fixture
def work(trained, tmp_path):
    """A copy of ``trained`` whose ``last_checkpoint`` names the copy."""
    dst = str(tmp_path / 'work')
    shutil.copytree(trained, dst)
    with open(osp.join(dst, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(dst, 'epoch_2.pth'))
    return dst


@pytest.fixture
def logged(monkeypatch):
    lines = []
    plain = runner_api.print_log

    def record(msg, *args, **kwargs):
        lines.append(msg)
        return plain(msg, *args, **kwargs)

    monkeypatch.setattr(runner_api, 'print_log', record)
    return lines


def _truncate(path):
    size = osp.getsize(path)
    with open(path, 'r+b') as f:
        f.truncate(size // 2)


def _empty(path):
    open(path, 'wb').close()


def _flip(path):
    """One byte changed in the middle (a storage error)."""
    with open(path, 'r+b') as f:
        f.seek(osp.getsize(path) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0xFF]))


def _garbage(path):
    with open(path, 'wb') as f:
        f.write(b'not a checkpoint at all' * 100)


def _nan(path):
    ckpt = safe_torch_load(path)
    key = next(iter(ckpt['state_dict']))
    ckpt['state_dict'][key] = ckpt['state_dict'][key].float() * float('nan')
    torch.save(ckpt, path)


@pytest.mark.parametrize('damage,reason', [
    (_truncate, 'truncated'),
    (_empty, r'empty \(0 bytes\)'),
    (_flip, 'damaged zip archive'),
    (_garbage, 'unreadable'),
    (_nan, 'non-finite weights'),
])
def test_damaged_latest_falls_back_to_the_newest_complete(
        work, logged, damage, reason):
    latest = osp.join(work, 'epoch_2.pth')
    damage(latest)
    assert find_resume_checkpoint(work) == osp.join(work, 'epoch_1.pth')
    assert checkpoint_problem(latest) is not None
    skipped = [m for m in logged if 'skipping damaged checkpoint' in m]
    assert len(skipped) == 1
    assert latest in skipped[0]
    assert re.search(reason, skipped[0]), skipped[0]


def test_all_damaged_trains_from_scratch_saying_why(work, logged):
    _truncate(osp.join(work, 'epoch_2.pth'))
    _empty(osp.join(work, 'epoch_1.pth'))
    cfg = _cfg('unused', work)
    runner_api.prepare_cfg(cfg, resume='auto')
    assert cfg.resume is False
    assert sum('skipping damaged checkpoint' in m for m in logged) == 2
    assert any('no complete checkpoint' in m for m in logged)


def test_explicit_damaged_resume_is_an_error_naming_the_file(work):
    latest = osp.join(work, 'epoch_2.pth')
    _truncate(latest)
    cfg = _cfg('unused', work)
    with pytest.raises(ValueError, match=f"'{latest}' cannot be resumed "
                       'from: truncated'):
        runner_api.prepare_cfg(cfg, resume=latest)


def test_complete_checkpoints_pass_the_check(trained):
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        assert checkpoint_problem(osp.join(trained, name)) is None


@pytest.mark.slow
def test_truncated_latest_then_resume_trains_on(synthetic_data, work,
                                                 logged):
    """The latest checkpoint cut in half (disk full, a copy interrupted):
    the default resume continues from epoch 1 to the end."""
    _truncate(osp.join(work, 'epoch_2.pth'))
    runner = build_runner(_cfg(synthetic_data, work, max_epochs=3),
                          resume='auto')
    runner.train()
    assert any(f'resuming from {osp.join(work, "epoch_1.pth")}' in m
               for m in logged)
    ckpt = safe_torch_load(osp.join(work, 'epoch_3.pth'))
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['iter'] == 12
    assert checkpoint_problem(osp.join(work, 'epoch_2.pth')) is None


def _train_tool():
    spec = importlib.util.spec_from_file_location(
        'mmx3d_train_tool', osp.join(ROOT, 'tools/train.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_train_tool_resumes_by_default():
    tool = _train_tool()
    assert tool.parse_args(['c.py']).resume == 'auto'
    assert tool.parse_args(['c.py', '--resume']).resume == 'auto'
    assert tool.parse_args(['c.py', '--resume', 'x.pth']).resume == 'x.pth'
    assert tool.parse_args(['c.py', '--no-resume']).resume is False
    with pytest.raises(SystemExit):
        tool.parse_args(['c.py', '--resume', '--no-resume'])


def _weights(path):
    return safe_torch_load(path)['state_dict']


@pytest.mark.slow
def test_rerun_resumes_and_no_resume_starts_over(synthetic_data, work,
                                                 logged, tmp_path):
    """``tools/train.py CONFIG`` run again over its work dir: it resumes
    (here at the end: nothing is retrained or overwritten) and says from
    which file; with ``--no-resume`` it trains again from scratch."""
    cfg_path = str(tmp_path / 'cfg.py')
    _cfg(synthetic_data, work).dump(cfg_path)
    before = _weights(osp.join(work, 'epoch_2.pth'))
    tool = _train_tool()
    tool.main([cfg_path, '--work-dir', work])
    after = _weights(osp.join(work, 'epoch_2.pth'))
    for k in before:  # not retrained, not overwritten
        assert torch.equal(before[k], after[k]), k
    assert any(f'resuming from {osp.join(work, "epoch_2.pth")}' in m
               for m in logged)

    tool.main([cfg_path, '--work-dir', work, '--no-resume', '--seed', '1'])
    assert any('--no-resume, starting over' in m for m in logged)
    again = _weights(osp.join(work, 'epoch_2.pth'))
    key = 'cls_head.fc_cls.weight'
    assert not torch.equal(before[key], again[key])
