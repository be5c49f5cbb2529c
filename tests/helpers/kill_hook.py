# Copyright (c) mmx3d contributors. All rights reserved.
"""Test-only fault injection: SIGKILL mid-epoch or mid-write, NaN losses,
a training held at one iteration, a new best at every validation.

All are registered in MMEngine's root ``HOOKS`` (found from the ``mmx3d`` scope through the
registry's parents), so that importing them leaves mmx3d's registries as
the package made them.
"""
import os
import os.path as osp
import signal
import time
from typing import Sequence

from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS as ROOT_HOOKS


@ROOT_HOOKS.register_module()
class KillOnceHook(Hook):
    """Kill the process (no cleanup, like an OOM kill or a pre-emption) at
    training iteration ``at_iter``, unless ``marker`` exists; the marker is
    created first so that the resumed run goes on."""

    def __init__(self, at_iter: int, marker: str) -> None:
        self.at_iter = at_iter
        self.marker = marker

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at_iter and not osp.exists(self.marker):
            open(self.marker, 'w').close()
            os.kill(os.getpid(), signal.SIGKILL)


@ROOT_HOOKS.register_module()
class KillWhileSavingHook(Hook):
    """SIGKILL the process in the middle of writing a checkpoint file: the
    ``at_save``-th file whose name starts with ``prefix`` gets the first
    half of its bytes, then the process dies (MMEngine writes every local
    checkpoint through ``LocalBackend.put``)."""

    def __init__(self, prefix: str = 'best_', at_save: int = 2) -> None:
        self.prefix = prefix
        self.at_save = at_save

    def before_train(self, runner) -> None:
        plain_put = LocalBackend.put
        seen = []

        def put(backend, obj, filepath):
            if osp.basename(str(filepath)).startswith(self.prefix):
                seen.append(filepath)
                if len(seen) == self.at_save:
                    with open(filepath, 'wb') as f:
                        f.write(obj[:len(obj) // 2])
                        f.flush()
                        os.fsync(f.fileno())
                    os.kill(os.getpid(), signal.SIGKILL)
            return plain_put(backend, obj, filepath)

        LocalBackend.put = put  # this process is about to die


@ROOT_HOOKS.register_module()
class NaNLossHook(Hook):
    """Make the classification loss NaN (with its gradient) at the given
    training iterations (1-based over the run): the head's ``loss_cls``
    module output is multiplied by NaN for that iteration only."""

    priority = 'HIGHEST'

    def __init__(self, at_iters: Sequence[int]) -> None:
        self.at_iters = set(at_iters)

    def _loss_module(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return model.cls_head.loss_cls

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 in self.at_iters:
            module = self._loss_module(runner)
            plain = module.forward
            module.forward = lambda *a, **k: plain(*a, **k) * float('nan')

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        module = self._loss_module(runner)
        if 'forward' in vars(module):
            del module.forward


@ROOT_HOOKS.register_module()
class WaitForFileHook(Hook):
    """Hold training after iteration ``at_iter`` (1-based) until ``path``
    exists (at most ``timeout`` seconds). Only the first process to get
    there waits (it creates ``<path>.waiter``); others run on."""

    def __init__(self, at_iter: int, path: str, timeout: float = 300) -> None:
        self.at_iter = at_iter
        self.path = path
        self.timeout = timeout

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 != self.at_iter:
            return
        try:
            os.close(os.open(self.path + '.waiter',
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        end = time.time() + self.timeout
        while not osp.exists(self.path) and time.time() < end:
            time.sleep(0.1)


@ROOT_HOOKS.register_module()
class AlwaysNewBestHook(Hook):
    """Forget the best score before each validation, so that every
    validation saves a new best checkpoint."""

    def before_val_epoch(self, runner) -> None:
        runner.message_hub.update_info('best_score', float('-inf'))
