# Copyright (c) mmx3d contributors. All rights reserved.
"""Test-only hooks: send a signal to one rank once, dump each rank's
parameters.

Registered in MMEngine's root ``HOOKS`` (found from the ``mmx3d`` scope
through the registry's parents), not in mmx3d's, so that importing them
in the test process leaves mmx3d's registries as the package made them.
"""
import hashlib
import json
import os
import os.path as osp
import time
from typing import Optional

from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SignalOnceHook(Hook):
    """Send ``signum`` to this process after training iteration
    ``at_iter`` (1-based, counted over the whole run) on rank ``rank``
    (every rank if None), unless ``marker`` exists; the marker is written
    first (holding the time), so a restarted or resumed run goes on.

    Runs before :class:`PreemptionHook` (priority NORMAL < LOWEST), so a
    SIGTERM/SIGUSR1 sent here is seen at the same iteration.
    """

    priority = 'NORMAL'

    def __init__(self, at_iter: int, signum: int, marker: str,
                 rank: Optional[int] = None) -> None:
        self.at_iter = at_iter
        self.signum = signum
        self.marker = marker
        self.rank = rank

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 != self.at_iter or osp.exists(self.marker):
            return
        if self.rank is not None and get_dist_info()[0] != self.rank:
            return
        with open(self.marker, 'w') as f:
            f.write(f'{time.time()}\n')
        os.kill(os.getpid(), self.signum)


def _digests(runner) -> dict:
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    return {
        k: hashlib.sha256(v.detach().cpu().contiguous().numpy().tobytes())
        .hexdigest()
        for k, v in model.state_dict().items()
    }


@HOOKS.register_module()
class ParamDigestHook(Hook):
    """Write ``rank<R>_params.json`` into ``out_dir`` after training: the
    world size, the iteration and the SHA-256 of every parameter and
    buffer, at the end (``params``) and before training (``initial``)."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.initial = None

    def before_train(self, runner):
        self.initial = _digests(runner)

    def after_train(self, runner):
        rank, world_size = get_dist_info()
        with open(osp.join(self.out_dir, f'rank{rank}_params.json'),
                  'w') as f:
            json.dump(dict(rank=rank, world_size=world_size, iter=runner.iter,
                           params=_digests(runner), initial=self.initial), f)


@HOOKS.register_module()
class WaitForSignalHook(Hook):
    """After training iteration ``at_iter``, rank 0 writes ``marker`` and
    every rank waits (at most ``timeout`` s) until the run's
    ``PreemptionHook`` has received a signal, so that a signal sent from
    outside (to the launcher) lands at a known iteration."""

    priority = 'NORMAL'

    def __init__(self, at_iter: int, marker: str,
                 timeout: float = 60) -> None:
        self.at_iter = at_iter
        self.marker = marker
        self.timeout = timeout

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 != self.at_iter:
            return
        if get_dist_info()[0] == 0:
            with open(self.marker, 'w') as f:
                f.write(f'{time.time()}\n')
        hooks = [h for h in runner.hooks
                 if type(h).__name__ == 'PreemptionHook']
        deadline = time.time() + self.timeout
        while time.time() < deadline and not any(
                h._received for h in hooks):
            time.sleep(0.05)
