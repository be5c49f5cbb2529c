# Copyright (c) mmx3d contributors. All rights reserved.
"""Compare a converted state dict with a model and say what it looks like.

A checkpoint of the wrong variant must fail loudly with the keys that do not
fit and the variant the checkpoint seems to be, never load half of itself.
"""
import re
from collections import OrderedDict
from functools import lru_cache
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch

#: (stage widths, blocks per stage) -> variant name. XS, S and M share one
#: network (they differ only in their input), so a checkpoint cannot tell.
VARIANTS: Dict[Tuple[Tuple[int, ...], Tuple[int, ...]], str] = {
    ((24, 48, 96, 192), (3, 5, 11, 7)): 'xs/s/m',
    ((24, 48, 96, 192), (5, 10, 25, 15)): 'l',
    ((32, 72, 136, 280), (5, 10, 25, 15)): 'xl',
}

_BLOCK_KEY = re.compile(r'^backbone\.res(\d)\.(\d+)\.')
_BLOCK_GROUP = re.compile(r'^(backbone\.res\d\.\d+)\.(?!.*: checkpoint)')
_MAX_LISTED = 8


def describe_state_dict(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A one-line description of an mmx3d state dict's architecture.

    Args:
        state_dict (Mapping[str, Tensor]): mmx3d keys (``backbone.*``,
            ``cls_head.*``).

    Returns:
        str: e.g. ``"X3D-L (stage widths 24/48/96/192, blocks 5/10/25/15,
        400 classes)"``, or ``"no X3D backbone"``.
    """
    blocks: Dict[int, set] = {}
    for key in state_dict:
        m = _BLOCK_KEY.match(key)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    if not blocks:
        return 'no X3D backbone'
    stages = sorted(blocks)
    depths = tuple(len(blocks[k]) for k in stages)
    widths = []
    for k in stages:
        w = state_dict.get(f'backbone.res{k}.0.conv_c.weight')
        widths.append(int(w.shape[0]) if w is not None else 0)
    widths = tuple(widths)
    name = VARIANTS.get((widths, depths))
    head = state_dict.get('cls_head.fc_cls.weight')
    details = [
        'stage widths ' + '/'.join(map(str, widths)),
        'blocks ' + '/'.join(map(str, depths))
    ]
    if head is not None:
        details.append(f'{head.shape[0]} classes')
    label = f'X3D-{name.upper()}' if name else 'a custom X3D'
    return f'{label} ({", ".join(details)})'


@lru_cache(maxsize=8)
def _reference_shapes(arch: str,
                      num_classes: int) -> Tuple[Tuple[str, tuple], ...]:
    from mmx3d.models.backbones.x3d import X3DBackbone
    from mmx3d.models.heads.x3d_head import X3DClsHead
    with torch.device('meta'):
        backbone = X3DBackbone(arch=arch)
        head = X3DClsHead(
            num_classes,
            backbone.feat_dim,
            mid_channels=backbone.conv5_channels)
    shapes = [(f'backbone.{k}', tuple(v.shape))
              for k, v in backbone.state_dict().items()]
    shapes += [(f'cls_head.{k}', tuple(v.shape))
               for k, v in head.state_dict().items()]
    return tuple(shapes)


def reference_shapes(arch: str,
                     num_classes: int = 400) -> 'OrderedDict[str, tuple]':
    """Key -> shape of an mmx3d recognizer of a preset variant.

    Built on the ``meta`` device, so it costs no memory.

    Args:
        arch (str): ``'xs'``, ``'s'``, ``'m'``, ``'l'`` or ``'xl'``.
        num_classes (int): Classes of the head. Defaults to 400.

    Returns:
        OrderedDict[str, tuple]: Shapes of ``backbone.*`` and ``cls_head.*``.
    """
    return OrderedDict(_reference_shapes(arch, num_classes))


def _listing(title: str, items: Sequence[str]) -> str:
    """``title (n): a, b, ...``; the keys of one block become ``block.*``."""
    groups: Dict[str, int] = OrderedDict()
    for item in items:
        m = _BLOCK_GROUP.match(item)
        name = m.group(1) + '.*' if m else item
        groups[name] = groups.get(name, 0) + 1
    names = [n if c == 1 else f'{n} ({c} keys)' for n, c in groups.items()]
    shown = ', '.join(names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f', ... (+{len(names) - _MAX_LISTED} more)'
    return f'\n  {title} ({len(items)}): {shown or "-"}'


def diff_state_dict(
        state_dict: Mapping[str, torch.Tensor],
        expected: Mapping[str, tuple]) -> Tuple[List[str], List[str],
                                                List[str]]:
    """Missing, unexpected and mis-shaped keys of ``state_dict``.

    ``num_batches_tracked`` counters are never reported missing: several
    exporters drop them and they do not change the model's outputs.

    Args:
        state_dict (Mapping[str, Tensor]): The checkpoint's tensors.
        expected (Mapping[str, tuple]): Key -> shape the model wants.

    Returns:
        tuple[list[str]]: ``missing``, ``unexpected`` and ``mis_shaped``
        (the last as ``"key: checkpoint (..) vs model (..)"``).
    """
    missing = [
        k for k in expected
        if k not in state_dict and not k.endswith('num_batches_tracked')
    ]
    unexpected = [k for k in state_dict if k not in expected]
    mis_shaped = []
    for k, v in state_dict.items():
        if k in expected and tuple(v.shape) != tuple(expected[k]):
            mis_shaped.append(f'{k}: checkpoint {tuple(v.shape)} vs model '
                              f'{tuple(expected[k])}')
    return missing, unexpected, mis_shaped


def mismatch_message(src: str, fmt: str,
                     state_dict: Mapping[str, torch.Tensor],
                     expected: Mapping[str, tuple],
                     target: Optional[str] = None) -> Optional[str]:
    """The error text for a state dict that does not fit, or None.

    Args:
        src (str): The checkpoint file (named in the message).
        fmt (str): Its detected format.
        state_dict (Mapping[str, Tensor]): Its tensors, in mmx3d names.
        expected (Mapping[str, tuple]): Key -> shape the model wants.
        target (str, optional): What the model is, for the message.
            Defaults to a description of ``expected``.

    Returns:
        str or None: None when every key fits.
    """
    missing, unexpected, mis_shaped = diff_state_dict(state_dict, expected)
    if not (missing or unexpected or mis_shaped):
        return None
    if target is None:
        target = describe_state_dict(
            {k: torch.empty(s, device='meta')
             for k, s in expected.items()})
    return (f'checkpoint {src!r} ({fmt} format) does not fit the model: it '
            f'looks like {describe_state_dict(state_dict)}, the model is '
            f'{target}' + _listing('missing keys', missing) +
            _listing('unexpected keys', unexpected) +
            _listing('mis-shaped keys', mis_shaped))


def check_state_dict(src: str, fmt: str,
                     state_dict: Mapping[str, torch.Tensor],
                     expected: Mapping[str, tuple],
                     target: Optional[str] = None) -> None:
    """Raise a ValueError naming every key that does not fit.

    Args:
        src (str): The checkpoint file (named in the message).
        fmt (str): Its detected format.
        state_dict (Mapping[str, Tensor]): Its tensors, in mmx3d names.
        expected (Mapping[str, tuple]): Key -> shape the model wants.
        target (str, optional): What the model is, for the message.

    Raises:
        ValueError: With the missing, unexpected and mis-shaped keys and the
            variant the checkpoint looks like.
    """
    msg = mismatch_message(src, fmt, state_dict, expected, target)
    if msg is not None:
        raise ValueError(msg)


def closest_preset(state_dict: Mapping[str, torch.Tensor],
                   num_classes: int = 400) -> str:
    """The preset whose keys and shapes differ least from ``state_dict``.

    Args:
        state_dict (Mapping[str, Tensor]): mmx3d keys.
        num_classes (int): Classes of the reference head. Defaults to 400.

    Returns:
        str: ``'s'``, ``'l'`` or ``'xl'`` (XS and M are S's network).
    """
    def cost(arch):
        return sum(
            map(len, diff_state_dict(state_dict,
                                     reference_shapes(arch, num_classes))))

    return min(('s', 'l', 'xl'), key=cost)
