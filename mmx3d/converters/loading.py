# Copyright (c) mmx3d contributors. All rights reserved.
"""Load X3D checkpoints of any known format without converting them first.

* :func:`load_x3d_checkpoint`: into any module (a recognizer, or a backbone
  with ``prefix='backbone.'``), checked key by key.
* ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``: in the
  ``mmx3d`` scope ``'Pretrained'`` is :class:`X3DPretrainedInit`, which adds
  the foreign formats to MMEngine's initializer. The name has to stay
  ``'Pretrained'``: MMEngine's ``BaseModule.init_weights`` applies an
  initializer of that exact name after the children's own init, any other
  name would be overwritten by them. Checkpoints that are no X3D format go
  to MMEngine's ``PretrainedInit`` unchanged.
* ``load_from`` (``tools/test.py``, fine-tuning): add
  ``dict(type='ConvertCheckpointHook')`` to ``custom_hooks``; it converts
  the loaded checkpoint in place before the Runner copies it into the model.
"""
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.model.weight_init import PretrainedInit, update_init_info

from mmx3d.registry import HOOKS, WEIGHT_INITIALIZERS

from .checkpoint import (
    StateDict,
    detect_format,
    extract_state_dict,
    load_any_checkpoint,
    same_width_shortcut_bn_keys,
    to_mmx3d,
)
from .validate import describe_state_dict, mismatch_message


def _model_view(target: Mapping[str, Any],
                prefix: Optional[str]) -> Dict[str, Any]:
    """``target``'s keys as they would read in a full recognizer."""
    if prefix:
        return {prefix + k: v for k, v in target.items()}
    if any(k.startswith('stem.conv_xy') for k in target):
        return {'backbone.' + k: v for k, v in target.items()}
    return dict(target)


def _is_x3d(target: Mapping[str, torch.Tensor]) -> bool:
    return any('stem.conv_xy' in k for k in target)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def match_state_dict(state_dict: Mapping[str, torch.Tensor],
                     fmt: str,
                     module: nn.Module,
                     src: str,
                     prefix: Optional[str] = None,
                     strict: bool = True) -> Tuple[StateDict, Optional[str]]:
    """Select and check the tensors of an mmx3d state dict for ``module``.

    Args:
        state_dict (Mapping[str, Tensor]): mmx3d keys (see
            :func:`mmx3d.converters.to_mmx3d`).
        fmt (str): The checkpoint's format, for messages.
        module (nn.Module): The module to load into.
        src (str): The checkpoint's name, for messages.
        prefix (str, optional): Take only the keys under this prefix
            (e.g. ``'backbone.'``) and strip it. None picks ``'backbone.'``
            automatically when ``module`` is a bare X3D backbone and the
            checkpoint a full recognizer. Defaults to None.
        strict (bool): Raise on any missing, unexpected or mis-shaped key;
            if False, report them as a warning and load the rest.
            Defaults to True.

    A PyTorchVideo checkpoint has no BN on the res2 shortcut; the identity
    BN that :func:`to_mmx3d` inserts there is dropped when ``module`` is
    built like PyTorchVideo (``same_width_shortcut_bn=False``), so that the
    model is PyTorchVideo's network in training mode too. When ``module``
    has that BN, the identity is loaded (exact in eval mode only) and a
    warning says how to build PyTorchVideo's network instead.

    Returns:
        tuple[OrderedDict, str or None]: The tensors to load and the
        mismatch report (None if everything fits).

    Raises:
        ValueError: If ``strict`` and keys do not fit, or ``prefix`` selects
            nothing.
    """
    target = module.state_dict()
    if prefix is None and not any(k in state_dict for k in target) and any(
            'backbone.' + k in state_dict for k in target):
        prefix = 'backbone.'
    sd = OrderedDict(state_dict)
    if prefix:
        sd = OrderedDict((k[len(prefix):], v) for k, v in sd.items()
                         if k.startswith(prefix))
        if not sd:
            raise ValueError(f'checkpoint {src!r} ({fmt} format) has no key '
                             f'under prefix {prefix!r}')
    if fmt == 'pytorchvideo':
        inserted = same_width_shortcut_bn_keys(sd)
        if any(k in target for k in inserted):
            print_log(
                f'{src}: PyTorchVideo\'s X3D has no BN on the res2 '
                'shortcut; the model\'s is set to identity, which is exact '
                'in eval mode only. To fine-tune or recompute BN statistics '
                'as PyTorchVideo\'s network, build the backbone with '
                'same_width_shortcut_bn=False.',
                logger='current', level=30)
        else:
            sd = OrderedDict(
                (k, v) for k, v in sd.items() if k not in inserted)
    expected = {k: tuple(v.shape) for k, v in target.items()}
    msg = mismatch_message(src, fmt, _model_view(sd, prefix),
                           _model_view(expected, prefix),
                           describe_state_dict(_model_view(target, prefix)))
    if msg is not None:
        if strict:
            raise ValueError(msg)
        sd = OrderedDict((k, v) for k, v in sd.items()
                         if k in expected and tuple(v.shape) == expected[k])
    return sd, msg


