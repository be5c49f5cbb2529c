# Copyright (c) mmx3d contributors. All rights reserved.
"""Fold batch norms into convolutions before testing (the deploy path)."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmx3d.models.utils.fuse_bn import count_bn, fuse_bn
from mmx3d.registry import HOOKS


@HOOKS.register_module()
class FuseBNHook(Hook):
    """Apply :func:`mmx3d.models.utils.fuse_bn` to the model before the test
    loop (after the checkpoint is loaded).

    ``tools/test.py --fuse`` adds it. Only ``before_test`` is used: a model
    whose BNs are folded must not be trained, so validation during training
    keeps the unfused model. Outputs equal the unfused eval-mode model's to
    float rounding.

    Args:
        verbose (bool): Log how many BN layers were folded.
            Defaults to True.
    """

    priority = 'LOW'

    def __init__(self, verbose: bool = True) -> None:
        self.verbose = verbose

    def before_test(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        before = count_bn(model)
        fuse_bn(model)
        if self.verbose:
            print_log(
                f'FuseBNHook: folded {before - count_bn(model)} of {before} '
                'BN layers into convolutions', logger='current')
