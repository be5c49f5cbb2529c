# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d/engine/hooks/work_dir_lock_hook.py: one training per work dir; a
second one stops at once naming the holder; a dead holder's lock is
stale."""
import glob
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time
import types

import pytest
from mmengine.logging import MMLogger

from mmx3d.apis import build_runner
from mmx3d.engine.hooks import (
    WorkDirLock,
    WorkDirLockedError,
    WorkDirLockHook,
)
from mmx3d.utils.compat import safe_torch_load
from tests.helpers.paths import subprocess_env
from tests.helpers.tiny import tiny_synthetic_cfg

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# a holder as WorkDirLock takes it (flock + its line), without importing
# mmx3d (seconds faster); the slow test runs two real trainings
HOLD = """
import fcntl, os, socket, sys, time
os.makedirs(sys.argv[1], exist_ok=True)
f = open(os.path.join(sys.argv[1], 'train.lock'), 'a+')
fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
f.truncate(0)
f.write(f'pid {os.getpid()} on host {socket.gethostname()}, started now, '
        'command: holder.py\\n')
f.flush()
print('locked', flush=True)
time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of ``tmp_path/work``."""
    work = str(tmp_path / 'work')
    proc = subprocess.Popen([sys.executable, '-c', HOLD, work], env=subprocess_env(),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'locked'
        yield work, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_second_holder_is_refused_naming_the_first(holder):
    work, proc = holder
    with pytest.raises(WorkDirLockedError) as e:
        WorkDirLock(work).acquire()
    msg = str(e.value)
    assert f'work dir {work!r} is in use by another training' in msg
    assert f'pid {proc.pid} on host {socket.gethostname()}, started ' in msg
    assert 'command: holder.py' in msg


def test_lock_of_a_killed_holder_is_stale(holder):
    work, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lock = WorkDirLock(work)
    lock.acquire()  # the kernel dropped the dead holder's lock
    with open(lock.path) as f:
        assert f.read().startswith(f'pid {os.getpid()} on host ')
    lock.release()


def test_a_later_lock_of_the_same_process_takes_over(tmp_path):
    first, second = WorkDirLock(str(tmp_path)), WorkDirLock(str(tmp_path))
    first.acquire()
    second.acquire()  # e.g. a new Runner after a crash in a notebook
    assert second.held and not first.held
    second.release()
    first.acquire()
    first.release()


def test_lock_hook_cleans_up_after_a_dead_training_and_releases(tmp_path):
    work = str(tmp_path)
    names = ('epoch_3.pth.tmp.99.ab12cd34', 'last_checkpoint.tmp.99.ef',
             'epoch_2.pth', 'last_checkpoint')
    for name in names:
        open(osp.join(work, name), 'w').close()
    runner = types.SimpleNamespace(
        work_dir=work, logger=MMLogger.get_instance('work_dir_lock_test'))
    hook = WorkDirLockHook()
    hook.before_train(runner)
    assert sorted(os.listdir(work)) == ['epoch_2.pth', 'last_checkpoint',
                                        'train.lock']
    with open(osp.join(work, 'train.lock')) as f:
        assert f.read().startswith(f'pid {os.getpid()} on host ')
    hook.after_train(runner)
    assert not hook.lock.held


def test_training_on_a_locked_work_dir_stops_before_touching_it(
        synthetic_data, holder):
    work, proc = holder
    stale = osp.join(work, 'epoch_1.pth.tmp.1.abcd')
    open(stale, 'w').close()
    cfg = tiny_synthetic_cfg(synthetic_data, work, max_epochs=1)
    runner = build_runner(cfg)
    with pytest.raises(WorkDirLockedError, match=f'pid {proc.pid} '):
        runner.train()
    assert osp.exists(stale)  # not the holder's to clean: left alone
    assert not glob.glob(osp.join(work, '*.pth'))


@pytest.mark.slow
def test_two_trainings_on_one_work_dir(synthetic_data, tmp_path):
    """Two real ``tools/train.py`` runs on one ``--work-dir``: the second
    stops at once naming the first, which ends with complete checkpoints
    (before: one crashed on the shared ``epoch_N.pth.tmp``, the other
    deleted the first one's best checkpoint)."""
    work = str(tmp_path / 'work')
    release = str(tmp_path / 'release')
    cfg = tiny_synthetic_cfg(synthetic_data, work, max_epochs=1)
    cfg.custom_imports = dict(imports=['mmx3d', 'tests.helpers.kill_hook'],
                              allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='WaitForFileHook', at_iter=1,
                             path=release)]
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    train = [sys.executable, osp.join(ROOT, 'tools/train.py'), cfg_path,
             '--work-dir', work]
    first = subprocess.Popen(train, env=subprocess_env(), cwd=ROOT,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        end = time.time() + 300
        while time.time() < end and not osp.exists(release + '.waiter'):
            # the first run is at iteration 1 once the file appears
            assert first.poll() is None, first.stdout.read()[-3000:]
            time.sleep(0.2)
        second = subprocess.run(train, env=subprocess_env(), cwd=ROOT,
                                capture_output=True, text=True, timeout=300)
        log = second.stdout + second.stderr
        assert second.returncode != 0
        assert 'WorkDirLockedError' in log and f'pid {first.pid} ' in log
        assert f'tools/train.py {cfg_path} --work-dir {work}' in log
        open(release, 'w').close()
        out, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, out[-3000:]
    for name in ('epoch_1.pth', 'best_acc_top1_epoch_1.pth'):
        safe_torch_load(osp.join(work, name))