def load_x3d_checkpoint(module: nn.Module,
                        checkpoint: str,
                        prefix: Optional[str] = None,
                        strict: bool = True,
                        map_location: str = 'cpu') -> str:
    """Load a checkpoint of any known X3D format into ``module``.

    Args:
        module (nn.Module): An mmx3d recognizer, or a part of one with
            ``prefix`` (a backbone: ``'backbone.'``).
        checkpoint (str): The file (mmx3d, PySlowFast, PyTorchVideo or
            MMAction2 format).
        prefix (str, optional): See :func:`match_state_dict`.
        strict (bool): See :func:`match_state_dict`. Defaults to True.
        map_location (str): Where tensors go. Defaults to ``'cpu'``.

    Returns:
        str: The detected format.

    Raises:
        ValueError: For an unknown format or keys that do not fit.
    """
    obj = load_any_checkpoint(checkpoint, map_location)
    sd, fmt = to_mmx3d(extract_state_dict(obj, checkpoint))
    if fmt == 'unknown':
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        msg = mismatch_message(checkpoint, fmt, sd, expected) or ''
        raise ValueError(
            f'checkpoint {checkpoint!r}: unrecognised format; expected the '
            'keys of PySlowFast (s1.pathway0_stem.*), PyTorchVideo '
            '(blocks.*), MMAction2 (backbone.conv1_s.*) or mmx3d '
            '(backbone.stem.*). ' + msg)
    sd, msg = match_state_dict(sd, fmt, module, checkpoint, prefix, strict)
    if msg is not None:
        print_log(msg, logger='current', level=30)
    module.load_state_dict(sd, strict=False)
    return fmt


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class X3DPretrainedInit(PretrainedInit):
    """MMEngine's ``Pretrained`` initializer, plus every X3D format.

    X3D checkpoints (mmx3d, PySlowFast, PyTorchVideo, MMAction2, with or
    without ``module.``/``model.`` prefixes) are converted in memory and
    checked key by key; any other checkpoint is loaded by MMEngine's
    ``PretrainedInit`` exactly as before.

    Args:
        checkpoint (str): The file.
        prefix (str, optional): Load only this part of the (converted)
            checkpoint, e.g. ``'backbone.'`` for a backbone fine-tuned for
            AVA or Charades. Defaults to None.
        map_location (str): Where tensors go. Defaults to ``'cpu'``.
        strict (bool): For X3D checkpoints, raise when keys do not fit
            (wrong variant) instead of loading what fits. Defaults to True.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: Optional[str] = None,
                 map_location: str = 'cpu',
                 strict: bool = True) -> None:
        super().__init__(checkpoint, prefix=prefix, map_location=map_location)
        self.strict = strict

    def __call__(self, module: nn.Module) -> None:
        try:
            obj = load_any_checkpoint(self.checkpoint, self.map_location)
            sd, fmt = to_mmx3d(extract_state_dict(obj, self.checkpoint))
        except ValueError:
            if _is_x3d(module.state_dict()):
                raise
            fmt = 'unknown'
        if fmt == 'unknown' and not _is_x3d(module.state_dict()):
            return super().__call__(module)
        part = (self.prefix or 'model.').rstrip('.')
        print_log(f'load {part} from {self.checkpoint} ({fmt} format)',
                  logger='current')
        load_x3d_checkpoint(module, self.checkpoint, self.prefix,
                            self.strict, self.map_location)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())


@HOOKS.register_module()
class ConvertCheckpointHook(Hook):
    """Let ``load_from`` take any X3D checkpoint format.

    MMEngine's Runner reads the file, calls ``after_load_checkpoint`` and
    then copies ``checkpoint['state_dict']`` into the model; this hook
    rewrites a PySlowFast / PyTorchVideo / MMAction2 checkpoint (or a bare
    mmx3d backbone) in place into mmx3d keys, after checking every key and
    shape against the model. mmx3d checkpoints and resumed training states
    pass through untouched.

    Args:
        strict (bool): Raise when keys do not fit the model (wrong variant).
            Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Convert ``checkpoint`` in place if it is a foreign X3D format."""
        try:
            raw = extract_state_dict(checkpoint)
        except ValueError:
            return
        fmt = detect_format(raw)
        if fmt == 'unknown':
            return
        sd, fmt = to_mmx3d(raw, fmt)
        if fmt == 'mmx3d' and list(sd) == list(raw) and 'state_dict' in (
                checkpoint):
            return
        src = str(runner.cfg.get('load_from') or '<load_from>')
        sd, _ = match_state_dict(sd, fmt, _unwrap(runner.model), src,
                                 strict=self.strict)
        meta = checkpoint.get('meta') if fmt == 'mmx3d' else None
        checkpoint.clear()
        checkpoint['meta'] = dict(meta or {}, converted_from=fmt)
        checkpoint['state_dict'] = sd
        runner.logger.info(f'converted {src} from the {fmt} format')


__all__ = [
    'match_state_dict', 'load_x3d_checkpoint', 'X3DPretrainedInit',
    'ConvertCheckpointHook'
]
