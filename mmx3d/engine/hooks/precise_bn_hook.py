# Copyright (c) mmx3d contributors. All rights reserved.
"""Recompute BN statistics over training batches before validation."""
import itertools

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch.nn.modules.batchnorm import _BatchNorm

from mmx3d.registry import HOOKS


@torch.no_grad()
def update_bn_stats(model: torch.nn.Module, data_iter, num_batches: int,
                    data_preprocessor=None) -> int:
    """Replace every BN's running statistics by their exact average over
    ``num_batches`` batches (PySlowFast's "precise BN").

    Running statistics are reset and accumulated with ``momentum=None``
    (a cumulative average, each batch weighted equally), then averaged
    across processes when distributed.

    Args:
        model (nn.Module): The (unwrapped) model; ``model(inputs,
            mode='tensor')`` must run the forward.
        data_iter (Iterable): Training batches (dicts of the dataloader).
        num_batches (int): Number of batches to use.
        data_preprocessor (callable, optional): Defaults to
            ``model.data_preprocessor``.

    Returns:
        int: The number of batches actually used.
    """
    bns = [m for m in model.modules()
           if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not bns:
        return 0
    preprocessor = data_preprocessor or model.data_preprocessor
    was_training = model.training
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    used = 0
    for data in itertools.islice(data_iter, num_batches):
        data = preprocessor(data, training=True)
        model(data['inputs'], data['data_samples'], mode='tensor')
        used += 1
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    if get_world_size() > 1:
        for bn in bns:
            all_reduce(bn.running_mean, op='mean')
            all_reduce(bn.running_var, op='mean')
    model.train(was_training)
    return used


@HOOKS.register_module()
class PreciseBNHook(Hook):
    """Precise BN before each validation during training.

    X3D's references recompute BN statistics over 200 training batches before
    every evaluation, because the running averages of a network trained with
    small BN groups lag behind its weights.

    Args:
        num_batches (int): Training batches to average over. Defaults to 200.
        priority: Run before other ``before_val_epoch`` hooks.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, num_batches: int = 200) -> None:
        self.num_batches = num_batches

    def before_val_epoch(self, runner) -> None:
        loop = getattr(runner, '_train_loop', None)
        if loop is None or isinstance(loop, dict):
            return  # plain `runner.val()`: nothing was trained
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        used = update_bn_stats(model, iter(runner.train_dataloader),
                               self.num_batches)
        print_log(f'PreciseBN: BN statistics recomputed over {used} '
                  'training batches', logger='current')


__all__ = ['PreciseBNHook', 'update_bn_stats']
