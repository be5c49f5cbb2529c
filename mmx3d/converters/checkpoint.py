# Copyright (c) mmx3d contributors. All rights reserved.
"""Read X3D checkpoints of any known format and convert between formats.

Formats (detected from the keys, never from the file name):

* ``mmx3d``: MMEngine checkpoints of this package (``state_dict`` with
  ``backbone.stem.*``, ``backbone.res{2..5}.*``, ``cls_head.*``).
* ``pyslowfast``: PySlowFast ``.pyth`` (``model_state`` with
  ``s1.pathway0_stem.*``, ``s{2..5}.pathway0_res{i}.*``, ``head.*``).
* ``pytorchvideo``: PyTorchVideo ``create_x3d`` (``blocks.*``; PySlowFast's
  wrapper around it adds ``model.``).
* ``mmaction2``: MMAction2 1.x ``X3D`` + ``X3DHead`` (``backbone.conv1_s``,
  ``backbone.layer{1..4}``, ``cls_head.fc1/fc2``).

``module.`` (DDP) and ``model.`` prefixes are removed first. Key tables are in
:mod:`mmx3d.converters.keymaps`; what is more than a renaming:

* the head's ``lin5`` is a 1x1x1 Conv3d in PySlowFast/PyTorchVideo and an
  ``nn.Linear`` in mmx3d (the weight is squeezed / unsqueezed);
* PyTorchVideo has no BN on a shortcut that keeps the width (res2). Importing
  sets mmx3d's to identity (gamma 1, beta 0, mean 0, var 1 - eps); exporting
  folds it into the shortcut conv and adds its shift to the block's last BN
  bias (the two are summed before the ReLU), which is exact in eval mode.
  The identity BN is exact in eval mode only (in training it normalises by
  batch statistics); a backbone built with ``same_width_shortcut_bn=False``
  has no BN there and loads a PyTorchVideo checkpoint as PyTorchVideo's
  network in training mode too (see :func:`mmx3d.converters.loading.
  match_state_dict`).
"""
import os
import os.path as osp
import warnings
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch

from .keymaps import KEYMAPS
from .validate import (
    check_state_dict,
    closest_preset,
    describe_state_dict,
    mismatch_message,
    reference_shapes,
)

StateDict = 'OrderedDict[str, torch.Tensor]'

#: formats :func:`convert_checkpoint` reads
FORMATS = ('mmx3d', 'pyslowfast', 'pytorchvideo', 'mmaction2')
#: BN eps used for the identity shortcut BN (PyTorch's default, as X3D's)
BN_EPS = 1e-5
_LIN5 = 'cls_head.lin5.weight'


