# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d/engine/hooks/atomic_checkpoint_hook.py: checkpoints (best ones
too) are complete or absent, temporary names are unique per process, and
NaN/inf weights are never saved."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.fileio.backends import LocalBackend

from mmx3d.apis import build_runner, find_resume_checkpoint
from mmx3d.engine.hooks import (
    AtomicCheckpointHook,
    NonFiniteCheckpointError,
    save_checkpoint_atomic,
)
from mmx3d.engine.hooks.atomic_checkpoint_hook import tmp_name
from mmx3d.utils.compat import safe_torch_load
from tests.helpers.paths import subprocess_env
from tests.helpers.tiny import tiny_synthetic_cfg

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_tmp_name_is_unique_per_process_and_call():
    a, b = tmp_name('/w/best_acc.pth'), tmp_name('/w/best_acc.pth')
    assert a != b
    prefix = f'/w/best_acc.pth.tmp.{os.getpid()}.'
    assert a.startswith(prefix) and b.startswith(prefix)
    assert not a.endswith('.pth')  # never taken for a checkpoint


@pytest.fixture
def runner(synthetic_data, tmp_path):
    """A tiny Runner ready to save, as ``Runner.train`` prepares it."""
    cfg = tiny_synthetic_cfg(synthetic_data, str(tmp_path / 'work'))
    cfg.default_hooks.checkpoint.save_best = 'acc'
    cfg.default_hooks.checkpoint.rule = 'greater'
    runner = build_runner(cfg)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.param_schedulers = runner.build_param_scheduler(
        runner.param_schedulers)
    hook = _ckpt_hook(runner)
    hook.before_train(runner)
    return runner


def _ckpt_hook(runner):
    hooks = [h for h in runner.hooks if isinstance(h, AtomicCheckpointHook)]
    assert len(hooks) == 1
    return hooks[0]


def _set_epoch(runner, epoch):
    runner.train_loop._epoch = epoch


