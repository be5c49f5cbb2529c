# Copyright (c) mmx3d contributors. All rights reserved.
"""Checkpoint and stop on SIGTERM/SIGUSR1 (cluster preemption)."""
import logging
import os
import signal
import threading
from typing import Optional, Sequence

import torch
from mmengine.dist import all_reduce, barrier, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmx3d.registry import HOOKS

from .atomic_checkpoint_hook import atomic_write_text, save_checkpoint_atomic

#: Exit status of a preempted training that saved its checkpoint:
#: ``EX_TEMPFAIL`` of sysexits.h, "temporary failure, retry later".
#: ``tools/dist_train.sh`` and ``tools/slurm_train.sh`` pass it on;
#: ``slurm_train.sh`` requeues the job on it.
PREEMPTION_EXIT_CODE = 75

#: Environment variable naming a file that local rank 0 writes the
#: checkpoint path into after a preemption (``tools/dist_train.sh`` sets
#: it, since torchrun reports its own status, not the workers').
PREEMPT_FILE_ENV = 'MMX3D_PREEMPT_FILE'


def _parent_is_torchrun() -> bool:
    try:
        with open(f'/proc/{os.getppid()}/cmdline', 'rb') as f:
            cmdline = f.read().decode(errors='replace')
    except OSError:
        return False
    return 'torch.distributed.run' in cmdline or 'torchrun' in cmdline


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Finish the iteration, save an iteration checkpoint and exit when the
    cluster asks (SIGTERM before a preemption, SIGUSR1 from Slurm's
    ``--signal=USR1@90``).

    ::

        signal (any rank) -> flag only
        after each train iteration: all_reduce(flags) -- all ranks agree
          none -> go on
          some -> rank 0: iter_N.pth via tmp + fsync + os.replace,
                  last_checkpoint -> iter_N.pth (save_checkpoint_atomic)
                  barrier; log; exit(PREEMPTION_EXIT_CODE = 75)

    The handlers are installed in ``before_train`` and the previous ones
    restored after training (or before the exit). A signal to one rank or
    to all is handled the same way, at the same iteration on every rank.
    The checkpoint holds ``epoch`` (the current, unfinished one) and
    ``iter`` (iterations done), so MMEngine resumes at the next iteration;
    :class:`~mmx3d.engine.ResumableEpochBasedTrainLoop` then skips the
    batches of the epoch already trained. Its ``meta['preemption']`` says
    which signal, and the position inside the epoch. A signal during
    validation is acted on after it, at the end of the next training
    iteration (ranks may run different numbers of validation iterations,
    so no collective is issued there).

    DataLoader workers forked after ``before_train`` inherit the handlers,
    so a SIGUSR1 sent to every process of a job (Slurm's ``--signal``)
    leaves them loading. PyTorch gives its workers their own SIGTERM
    handler, which exits: a SIGTERM to every process stops the workers, and
    if training is waiting for a batch at that moment it fails with
    "DataLoader worker exited unexpectedly" before the checkpoint (the
    previous checkpoint is then the resume point). Prefer SIGUSR1 with a
    margin before a hard preemption.

    Under torchrun with restarts (``tools/dist_train.sh``), local rank 0
    also sends SIGTERM to its torchrun agent once every rank has passed the
    barrier, so that a preempted job is not restarted in place; if
    ``$MMX3D_PREEMPT_FILE`` is set, it writes the checkpoint's path there
    for the launcher.

    Args:
        signals (Sequence[str]): Signal names; empty switches the hook
            off (no handler, no collective). Defaults to
            ``('SIGTERM', 'SIGUSR1')``.
        exit_code (int): Exit status after the checkpoint. Defaults to
            ``PREEMPTION_EXIT_CODE`` (75).
        interval (int): Agree every ``interval`` iterations (one tiny
            all_reduce each time). Defaults to 1.
    """

    priority = 'LOWEST'  # after the scheduler, logger and checkpoint hooks

    def __init__(self,
                 signals: Sequence[str] = ('SIGTERM', 'SIGUSR1'),
                 exit_code: int = PREEMPTION_EXIT_CODE,
                 interval: int = 1) -> None:
        known = sorted(n for n in dir(signal)
                       if n.startswith('SIG') and not n.startswith('SIG_')
                       and isinstance(getattr(signal, n), signal.Signals))
        for name in signals:
            if name not in known or name in ('SIGKILL', 'SIGSTOP'):
                raise ValueError(
                    f'PreemptionHook: signals={list(signals)!r}: {name!r} '
                    'cannot be handled; expected names such as SIGTERM, '
                    'SIGUSR1, SIGUSR2, SIGINT')
        if interval < 1:
            raise ValueError(
                f'PreemptionHook: interval must be >= 1, got {interval}')
        self.signals = [getattr(signal, name) for name in signals]
        self.exit_code = exit_code
        self.interval = interval
        self._received: Optional[int] = None
        self._previous: dict = {}

    # -- signal handlers ---------------------------------------------------
    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        self._received = signum

    def _install(self) -> None:
        self._received = None
        if threading.current_thread() is not threading.main_thread():
            print_log('PreemptionHook: not in the main thread, signal '
                      'handlers not installed', logger='current',
                      level=logging.WARNING)
            return
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    # -- hook points -------------------------------------------------------
    def before_train(self, runner) -> None:
        self._install()

    def after_train(self, runner) -> None:
        self._restore()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self.signals or (runner.iter + 1) % self.interval:
            return
        signum = self._agree()
        if signum:
            # the loop counts this iteration after the hooks: iter + 1 done
            self._preempt(runner, signum, runner.epoch, runner.iter + 1,
                          where=f'after batch {batch_idx + 1} of '
                          f'{len(runner.train_dataloader)} of epoch '
                          f'{runner.epoch + 1}',
                          batches_done=batch_idx + 1)

    # -- the preemption ----------------------------------------------------
    def _agree(self) -> int:
        """The largest signal number any rank got, 0 if none (the same
        on every rank)."""
        flag = torch.tensor([self._received or 0], dtype=torch.int64)
        all_reduce(flag, op='max')
        return int(flag.item())

    def _preempt(self, runner, signum: int, epoch: int, done: int,
                 where: str, batches_done: int) -> None:
        rank, world_size = get_dist_info()
        name = signal.Signals(signum).name
        here = 'this rank' if self._received else 'another rank'
        meta = dict(epoch=epoch, iter=done, preemption=dict(
            signal=name, batches_done_in_epoch=batches_done,
            batches_in_epoch=len(runner.train_dataloader)))
        path = save_checkpoint_atomic(runner, f'iter_{done}.pth', meta=meta,
                                      by_epoch=False)
        barrier()
        runner.logger.info(
            f'preempted by {name} ({here}) {where}, iteration {done}, '
            f'rank {rank} of {world_size}: '
            f'saved {path}; exiting with status {self.exit_code}; run the '
            'same command again to continue')
        self._restore()
        if int(os.environ.get('LOCAL_RANK', 0)) == 0:
            status_file = os.environ.get(PREEMPT_FILE_ENV)
            if status_file:
                atomic_write_text(status_file, path + '\n')
            self._stop_torchrun_agent(runner)
        raise SystemExit(self.exit_code)

    @staticmethod
    def _stop_torchrun_agent(runner) -> None:
        """A torchrun agent with restarts left would restart the workers
        that exit here; SIGTERM tells it to stop instead."""
        if int(os.environ.get('TORCHELASTIC_MAX_RESTARTS', 0)) < 1:
            return
        if _parent_is_torchrun():
            runner.logger.info('stopping the torchrun agent (pid '
                               f'{os.getppid()}) so that it does not '
                               'restart a preempted job')
            os.kill(os.getppid(), signal.SIGTERM)


__all__ = ['PreemptionHook', 'PREEMPTION_EXIT_CODE', 'PREEMPT_FILE_ENV']
