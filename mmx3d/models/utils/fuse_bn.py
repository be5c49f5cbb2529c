# Copyright (c) mmx3d contributors. All rights reserved.
"""Fold inference-mode batch norms into the convolutions before them.

In eval mode a BN is a per-channel affine map, ``y = x * scale + shift``
with ``scale = gamma / sqrt(running_var + eps)`` and
``shift = beta - running_mean * scale``. After a convolution it can be
folded into the convolution's weight (scaled per output channel) and bias,
which removes one full pass over every feature map. X3D has a BN after
every convolution except the SE layers and ``lin5``::

    stem:        conv_t (channel-wise 5x1x1) + bn
    every block: conv_a + bn_a, conv_b (channel-wise) + bn_b (before SE),
                 conv_c + bn_c, downsample[0] + downsample[1]
    head:        conv5 + conv5_bn

:func:`fuse_bn` folds all of them (and any ``nn.Sequential(conv, bn, ...)``
elsewhere) and replaces each BN by :class:`torch.nn.Identity`. The result gives
the outputs of the original model in eval mode (to float rounding, checked by
``tests/test_models/test_fuse_bn.py``); it is meant for testing and deployment,
not for further training. MMCV's ``fuse_conv_bn`` instead pairs a BN with
whatever convolution was registered before it, which in X3D's block would be
wrong for ``bn_b`` whenever a module order changes; here the pairs are named.
"""
from typing import List, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

#: class name -> (conv attribute, BN attribute) pairs folded in it (also
#: used for subclasses); dotted names reach into child modules
FUSE_PAIRS = {
    'X3DBackbone': [('stem.conv_t', 'stem.bn')],
    'X3DBottleneck': [('conv_a', 'bn_a'), ('conv_b', 'bn_b'),
                      ('conv_c', 'bn_c')],
    'X3DClsHead': [('conv5', 'conv5_bn')],
}

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@torch.no_grad()
def fuse_conv_bn(conv: nn.Module, bn: _BatchNorm) -> nn.Module:
    """Fold ``bn`` (with its running statistics) into ``conv`` in place.

    Args:
        conv (nn.Conv1d | nn.Conv2d | nn.Conv3d): A convolution (any groups,
            with or without bias) whose output channels ``bn`` normalises.
        bn (_BatchNorm): A batch norm with running statistics.

    Returns:
        nn.Module: ``conv``, now with the folded weight and a bias.
    """
    if not isinstance(conv, _CONVS) or getattr(conv, 'transposed', False):
        raise TypeError(f'cannot fold a BN into {type(conv).__name__}')
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError('cannot fold a BN without running statistics '
                         '(track_running_stats=False)')
    if bn.num_features != conv.out_channels:
        raise ValueError(f'BN has {bn.num_features} channels, the conv '
                         f'{conv.out_channels} output channels')
    w = conv.weight
    dtype = w.dtype
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    if conv.bias is not None:
        shift = shift + conv.bias.double() * scale
    shape = (-1, ) + (1, ) * (w.dim() - 1)
    fmt = (torch.channels_last_3d if w.dim() == 5 and w.is_contiguous(
        memory_format=torch.channels_last_3d) and not w.is_contiguous() else
           torch.contiguous_format)
    new_w = (w.double() * scale.view(shape)).to(dtype)
    conv.weight = nn.Parameter(new_w.contiguous(memory_format=fmt),
                               requires_grad=w.requires_grad)
    conv.bias = nn.Parameter(shift.to(dtype), requires_grad=w.requires_grad)
    return conv


def _resolve(module: nn.Module, dotted: str) -> Tuple[nn.Module, str]:
    """(parent module, attribute name) of a dotted attribute path."""
    *path, attr = dotted.split('.')
    for p in path:
        module = getattr(module, p, None)
        if module is None:
            break
    return module, attr


def _pairs(model: nn.Module) -> List[Tuple[nn.Module, str, str]]:
    """(parent module, conv attribute, BN attribute) of every conv+BN pair
    of ``model``."""
    found = []
    for module in model.modules():
        names: List[Tuple[str, str]] = []
        for cls in type(module).__mro__:
            names += [p for p in FUSE_PAIRS.get(cls.__name__, [])
                      if p not in names]
        for conv_name, bn_name in names:
            parent, conv_attr = _resolve(module, conv_name)
            bn_parent, bn_attr = _resolve(module, bn_name)
            if parent is None or bn_parent is not parent:
                continue
            conv = getattr(parent, conv_attr, None)
            bn = getattr(parent, bn_attr, None)
            if isinstance(conv, _CONVS) and isinstance(bn, _BatchNorm):
                found.append((parent, conv_attr, bn_attr))
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (cn, c), (bnn, b) in zip(children, children[1:]):
                if isinstance(c, _CONVS) and isinstance(b, _BatchNorm):
                    found.append((module, cn, bnn))
    return found


def fuse_bn(model: nn.Module) -> nn.Module:
    """Fold every conv+BN pair of an X3D model into the conv, in place.

    Args:
        model (nn.Module): A recognizer, backbone or head (or any model whose
            conv+BN pairs are named in :data:`FUSE_PAIRS`, form an X3D stem
            or follow each other in an ``nn.Sequential``).

    Returns:
        nn.Module: ``model``, with each folded BN replaced by
        ``nn.Identity``. Its eval-mode outputs equal the original's; it
        should not be trained further.
    """
    for module, conv_name, bn_name in _pairs(model):
        fuse_conv_bn(getattr(module, conv_name), getattr(module, bn_name))
        setattr(module, bn_name, nn.Identity())
    return model


def count_bn(model: nn.Module) -> int:
    """Number of batch-norm layers left in ``model``."""
    return sum(isinstance(m, _BatchNorm) for m in model.modules())
