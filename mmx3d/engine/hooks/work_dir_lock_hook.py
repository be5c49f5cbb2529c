# Copyright (c) mmx3d contributors. All rights reserved.
"""One training per work dir: an ``fcntl.flock`` held while training."""
import fcntl
import glob
import os
import os.path as osp
import shlex
import socket
import sys
import time
from typing import Dict, Optional

from mmengine.dist import (
    broadcast_object_list,
    get_world_size,
    is_main_process,
)
from mmengine.hooks import Hook

from mmx3d.registry import HOOKS

LOCK_NAME = 'train.lock'

# work dirs this process holds: a later Runner of the same process (after a
# crash in a notebook, or a second `runner.train()`) takes its lock over
_HELD: Dict[str, 'WorkDirLock'] = {}


class WorkDirLockedError(RuntimeError):
    """Another training holds the work dir."""


class WorkDirLock:
    """An exclusive ``fcntl.flock`` on ``<work_dir>/train.lock``.

    The holder writes its pid, host, start time and command into the file.
    The kernel drops the lock when the holder's file is closed, also when
    the process dies (SIGKILL, OOM), so a lock file left behind by a dead
    training is stale and taken over by the next one.

    Args:
        work_dir (str): The directory to lock (created if missing).
    """

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_NAME)
        self._file = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None

    def acquire(self) -> None:
        """Take the lock or raise at once (no waiting).

        Raises:
            WorkDirLockedError: If another process holds it, naming that
                process (pid, host, start time, command) as it wrote them
                into the lock file.
        """
        key = osp.realpath(self.work_dir)
        if key in _HELD and _HELD[key] is not self and _HELD[key].held:
            other = _HELD.pop(key)  # same process: take it over
            self._file, other._file = other._file, None
        else:
            os.makedirs(self.work_dir, exist_ok=True)
            f = open(self.path, 'a+')
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or 'unknown (empty lock file)'
                f.close()
                raise WorkDirLockedError(
                    f'work dir {self.work_dir!r} is in use by another '
                    f'training ({self.path} is locked): {holder}. Wait for '
                    'it to end, stop it, or train into another --work-dir.'
                ) from None
            except OSError as e:  # file systems without flock support
                f.close()
                raise WorkDirLockedError(
                    f'cannot lock {self.path}: {e}. This file system '
                    'does not support flock; set '
                    'default_hooks.work_dir_lock=None to train without the '
                    'lock (make sure no other training uses this work dir).'
                ) from e
            self._file = f
        _HELD[key] = self
        self._file.seek(0)
        self._file.truncate()
        self._file.write(
            f'pid {os.getpid()} on host {socket.gethostname()}, started '
            f'{time.strftime("%Y-%m-%d %H:%M:%S %z")}, command: '
            f'{shlex.join(sys.argv)}\n')
        self._file.flush()

    def release(self) -> None:
        """Drop the lock (the file stays, naming the last holder)."""
        if self._file is None:
            return
        _HELD.pop(osp.realpath(self.work_dir), None)
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None


@HOOKS.register_module()
class WorkDirLockHook(Hook):
    """Lock the work dir for the duration of training.

    In ``before_train`` the main process takes :class:`WorkDirLock` on
    ``<work_dir>/train.lock``; a second training on the same work dir then
    stops at once with :class:`WorkDirLockedError` naming the holder (pid,
    host, start time, command) on every rank, before any checkpoint is
    touched. ``after_train`` releases it; so does the kernel when the
    process ends, however it ends. Only training locks: ``tools/test.py``
    may read a work dir while it trains. Only rank 0 locks (the ranks of
    one training share the work dir); the outcome is broadcast to all.

    Holding the lock, the hook removes temporary files of interrupted
    checkpoint saves (``*.pth.tmp.*``, ``last_checkpoint.tmp.*``) that a
    dead training left behind.

    On network file systems, ``flock`` works on NFS (Linux >= 2.6.12
    emulates it with POSIX locks) and on Lustre mounted with ``-o flock``;
    where it is unsupported the hook raises and says how to turn it off.
    """

    priority = 'HIGHEST'  # before CheckpointHook touches any file

    def __init__(self) -> None:
        self.lock: Optional[WorkDirLock] = None

    def before_train(self, runner) -> None:
        error = None
        if is_main_process():
            self.lock = WorkDirLock(runner.work_dir)
            try:
                self.lock.acquire()
            except WorkDirLockedError as e:
                error = str(e)
        if get_world_size() > 1:
            box = [error]
            broadcast_object_list(box, src=0)
            error = box[0]
        if error is not None:
            raise WorkDirLockedError(error)
        if is_main_process():
            runner.logger.info(f'WorkDirLockHook: {self.lock.path} locked '
                               'by this training')
            for tmp in (glob.glob(osp.join(runner.work_dir, '*.pth.tmp.*')) +
                        glob.glob(osp.join(runner.work_dir,
                                           'last_checkpoint.tmp.*'))):
                os.remove(tmp)
                runner.logger.info(f'WorkDirLockHook: removed {tmp} left '
                                   'by an interrupted save')

    def after_train(self, runner) -> None:
        if self.lock is not None:
            self.lock.release()
