# Copyright (c) mmx3d contributors. All rights reserved.
"""Recompute a checkpoint's BN statistics over training batches.

The repair for checkpoints written before mmx3d 0.2.0, whose precise BN left
the head's BN at mean 0 / variance 1 (see ``docs/changelog.md``), and a way
to run precise BN on any checkpoint (e.g. a converted one) for a dataset.
"""
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.runner import Runner

from mmx3d.converters import load_x3d_checkpoint, save_checkpoint
from mmx3d.engine.hooks import update_bn_stats
from mmx3d.registry import MODELS
from mmx3d.utils.setup_env import register_all_modules

from .runner import load_config, prepare_cfg


def recompute_bn(config: str,
                 checkpoint: str,
                 out: str,
                 num_batches: int = 200,
                 cfg_options: Optional[dict] = None) -> int:
    """Run precise BN on ``checkpoint`` with ``config``'s training data.

    The model of ``config`` loads ``checkpoint`` (any X3D format), every BN
    layer in training mode gets the exact average of its statistics over
    ``num_batches`` batches of ``config``'s train dataloader
    (:func:`mmx3d.engine.hooks.update_bn_stats`), and the result is written
    to ``out`` in mmx3d format. For an mmx3d checkpoint everything else in
    the file (``meta``, optimizer and scheduler states) is kept, so it can
    still be resumed from.

    Args:
        config (str): The config the checkpoint was trained with.
        checkpoint (str): The checkpoint to repair.
        out (str): Where to write the result (may not be ``checkpoint``).
        num_batches (int): Training batches to average over.
            Defaults to 200 (the Kinetics recipe's).
        cfg_options (dict, optional): Config overrides.

    Returns:
        int: The number of batches used.

    Raises:
        ValueError: If ``out`` is ``checkpoint`` or no batch could be drawn.
    """
    if osp.abspath(out) == osp.abspath(checkpoint):
        raise ValueError(f'--out {out!r} must differ from the checkpoint: '
                         'the original is kept')
    register_all_modules(init_default_scope=True)
    cfg = prepare_cfg(load_config(config, cfg_options))
    model = MODELS.build(cfg.model)
    fmt = load_x3d_checkpoint(model, checkpoint)
    if torch.cuda.is_available():
        model = model.cuda()
    loader = Runner.build_dataloader(cfg.train_dataloader)
    used = update_bn_stats(model, iter(loader), num_batches)
    if used == 0:
        raise ValueError(f'{config}: the train dataloader gave no batch')
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    meta = dict(precise_bn=dict(num_batches=used, source=checkpoint))
    if fmt == 'mmx3d':
        from mmx3d.utils.compat import safe_torch_load
        obj = safe_torch_load(checkpoint, map_location='cpu')
        if isinstance(obj, dict) and 'state_dict' in obj:
            obj['state_dict'] = state
            obj['meta'] = dict(obj.get('meta') or {}, **meta)
            os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
            torch.save(obj, out)
            return used
    save_checkpoint(state, out, meta=dict(meta, converted_from=fmt))
    return used


__all__ = ['recompute_bn']
