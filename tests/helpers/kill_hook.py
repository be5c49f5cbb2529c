# Copyright (c) mmx3d contributors. All rights reserved.
"""Test-only hook: SIGKILL the training process once, mid-epoch."""
import os
import os.path as osp
import signal

from mmengine.hooks import Hook

from mmx3d.registry import HOOKS


@HOOKS.register_module()
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
