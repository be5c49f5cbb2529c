# Copyright (c) mmx3d contributors. All rights reserved.
"""Recompute BN statistics over training batches before validation."""
import itertools
from typing import Callable, Iterable, Optional

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch.nn.modules.batchnorm import _BatchNorm

from mmx3d.registry import HOOKS


def trainable_bns(model: nn.Module) -> list:
    """The BN layers whose statistics training updates.

    Call on a model in training mode: BN layers that its ``train()`` keeps
    in eval mode (frozen stages, ``norm_eval=True``) or that track no
    running statistics are left out.
    """
    return [
        m for m in model.modules() if isinstance(m, _BatchNorm)
        and m.track_running_stats and m.training
    ]


@torch.no_grad()
def update_bn_stats(model: nn.Module,
                    data_iter: Iterable,
                    num_batches: int,
                    data_preprocessor: Optional[Callable] = None) -> int:
    """Replace the running statistics of every BN layer that training
    updates by their exact average over ``num_batches`` batches
    (PySlowFast's "precise BN", fvcore's ``update_bn_stats``).

    The whole model runs, as in a training step (``mode='loss'``: backbone,
    neck, head; an AVA detector's RoI head on the batch's proposals), in
    training mode without gradients. Only the BN layers that are in
    training mode then are reset and re-accumulated with ``momentum=None``
    (a cumulative average: each batch weighted equally, the batch mean and
    the unbiased batch variance); BN layers the model keeps in eval mode
    (``frozen_stages``, ``norm_eval``) are not touched. When distributed,
    the statistics are then averaged across processes. If no batch could be
    drawn, the previous statistics are restored.

    Args:
        model (nn.Module): The (unwrapped) model; ``model(inputs,
            data_samples, mode='loss')`` must run its whole forward.
        data_iter (Iterable): Training batches (dicts of the dataloader).
        num_batches (int): Number of batches to use.
        data_preprocessor (callable, optional): Defaults to
            ``model.data_preprocessor``.

    Returns:
        int: The number of batches actually used.
    """
    was_training = model.training
    model.train()
    bns = trainable_bns(model)
    if not bns:
        model.train(was_training)
        return 0
    preprocessor = data_preprocessor or model.data_preprocessor
    saved = [(bn.momentum, bn.running_mean.clone(), bn.running_var.clone(),
              bn.num_batches_tracked.clone()) for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    used = 0
    try:
        for data in itertools.islice(data_iter, num_batches):
            data = preprocessor(data, training=True)
            model(data['inputs'], data['data_samples'], mode='loss')
            used += 1
    finally:
        for bn, (momentum, mean, var, tracked) in zip(bns, saved):
            bn.momentum = momentum
            if used == 0:
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
                bn.num_batches_tracked.copy_(tracked)
        model.train(was_training)
    if used and get_world_size() > 1:
        for bn in bns:
            all_reduce(bn.running_mean, op='mean')
            all_reduce(bn.running_var, op='mean')
    return used


@HOOKS.register_module()
class PreciseBNHook(Hook):
    """Precise BN before each validation during training.

    X3D's references recompute BN statistics over 200 training batches before
    every evaluation, because the running averages of a network trained with
    small BN groups lag behind its weights. See :func:`update_bn_stats`; the
    checkpoints saved after a validation carry the recomputed statistics.

    Args:
        num_batches (int): Training batches to average over. Defaults to 200.
    """

    priority = 'ABOVE_NORMAL'  # before other ``before_val_epoch`` hooks

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
        print_log(
            'PreciseBN: statistics of the BN layers in training mode '
            f'recomputed over {used} training batches', logger='current')


__all__ = ['PreciseBNHook', 'update_bn_stats', 'trainable_bns']