def load_any_checkpoint(path: str,
                        map_location: Union[str, torch.device] = 'cpu',
                        allow_pickle: bool = False) -> Any:
    """Read a checkpoint file without running code from it.

    ``torch.load(weights_only=True)`` is tried first. MMEngine Runner
    checkpoints (history buffers in ``message_hub``) are then read with
    mmx3d's restricted unpickler (``mmx3d.utils.compat.safe_torch_load``,
    where available). Arbitrary pickled objects are refused unless
    ``allow_pickle``, since unpickling them runs code from the file.

    Args:
        path (str): The file.
        map_location (str or torch.device): Where tensors go.
            Defaults to ``'cpu'``.
        allow_pickle (bool): As a last resort, read with
            ``weights_only=False`` (only for files you trust).
            Defaults to False.

    Returns:
        Any: What the file holds (usually a dict).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file cannot be read safely.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file {path!r} does not exist')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - reported below
        error = e
    from mmx3d.utils import compat
    restricted = getattr(compat, 'safe_torch_load', None)
    if restricted is not None:
        try:
            return restricted(path, map_location=map_location)
        except Exception as e:  # noqa: BLE001
            error = e
    if not allow_pickle:
        reason = ' '.join(str(error).split())[:300]
        raise ValueError(
            f'cannot read checkpoint {path!r} without unpickling arbitrary '
            f'objects ({reason}); if you trust the file, load it with '
            'load_any_checkpoint(path, allow_pickle=True) and save its '
            'state dict') from None
    try:
        obj = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f'cannot read checkpoint {path!r}: {e}') from e
    warnings.warn(f'{path!r} was read with torch.load(weights_only=False)')
    return obj


def extract_state_dict(obj: Any, src: str = '<checkpoint>') -> StateDict:
    """The tensors of a checkpoint object, with wrapper prefixes removed.

    Looks in ``state_dict`` (MMEngine), ``model_state`` (PySlowFast,
    PyTorchVideo) or ``model``/``module``, else takes ``obj`` itself, then
    strips ``module.`` and ``model.`` when every key carries them.

    Args:
        obj (Any): What :func:`load_any_checkpoint` returned.
        src (str): Name of the file, for errors. Defaults to
            ``'<checkpoint>'``.

    Returns:
        OrderedDict[str, Tensor]: Key -> tensor.

    Raises:
        ValueError: If no tensor dict is found.
    """
    sd = obj
    if isinstance(obj, Mapping):
        for name in ('state_dict', 'model_state', 'model', 'module'):
            inner = obj.get(name)
            if isinstance(inner, Mapping) and inner and all(
                    isinstance(v, torch.Tensor) for v in inner.values()):
                sd = inner
                break
    if not isinstance(sd, Mapping) or not sd or not all(
            isinstance(v, torch.Tensor) for v in sd.values()):
        keys = list(obj)[:8] if isinstance(obj, Mapping) else type(obj)
        raise ValueError(
            f'checkpoint {src!r} holds no state dict: expected a dict of '
            'tensors, or one under "state_dict" (MMEngine) or "model_state" '
            f'(PySlowFast/PyTorchVideo); found {keys}')
    sd = OrderedDict(sd)
    stripped = True
    while stripped:
        stripped = False
        for prefix in ('module.', 'model.'):
            if all(k.startswith(prefix) for k in sd):
                sd = OrderedDict((k[len(prefix):], v) for k, v in sd.items())
                stripped = True
    return sd


def detect_format(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Which X3D checkpoint format a (prefix-free) state dict is in.

    Args:
        state_dict (Mapping[str, Tensor]): Keys as in the file.

    Returns:
        str: One of :data:`FORMATS`, or ``'unknown'``.
    """
    keys = list(state_dict)

    def has(*prefixes):
        return any(k.startswith(prefixes) for k in keys)

    if has('s1.pathway0_stem.') or any(
            k.startswith('s') and '.pathway0_res' in k for k in keys):
        return 'pyslowfast'
    if has('blocks.0.conv.', 'blocks.1.res_blocks.'):
        return 'pytorchvideo'
    if has('backbone.conv1_s.', 'backbone.layer1.', 'conv1_s.', 'layer1.0.'):
        return 'mmaction2'
    if has('backbone.stem.', 'backbone.res2.', 'stem.conv_xy.', 'res2.0.'):
        return 'mmx3d'
    return 'unknown'


def _lin5_to_linear(sd: Dict[str, torch.Tensor]) -> None:
    w = sd.get(_LIN5)
    if w is not None and w.dim() == 5:
        sd[_LIN5] = w.reshape(w.shape[:2])


def _identity_bn(channels: int, like: torch.Tensor) -> Dict[str, torch.Tensor]:
    opts = dict(dtype=like.dtype, device=like.device)
    return {
        'weight': torch.ones(channels, **opts),
        'bias': torch.zeros(channels, **opts),
        'running_mean': torch.zeros(channels, **opts),
        'running_var': torch.full((channels, ), 1 - BN_EPS, **opts),
        'num_batches_tracked': torch.tensor(0, device=like.device),
    }


def _rename(sd: Mapping[str, torch.Tensor], fmt: str,
            to_mmx3d: bool) -> Tuple[StateDict, list]:
    keymap = KEYMAPS[fmt]
    out, unknown = OrderedDict(), []
    for k, v in sd.items():
        new = keymap.to_mmx3d(k) if to_mmx3d else keymap.from_mmx3d(k)
        if new is None:
            unknown.append(k)
            new = k
        out[new] = v
    return out, unknown


def to_mmx3d(state_dict: Mapping[str, torch.Tensor],
             fmt: Optional[str] = None) -> Tuple[StateDict, str]:
    """Rename a state dict of any known format to mmx3d keys.

    Keys no rule knows are kept as they are (the caller's check reports them
    as unexpected).

    Args:
        state_dict (Mapping[str, Tensor]): Prefix-free keys (see
            :func:`extract_state_dict`).
        fmt (str, optional): The format; detected if None.

    Returns:
        tuple[OrderedDict, str]: The mmx3d state dict and the format.
    """
    fmt = fmt or detect_format(state_dict)
    if fmt == 'unknown':
        return OrderedDict(state_dict), fmt
    if fmt == 'mmx3d':
        sd = OrderedDict(state_dict)
        if not any(k.startswith(('backbone.', 'cls_head.')) for k in sd):
            # a bare backbone state dict
            sd = OrderedDict(('backbone.' + k, v) for k, v in sd.items())
        return sd, fmt
    sd = state_dict
    if fmt == 'mmaction2' and not any(k.startswith('backbone.') for k in sd):
        sd = OrderedDict(('backbone.' + k, v) for k, v in sd.items())
    sd, _ = _rename(sd, fmt, to_mmx3d=True)
    _lin5_to_linear(sd)
    if fmt == 'pytorchvideo':
        for key in [k for k in sd if k.endswith('.downsample.0.weight')]:
            bn = key[:-len('0.weight')] + '1'
            if bn + '.weight' not in sd:
                w = sd[key]
                for name, t in _identity_bn(w.shape[0], w).items():
                    sd[f'{bn}.{name}'] = t
        sd = _sorted_like_mmx3d(sd)
    return sd, fmt