def _dying_put(monkeypatch, prefix):
    """``LocalBackend.put`` that writes half of a ``prefix*`` file, then
    raises as a kill would stop it."""
    plain_put = LocalBackend.put

    def put(backend, obj, filepath):
        if osp.basename(filepath).startswith(prefix):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise KeyboardInterrupt(f'killed while writing {filepath}')
        return plain_put(backend, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', put)


def _files(work, pattern='*'):
    return sorted(osp.basename(p) for p in glob.glob(osp.join(work, pattern)))


def test_new_best_is_complete_before_the_old_is_removed(runner, monkeypatch):
    work = runner.work_dir
    hook = _ckpt_hook(runner)
    _set_epoch(runner, 1)
    hook._save_best_checkpoint(runner, {'acc': 0.5})
    old = osp.join(work, 'best_acc_epoch_1.pth')
    assert _files(work, 'best_*') == ['best_acc_epoch_1.pth']

    _set_epoch(runner, 2)
    with monkeypatch.context() as m:
        _dying_put(m, 'best_')
        with pytest.raises(KeyboardInterrupt):
            hook._save_best_checkpoint(runner, {'acc': 0.7})
    # the old best is intact and still the best; nothing half-written
    assert _files(work, 'best_*') == ['best_acc_epoch_1.pth']
    safe_torch_load(old)
    assert hook.best_ckpt_path == old
    assert runner.message_hub.get_info('best_ckpt') == old
    assert runner.message_hub.get_info('best_score') == 0.5

    hook._save_best_checkpoint(runner, {'acc': 0.7})  # completes
    assert _files(work, 'best_*') == ['best_acc_epoch_2.pth']
    safe_torch_load(osp.join(work, 'best_acc_epoch_2.pth'))
    hook._save_best_checkpoint(runner, {'acc': 0.6})  # not better: kept
    assert _files(work, 'best_*') == ['best_acc_epoch_2.pth']


def test_interrupted_epoch_save_leaves_no_file(runner, monkeypatch):
    work = runner.work_dir
    hook = _ckpt_hook(runner)
    _set_epoch(runner, 0)
    hook._save_checkpoint(runner)
    _set_epoch(runner, 1)
    with monkeypatch.context() as m:
        _dying_put(m, 'epoch_')
        with pytest.raises(KeyboardInterrupt):
            hook._save_checkpoint(runner)
    assert _files(work, '*.pth*') == ['epoch_1.pth']
    assert find_resume_checkpoint(work) == osp.join(work, 'epoch_1.pth')


def test_nonfinite_weights_are_never_saved(runner):
    work = runner.work_dir
    hook = _ckpt_hook(runner)
    _set_epoch(runner, 0)
    hook._save_checkpoint(runner)
    _set_epoch(runner, 1)  # validation runs after the epoch count moved
    hook._save_best_checkpoint(runner, {'acc': 0.5})
    before = _files(work, '*.pth*')
    assert before == ['best_acc_epoch_1.pth', 'epoch_1.pth']
    pointer = open(osp.join(work, 'last_checkpoint')).read()

    with torch.no_grad():
        runner.model.cls_head.fc_cls.weight[0, 0] = float('nan')
        runner.model.backbone.stem.bn.running_var[1] = float('inf')
    with pytest.raises(NonFiniteCheckpointError,
                       match=r"refusing to save checkpoint 'epoch_2.pth' .*"
                       r'2 tensor\(s\): backbone.stem.bn.running_var, '
                       r'cls_head.fc_cls.weight'):
        hook._save_checkpoint(runner)
    with pytest.raises(NonFiniteCheckpointError, match='best checkpoint'):
        hook._save_best_checkpoint(runner, {'acc': 0.9})
    assert _files(work, '*.pth*') == before
    assert open(osp.join(work, 'last_checkpoint')).read() == pointer
    assert runner.message_hub.get_info('best_score') == 0.5


def test_save_checkpoint_atomic(runner):
    work = runner.work_dir
    path = save_checkpoint_atomic(runner, 'iter_3.pth',
                                  meta=dict(epoch=0, iter=3), by_epoch=False)
    assert path == osp.join(work, 'iter_3.pth')
    assert _files(work, '*.pth*') == ['iter_3.pth']
    assert open(osp.join(work, 'last_checkpoint')).read() == path
    assert runner.message_hub.get_info('last_ckpt') == path
    ckpt = safe_torch_load(path)
    assert ckpt['meta']['iter'] == 3 and 'optimizer' in ckpt
    with torch.no_grad():
        runner.model.cls_head.fc_cls.bias[0] = float('-inf')
    with pytest.raises(NonFiniteCheckpointError,
                       match="'.*iter_4.pth'.*cls_head.fc_cls.bias"):
        save_checkpoint_atomic(runner, 'iter_4.pth')
    assert _files(work, '*.pth*') == ['iter_3.pth']
    assert open(osp.join(work, 'last_checkpoint')).read() == path


@pytest.mark.slow
def test_sigkill_while_saving_the_best_keeps_the_old_best(synthetic_data,
                                                          tmp_path):
    """A real SIGKILL halfway through writing the second best checkpoint
    (MMEngine removed the old best first and wrote the new one in place:
    no complete best was left)."""
    work = str(tmp_path / 'work')
    cfg = tiny_synthetic_cfg(synthetic_data, work, max_epochs=2)
    cfg.train_cfg.val_interval = 1
    cfg.custom_hooks = [dict(type='AlwaysNewBestHook'),
                        dict(type='KillWhileSavingHook', prefix='best_',
                             at_save=2)]
    cfg.custom_imports = dict(imports=['mmx3d', 'tests.helpers.kill_hook'],
                              allow_failed_imports=False)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    res = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/train.py'), cfg_path,
         '--work-dir', work], env=subprocess_env(), capture_output=True, text=True,
        timeout=600, cwd=ROOT)
    assert res.returncode == -9, res.stderr[-3000:]  # SIGKILL
    assert 'best checkpoint with' in res.stdout + res.stderr  # one saved
    bests = glob.glob(osp.join(work, 'best_*.pth'))
    assert [osp.basename(p) for p in bests] == [
        'best_acc_top1_epoch_1.pth']
    safe_torch_load(bests[0])
