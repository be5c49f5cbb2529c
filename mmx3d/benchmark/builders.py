# Copyright (c) mmx3d contributors. All rights reserved.
"""The three X3D implementations the benchmark compares, built alike.

From one mmx3d config, :func:`model_spec` takes the expansion factors,
classes, dropout and clip shape; the builders turn that into

* ``mmx3d``: the config's model as shipped (channels-last and fused ops
  on, the runtime's malloc policy: :func:`malloc_policy`); ``plain``
  switches them off (:func:`mmx3d_model_cfg`);
* ``mmaction2``: MMAction2's ``X3D`` + ``X3DHead`` in a ``Recognizer3D``
  (:func:`mmaction2_model_cfg`);
* ``pytorchvideo``: PyTorchVideo's ``create_x3d`` (if installed).

For X3D-S they have 3,794,322 / 3,794,322 / 3,794,274 parameters
(PyTorchVideo lacks the res2 shortcut BN).
"""
import copy
import sys
import types
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

from ..models.backbones.x3d import X3DBackbone, round_width
from ..utils.complexity import (
    clip_shape_from_cfg,
    count_flops,
    recognizer_complexity,
)

IMPLS = ('mmx3d', 'mmaction2', 'pytorchvideo')
#: Inference-only deploy paths of mmx3d's model, timed beside ``mmx3d``
#: (BN folded): ``mmx3d_eager`` (BN not folded) and ``onnxruntime`` (the
#: model exported by :func:`mmx3d.apis.deploy.export_onnx`, on CPU).
DEPLOY_IMPLS = ('mmx3d_eager', 'onnxruntime')
ALL_IMPLS = IMPLS + DEPLOY_IMPLS


#: mmx3d's model in every form the benchmark times
MMX3D_IMPLS = ('mmx3d', ) + DEPLOY_IMPLS


def malloc_policy(impl: str, cfg: Config, plain: bool = False,
                  malloc_all: bool = False) -> Optional[Dict]:
    """The glibc malloc policy a worker runs ``impl`` with.

    mmx3d's paths as shipped run with the config's ``env_cfg.cpu_malloc``,
    which ``tools/train.py`` and ``tools/test.py`` apply
    (:mod:`mmx3d.utils.malloc`); ``plain`` runs them with the C library's
    defaults, as MMAction2 and PyTorchVideo run. ``malloc_all`` gives every
    implementation the config's policy: the comparison of the models
    alone.
    """
    policy = cfg.get('env_cfg', {}).get('cpu_malloc')
    if malloc_all or (impl in MMX3D_IMPLS and not plain):
        return policy
    return None