def same_width_shortcut_bn_keys(
        state_dict: Mapping[str, torch.Tensor]) -> List[str]:
    """Keys of the BNs on projection shortcuts that keep the width.

    These are the BNs PyTorchVideo's X3D does not have (res2 of every
    preset); works for keys with or without a ``backbone.`` prefix.
    """
    keys = []
    for key, w in state_dict.items():
        if key.endswith('.downsample.0.weight') and w.shape[0] == w.shape[1]:
            bn = key[:-len('0.weight')] + '1.'
            keys += [k for k in state_dict if k.startswith(bn)]
    return keys


def _sorted_like_mmx3d(sd: StateDict) -> StateDict:
    """Put inserted identity-BN keys next to their conv (cosmetic)."""
    out = OrderedDict()
    pending = {}
    for k, v in sd.items():
        if '.downsample.1.' in k:
            pending[k] = v
    for k, v in sd.items():
        if k in pending:
            continue
        out[k] = v
        if k.endswith('.downsample.0.weight'):
            prefix = k[:-len('0.weight')] + '1.'
            for pk in [p for p in pending if p.startswith(prefix)]:
                out[pk] = pending.pop(pk)
    out.update(pending)
    return out


def convert_checkpoint(src: Union[str, Mapping[str, Any]],
                       arch: Optional[str] = None,
                       strict: bool = True,
                       name: Optional[str] = None) -> StateDict:
    """Convert a checkpoint of any known format to an mmx3d state dict.

    The result is checked against the preset ``arch`` (or, if None, the
    preset it resembles most); a backbone-only checkpoint is checked against
    the backbone only.

    Args:
        src (str or Mapping): A checkpoint file or an already loaded
            checkpoint / state dict.
        arch (str, optional): Expected preset (``'xs'`` to ``'xl'``); None
            accepts any preset. Defaults to None.
        strict (bool): Raise if keys or shapes do not fit the preset.
            Defaults to True.
        name (str, optional): What to call the checkpoint in errors.
            Defaults to the file name, or ``'<state dict>'``.

    Returns:
        OrderedDict[str, Tensor]: ``backbone.*`` / ``cls_head.*`` tensors,
        loadable with ``load_state_dict`` by an mmx3d ``Recognizer3D``.

    Raises:
        ValueError: For an unknown format or keys that do not fit, with the
            missing / unexpected / mis-shaped keys and the variant the
            checkpoint looks like.
    """
    name = name or (src if isinstance(src, str) else '<state dict>')
    obj = load_any_checkpoint(src) if isinstance(src, str) else src
    sd, fmt = to_mmx3d(extract_state_dict(obj, name))
    if not strict:
        return sd
    head = sd.get('cls_head.fc_cls.weight')
    num_classes = int(head.shape[0]) if head is not None else 400
    preset = arch or closest_preset(sd, num_classes)
    expected = reference_shapes(preset, num_classes)
    if not any(k.startswith('cls_head.') for k in sd):
        expected = OrderedDict(
            (k, s) for k, s in expected.items() if k.startswith('backbone.'))
    target = ('an mmx3d X3D-' + preset.upper() if arch else
              'the nearest preset X3D-' +
              {'s': 'XS/S/M'}.get(preset, preset.upper()))
    if fmt == 'unknown':
        msg = mismatch_message(name, fmt, sd, expected, target) or ''
        raise ValueError(
            f'checkpoint {name!r}: unrecognised format; expected the keys of '
            'PySlowFast (s1.pathway0_stem.*), PyTorchVideo (blocks.*), '
            'MMAction2 (backbone.conv1_s.*) or mmx3d (backbone.stem.*). ' +
            msg)
    check_state_dict(name, fmt, sd, expected, target)
    return sd


def _to_conv(w: torch.Tensor) -> torch.Tensor:
    return w.reshape(*w.shape, 1, 1, 1) if w.dim() == 2 else w