def onnxruntime_available() -> bool:
    """Whether ``onnx`` and ``onnxruntime`` can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
#: RGB mean/std in 0..255 units (0.45 / 0.225 in [0, 1] units)
MEAN, STD = 114.75, 57.375


def model_spec(cfg: Config, shape: Optional[Sequence[int]] = None) -> Dict:
    """Expansion factors, classes, dropout and clip shape of a config's X3D.

    Args:
        cfg (Config): An mmx3d recognition config.
        shape (Sequence[int], optional): ``(T, H, W)`` of a clip. Defaults
            to None: the config's training clip.

    Returns:
        dict: ``arch``, ``gamma_w``, ``gamma_b``, ``gamma_d``,
        ``num_classes``, ``shape``, ``dropout``.
    """
    bb = cfg.model.backbone
    arch = bb.get('arch', 's')
    preset = X3DBackbone.arch_settings[arch]
    return dict(
        arch=arch,
        gamma_w=bb.get('gamma_w') or preset[0],
        gamma_b=bb.get('gamma_b') or preset[1],
        gamma_d=bb.get('gamma_d') or preset[2],
        num_classes=cfg.model.cls_head.num_classes,
        shape=tuple(shape) if shape else clip_shape_from_cfg(cfg),
        dropout=cfg.model.cls_head.get('dropout_ratio', 0.5))


def mmx3d_model_cfg(cfg: Config, plain: bool = False) -> Dict:
    """The config's model as shipped (the shipped configs turn on
    ``channels_last`` and ``fused_ops``); with ``plain`` those switches off
    and the channels-first data preprocessor, the path a user got before
    they became the default."""
    model = copy.deepcopy(cfg.model)
    if plain:
        model.backbone.channels_last = False
        model.backbone.fused_ops = False
        dp = model.get('data_preprocessor', {})
        if dp.get('type') == 'X3DDataPreprocessor':
            dp['channels_last'] = False
    return model


def mmaction2_model_cfg(spec: Dict) -> Dict:
    """MMAction2's ``Recognizer3D`` with ``X3D`` + ``X3DHead`` of the same
    expansion factors (MMAction2 hard-codes a base width of 24 = 2 x 12, so
    its ``gamma_w`` is half of ours)."""
    gw = spec['gamma_w'] / 2.0
    feat = round_width(24, gw) * 8
    return dict(
        type='Recognizer3D',
        backbone=dict(type='X3D', gamma_w=gw, gamma_b=spec['gamma_b'],
                      gamma_d=spec['gamma_d']),
        cls_head=dict(type='X3DHead', in_channels=int(feat * spec['gamma_b']),
                      num_classes=spec['num_classes'],
                      dropout_ratio=spec['dropout'], average_clips='prob'),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               mean=[MEAN] * 3, std=[STD] * 3,
                               format_shape='NCTHW'))


def import_pytorchvideo_x3d() -> Optional[Callable]:
    """PyTorchVideo's ``create_x3d``, or None if it cannot be imported.

    ``pytorchvideo.models`` imports ``torchvision.ops.RoIAlign`` for its
    detection head only; where torchvision is absent a stand-in module is
    registered for that import (X3D does not use it) and removed again.
    """
    stub = {}
    try:
        import torchvision  # noqa: F401
    except ImportError:
        tv = types.ModuleType('torchvision')
        ops = types.ModuleType('torchvision.ops')

        class RoIAlign:  # placeholder, never instantiated by X3D

            def __init__(self, *args, **kwargs):
                raise RuntimeError('torchvision is not installed')

        ops.RoIAlign = RoIAlign
        tv.ops = ops
        stub = {'torchvision': tv, 'torchvision.ops': ops}
        sys.modules.update(stub)
    try:
        from pytorchvideo.models.x3d import create_x3d
    except Exception:  # noqa: BLE001 - any import failure means absent
        return None
    finally:
        # nobody else may mistake the stand-in for torchvision
        for name, module in stub.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return create_x3d


def build_model(impl: str, cfg: Config, spec: Dict,
                plain: bool = False) -> nn.Module:
    """Build one implementation (random weights, train mode).

    Args:
        impl (str): One of :data:`ALL_IMPLS` (the deploy paths build
            ``mmx3d``'s model).
        cfg (Config): The mmx3d config (used for ``mmx3d``).
        spec (dict): :func:`model_spec` of it (used for the others).
        plain (bool): ``mmx3d`` without channels-last and fused ops.
            Defaults to False (the config as shipped).

    Returns:
        nn.Module: A ``Recognizer3D`` (``mmx3d``, ``mmaction2``) or
        PyTorchVideo's ``Net`` (clips in, logits out).
    """
    if impl in ('mmx3d', ) + DEPLOY_IMPLS:
        from ..registry import MODELS
        from ..utils import register_all_modules
        register_all_modules(init_default_scope=False)
        with DefaultScope.overwrite_default_scope('mmx3d'):
            return MODELS.build(mmx3d_model_cfg(cfg, plain))
    if impl == 'mmaction2':
        from mmaction.registry import MODELS
        with DefaultScope.overwrite_default_scope('mmaction'):
            return MODELS.build(mmaction2_model_cfg(spec))
    if impl != 'pytorchvideo':
        raise ValueError(f'impl must be one of {ALL_IMPLS}, got {impl!r}')
    create_x3d = import_pytorchvideo_x3d()
    if create_x3d is None:
        raise RuntimeError('PyTorchVideo is not installed')
    t, h, w = spec['shape']
    if h != w:
        raise ValueError('PyTorchVideo\'s X3D needs square clips, got '
                         f'{h}x{w}')
    return create_x3d(
        input_clip_length=t, input_crop_size=h,
        model_num_class=spec['num_classes'],
        width_factor=spec['gamma_w'], depth_factor=spec['gamma_d'],
        bottleneck_factor=spec['gamma_b'],
        dropout_rate=spec['dropout'], head_activation=None)


def gflops_per_clip(model: nn.Module, shape: Sequence[int]) -> float:
    """GFLOPs (multiply-adds of conv and linear layers) of one clip, as
    :func:`mmx3d.utils.complexity.count_flops` counts them, for a
    recognizer (backbone + head) or a clips-to-logits network."""
    if hasattr(model, 'backbone'):
        return recognizer_complexity(model, shape)['gflops']
    t, h, w = shape
    x = torch.zeros(1, 3, t, h, w, device=next(model.parameters()).device)
    training = model.training
    model.eval()
    try:
        return count_flops(model, x) / 1e9
    finally:
        model.train(training)