def _mmx3d_state(src: Union[str, Mapping[str, Any]]) -> StateDict:
    if isinstance(src, str):
        return convert_checkpoint(src)
    sd = extract_state_dict(src)
    sd, fmt = to_mmx3d(sd)
    if fmt == 'unknown':
        raise ValueError('state dict of unrecognised format: expected mmx3d '
                         'keys (backbone.stem.*, cls_head.*)')
    return sd


def export_pyslowfast(src: Union[str, Mapping[str, Any]]) -> StateDict:
    """Convert any known X3D checkpoint to a PySlowFast ``model_state``.

    Args:
        src (str or Mapping): A checkpoint file or a loaded checkpoint /
            state dict of any format :func:`convert_checkpoint` reads.

    Returns:
        OrderedDict[str, Tensor]: PySlowFast keys; save it as
        ``{'model_state': ...}`` for PySlowFast's loader.
    """
    sd = OrderedDict(_mmx3d_state(src))
    if _LIN5 in sd:
        sd[_LIN5] = _to_conv(sd[_LIN5])
    out, unknown = _rename(sd, 'pyslowfast', to_mmx3d=False)
    if unknown:
        raise ValueError(f'no PySlowFast name for: {unknown[:8]}')
    return out


def export_pytorchvideo(src: Union[str, Mapping[str, Any]]) -> StateDict:
    """Convert any known X3D checkpoint to a PyTorchVideo state dict.

    The shortcut BN of blocks that keep the width (res2), which
    PyTorchVideo lacks, is folded in as described in the module docstring;
    the result reproduces the mmx3d model in eval mode.

    Args:
        src (str or Mapping): A checkpoint file or a loaded checkpoint /
            state dict of any format :func:`convert_checkpoint` reads.

    Returns:
        OrderedDict[str, Tensor]: ``blocks.*`` keys for ``create_x3d``; save
        it as ``{'model_state': ...}`` like PyTorchVideo's hub files.
    """
    sd = OrderedDict(_mmx3d_state(src))
    for key in [k for k in sd if k.endswith('.downsample.0.weight')]:
        w = sd[key]
        bn = key[:-len('0.weight')] + '1.'
        if w.shape[0] != w.shape[1] or bn + 'weight' not in sd:
            continue  # PyTorchVideo keeps this BN, or there is none
        block = key[:-len('downsample.0.weight')]
        gamma, beta = sd.pop(bn + 'weight'), sd.pop(bn + 'bias')
        mean, var = sd.pop(bn + 'running_mean'), sd.pop(bn + 'running_var')
        sd.pop(bn + 'num_batches_tracked', None)
        scale = gamma / torch.sqrt(var + BN_EPS)
        sd[key] = w * scale.reshape(-1, 1, 1, 1, 1).to(w.dtype)
        bias = block + 'bn_c.bias'
        sd[bias] = sd[bias] + (beta - mean * scale).to(sd[bias].dtype)
    if _LIN5 in sd:
        sd[_LIN5] = _to_conv(sd[_LIN5])
    out, unknown = _rename(sd, 'pytorchvideo', to_mmx3d=False)
    if unknown:
        raise ValueError(f'no PyTorchVideo name for: {unknown[:8]}')
    return out


def save_checkpoint(state_dict: Mapping[str, torch.Tensor], path: str,
                    fmt: str = 'mmx3d', meta: Optional[dict] = None) -> None:
    """Write a state dict the way each format's own loader expects it.

    Args:
        state_dict (Mapping[str, Tensor]): Keys already in ``fmt``.
        path (str): Output file.
        fmt (str): ``'mmx3d'`` (``{'meta', 'state_dict'}``, as MMEngine) or
            ``'pyslowfast'`` / ``'pytorchvideo'`` (``{'model_state'}``).
            Defaults to ``'mmx3d'``.
        meta (dict, optional): Extra ``meta`` for mmx3d files.
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if fmt == 'mmx3d':
        obj = dict(meta=dict(meta or {}), state_dict=OrderedDict(state_dict))
    elif fmt in ('pyslowfast', 'pytorchvideo'):
        obj = dict(model_state=OrderedDict(state_dict))
    else:
        raise ValueError(f'cannot save format {fmt!r}; choose mmx3d, '
                         'pyslowfast or pytorchvideo')
    torch.save(obj, path)


__all__ = [
    'FORMATS', 'load_any_checkpoint', 'extract_state_dict', 'detect_format',
    'to_mmx3d', 'convert_checkpoint', 'export_pyslowfast',
    'export_pytorchvideo', 'save_checkpoint', 'describe_state_dict'
]
