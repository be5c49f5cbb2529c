# Copyright (c) mmx3d contributors. All rights reserved.
"""An X3D expansion state: six factors on top of a base config, and the
config it renders to.

The factors follow the paper: ``gamma_t`` frames, ``gamma_tau`` sampling
stride (the config's ``frame_interval``), ``gamma_s`` spatial size,
``gamma_w`` width, ``gamma_b`` bottleneck width, ``gamma_d`` depth. The
paper's ``gamma_s`` is ``crop / 112`` (X2D's crop); here it is ``crop /``
the base config's training crop, so that any dataset's base config can
start a search (the base config of the synthetic search,
``configs/x3d/x3d_x2d_synthetic.py``, is X2D itself: every factor 1).

Rendering a state rewrites, in a copy of the base config:

* ``model.backbone``: ``gamma_w``, ``gamma_b``, ``gamma_d``;
* ``model.cls_head``: ``in_channels`` and ``mid_channels`` (res5 and
  conv5 widths of that backbone) and, for ``X3DClsHead``,
  ``train_crop_size``;
* every clip sampler (``*SampleFrames``) of the train/val/test pipelines:
  ``clip_len = gamma_t``, ``frame_interval = gamma_tau``;
* every spatial size of those pipelines (:data:`SPATIAL_ARGS`: rescale
  range, crops, the test resize) multiplied by ``gamma_s``, and the
  top-level ``clip_len``, ``frame_interval``, ``train_crop``,
  ``test_crop``, ``scale_range`` where the base has them;
* optionally the training settings of :class:`TrainSettings` (batch,
  schedule length, BN over a number of clips, drop-connect).

:func:`config_text` writes the same as a config file that inherits the base
through ``_base_`` and states only these differences.
"""
import copy
import functools
import hashlib
import json
import math
import os
import os.path as osp
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, List, Optional, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

#: transform type -> its arguments that are spatial sizes (scaled by gamma_s)
SPATIAL_ARGS = {
    'RandomRescale': ('scale_range', ),
    'RandomCrop': ('size', ),
    'CenterCrop': ('crop_size', ),
    'ThreeCrop': ('crop_size', ),
    'TenCrop': ('crop_size', ),
    'Resize': ('scale', ),
}
#: top-level settings of the Kinetics-style bases (see ``x3d_clip``)
_TOP_SPATIAL = ('train_crop', 'test_crop', 'scale_range')
SPLITS = ('train', 'val', 'test')


@dataclass(frozen=True)
class ExpansionState:
    """The six expansion factors of a candidate and its base config.

    Attributes:
        base (str): Path of the base config (the start of the search).
        gamma_tau (int): Temporal sampling stride, the pipelines'
            ``frame_interval``.
        gamma_t (int): Frames per clip, the pipelines' ``clip_len``.
        gamma_s (float): Training crop / the base config's training crop.
            Defaults to 1.
        gamma_w (float): Width factor of the backbone. Defaults to 1.
        gamma_b (float): Bottleneck width / stage width. Defaults to 1.
        gamma_d (float): Depth factor of the backbone. Defaults to 1.
    """
    base: str
    gamma_tau: int
    gamma_t: int
    gamma_s: float = 1.0
    gamma_w: float = 1.0
    gamma_b: float = 1.0
    gamma_d: float = 1.0

    def factors(self) -> Dict[str, float]:
        """The six factors by name (``base`` left out)."""
        return {k: v for k, v in asdict(self).items() if k != 'base'}

    def replace(self, **factors) -> 'ExpansionState':
        """A copy with some factors changed."""
        return replace(self, **factors)

    @classmethod
    def from_config(cls, path: str,
                    cfg: Optional[Config] = None) -> 'ExpansionState':
        """The start state of a base config: its own clip and network.

        ``gamma_t`` and ``gamma_tau`` are the training sampler's
        ``clip_len`` and ``frame_interval``, ``gamma_s`` is 1, the network
        factors are the backbone's (the ``arch`` preset's where the config
        does not set them).

        Args:
            path (str): The base config file.
            cfg (Config, optional): Its loaded content (with any
                ``--cfg-options`` applied). Defaults to loading ``path``.

        Returns:
            ExpansionState: The start point.

        Raises:
            ValueError: If the config is not an X3D recognizer or its
                training pipeline has no clip sampler.
        """
        cfg = Config.fromfile(path) if cfg is None else cfg
        backbone = _backbone_cfg(cfg, path)
        from mmx3d.models.backbones.x3d import X3DBackbone
        preset = X3DBackbone.arch_settings[backbone.get('arch', 's')]
        gammas = [
            backbone.get(k) if backbone.get(k) is not None else preset[i]
            for i, k in enumerate(('gamma_w', 'gamma_b', 'gamma_d'))
        ]
        sampler = _sampler(_pipeline(cfg, 'train', path), path)
        return cls(
            base=osp.abspath(path),
            gamma_tau=int(sampler['frame_interval']),
            gamma_t=int(sampler['clip_len']),
            gamma_s=1.0,
            gamma_w=float(gammas[0]),
            gamma_b=float(gammas[1]),
            gamma_d=float(gammas[2]))


@dataclass(frozen=True)
class TrainSettings:
    """Training settings a candidate changes besides its factors.

    Attributes:
        batch_mult (float): Multiplies the training batch per process.
            Defaults to 1.
        max_epochs (int, optional): Training length (``max_iters`` for an
            iteration-based loop). The param schedulers that span the run
            (cosine, steps) are rescaled to it; shorter ones (warm-up) are
            kept, cut at the new length. None keeps the base's.
            Defaults to None.
        schedule_mult (float): Multiplies the training length (after
            ``max_epochs``), schedulers as above. Defaults to 1.
        bn_clips (int, optional): BN statistics over groups of this many
            clips (``SubBatchNorm3d``, backbone and head). Defaults to None.
        drop_connect_rate (float, optional): The backbone's drop-connect
            rate. Defaults to None (the base's).
    """
    batch_mult: float = 1.0
    max_epochs: Optional[int] = None
    schedule_mult: float = 1.0
    bn_clips: Optional[int] = None
    drop_connect_rate: Optional[float] = None


def _where(path: Optional[str]) -> str:
    return f'{path}: ' if path else ''


def _backbone_cfg(cfg: Config, path: Optional[str] = None) -> ConfigDict:
    backbone = cfg.get('model', {}).get('backbone')
    if not isinstance(backbone, dict) or backbone.get('type') != \
            'X3DBackbone':
        got = backbone.get('type') if isinstance(backbone, dict) else None
        raise ValueError(f'{_where(path)}model.backbone must be an '
                         f'X3DBackbone to be expanded, got {got!r}')
    return backbone


def _pipeline(cfg: Config, split: str, path: Optional[str] = None) -> list:
    try:
        return cfg[f'{split}_dataloader']['dataset']['pipeline']
    except (KeyError, TypeError):
        raise ValueError(
            f'{_where(path)}{split}_dataloader.dataset.pipeline is missing; '
            'an expansion rewrites the clip and crops of the train, val and '
            'test pipelines') from None


def _sampler(pipeline: list, path: Optional[str] = None) -> dict:
    for step in pipeline:
        if step['type'].endswith('SampleFrames'):
            return step
    raise ValueError(f'{_where(path)}the training pipeline has no clip '
                     'sampler (SampleFrames or PySlowFastSampleFrames); '
                     f'steps: {[s["type"] for s in pipeline]}')


def base_train_crop(cfg: Config, path: Optional[str] = None) -> int:
    """The training crop of a base config (``RandomCrop.size``, else the
    val ``CenterCrop``), the size ``gamma_s = 1`` stands for."""
    for split, typ, key in (('train', 'RandomCrop', 'size'),
                            ('val', 'CenterCrop', 'crop_size')):
        for step in _pipeline(cfg, split, path):
            if step['type'] == typ:
                size = step[key]
                return int(size if isinstance(size, int) else size[0])
    raise ValueError(f'{_where(path)}no RandomCrop in the training pipeline '
                     'nor CenterCrop in the val pipeline: cannot tell the '
                     'training crop that gamma_s scales')


def _scale(value, s: float):
    if isinstance(value, (list, tuple)):
        return tuple(v if v == -1 else int(round(v * s)) for v in value)
    return int(round(value * s))


def crop_size(state: ExpansionState, cfg: Config) -> int:
    """The training crop of ``state``: ``round(gamma_s * base crop)``."""
    return int(round(state.gamma_s * base_train_crop(cfg, state.base)))


def pipeline_args(state: ExpansionState, cfg: Config,
                  split: str) -> Dict[str, Dict[str, Any]]:
    """New arguments per transform type for one split's pipeline.

    Args:
        state (ExpansionState): The candidate.
        cfg (Config): The loaded base config.
        split (str): ``'train'``, ``'val'`` or ``'test'``.

    Returns:
        dict: transform type -> arguments to set.

    Raises:
        ValueError: If a transform type with spatial arguments appears twice
            with different values in the pipeline.
    """
    args: Dict[str, Dict[str, Any]] = {}
    for step in _pipeline(cfg, split, state.base):
        typ = step['type']
        new = {}
        if typ.endswith('SampleFrames'):
            new = dict(clip_len=int(state.gamma_t),
                       frame_interval=int(state.gamma_tau))
        elif typ in SPATIAL_ARGS:
            new = {
                k: _scale(step[k], state.gamma_s)
                for k in SPATIAL_ARGS[typ] if k in step
            }
        if not new:
            continue
        if typ in args and args[typ] != new:
            raise ValueError(
                f'{state.base}: {split}_dataloader.dataset.pipeline has two '
                f'{typ} steps with different sizes; an expansion can only '
                'rewrite one per type')
        args[typ] = new
    return args


def apply_args(pipeline: list, args: Dict[str, Dict[str, Any]]) -> list:
    """``pipeline`` with ``args[type]`` merged into its steps (the same
    function the written configs define as ``expanded``)."""
    return [dict(step, **args.get(step['type'], {})) for step in pipeline]


def _head_channels(backbone: dict) -> Tuple[int, int]:
    """(res5 width, conv5 width) of a backbone config (built on meta)."""
    return _head_channels_of(json.dumps(backbone, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _head_channels_of(backbone_json: str) -> Tuple[int, int]:
    from mmx3d.registry import MODELS
    cfg = dict(json.loads(backbone_json), channels_last=False,
               fused_ops=False, init_cfg=None)
    with torch.device('meta'), DefaultScope.overwrite_default_scope('mmx3d'):
        net = MODELS.build(cfg)
    return int(net.feat_dim), int(net.conv5_channels)


def head_overrides(state: ExpansionState, cfg: Config, res5: int,
                   conv5: int,
                   train: Optional[TrainSettings] = None) -> Dict[str, Any]:
    """``model.cls_head`` keys for a backbone with ``res5`` output and
    ``conv5`` (res5 inner) channels: ``in_channels``, ``mid_channels``
    and, for ``X3DClsHead``, ``train_crop_size`` (and its BN)."""
    base_head = cfg.model.get('cls_head') or {}
    head: Dict[str, Any] = dict(in_channels=int(res5))
    if 'mid_channels' in base_head or base_head.get('type') == 'X3DClsHead':
        head['mid_channels'] = int(conv5)
    if base_head.get('type') == 'X3DClsHead':
        head['train_crop_size'] = crop_size(state, cfg)
        if train is not None and train.bn_clips:
            head['norm_cfg'] = dict(type='SubBatchNorm3d',
                                    group_size=int(train.bn_clips))
    return head


def model_overrides(state: ExpansionState, cfg: Config,
                    train: Optional[TrainSettings] = None,
                    head: bool = True) -> dict:
    """``model`` keys of the rendered config: the backbone's factors (and
    drop-connect / BN of ``train``) and, with ``head``, the head's widths
    (:func:`head_overrides`, read off the backbone built on ``meta``)."""
    backbone = dict(gamma_w=float(state.gamma_w), gamma_b=float(
        state.gamma_b), gamma_d=float(state.gamma_d))
    train = train or TrainSettings()
    if train.drop_connect_rate is not None:
        backbone['drop_connect_rate'] = float(train.drop_connect_rate)
    if train.bn_clips:
        backbone['norm_cfg'] = dict(type='SubBatchNorm3d',
                                    group_size=int(train.bn_clips))
    out = dict(backbone=backbone)
    if head and cfg.model.get('cls_head') is not None:
        full = dict(_backbone_cfg(cfg, state.base), **backbone)
        out['cls_head'] = head_overrides(state, cfg, *_head_channels(full),
                                         train=train)
    return out


def _scale_schedule(cfg: Config, train: TrainSettings) -> dict:
    """``train_cfg``/``param_scheduler`` keys for another training length."""
    loop = cfg.train_cfg
    key = 'max_epochs' if 'max_epochs' in loop else 'max_iters'
    if key not in loop:
        raise ValueError(f'{cfg.filename}: train_cfg has neither max_epochs '
                         'nor max_iters; cannot change the schedule')
    old = loop[key]
    new = loop[key] if train.max_epochs is None else train.max_epochs
    new = max(1, int(round(new * train.schedule_mult)))
    if new == old:
        return {}
    ratio = new / old
    out: Dict[str, Any] = dict(train_cfg={key: new})
    if loop.get('val_begin', 1) > new:
        out['train_cfg']['val_begin'] = new
    if loop.get('val_interval', 1) > new:
        out['train_cfg']['val_interval'] = new
    if key == 'max_epochs' and 'max_epochs' in cfg:
        out['max_epochs'] = new
    scheds = cfg.get('param_scheduler')
    if scheds:
        scheds = copy.deepcopy(
            scheds if isinstance(scheds, list) else [scheds])
        for s in scheds:
            exact = s.get('convert_to_iter_based', False)
            if s.get('end', math.inf) < old:
                # a warm-up: kept as it is, within the new length
                s['end'] = min(s['end'], new)
                continue
            for k in ('begin', 'end', 'T_max'):
                if k in s:
                    v = s[k] * ratio
                    if not exact or float(v).is_integer():
                        v = max(int(round(v)), 1 if s[k] else 0)
                    s[k] = v
            if 'milestones' in s:
                s['milestones'] = [
                    m * ratio if exact else max(int(round(m * ratio)), 1)
                    for m in s['milestones']
                ]
        out['param_scheduler'] = [s.to_dict() if isinstance(
            s, ConfigDict) else s for s in scheds]
    return out


def config_overrides(state: ExpansionState, cfg: Config,
                     train: Optional[TrainSettings] = None) -> dict:
    """Everything the rendered config changes in the base, as one nested
    dict (pipelines as full lists), mergeable into the base config.

    Args:
        state (ExpansionState): The candidate.
        cfg (Config): The loaded base config.
        train (TrainSettings, optional): Training changes.
            Defaults to None (none).

    Returns:
        dict: Top-level key -> value or nested dict of changed keys.
    """
    train = train or TrainSettings()
    out: Dict[str, Any] = dict(model=model_overrides(state, cfg, train))
    out.update(_top_level(state, cfg))
    for split in SPLITS:
        args = pipeline_args(state, cfg, split)
        pipeline = apply_args(_pipeline(cfg, split, state.base), args)
        out[f'{split}_pipeline'] = pipeline
        out[f'{split}_dataloader'] = dict(dataset=dict(pipeline=pipeline))
    if train.batch_mult != 1:
        batch = cfg.train_dataloader.batch_size
        out['train_dataloader']['batch_size'] = max(
            1, int(round(batch * train.batch_mult)))
    for k, v in _scale_schedule(cfg, train).items():
        out[k] = v
    return out


def _top_level(state: ExpansionState, cfg: Config) -> dict:
    out: Dict[str, Any] = {}
    if 'clip_len' in cfg:
        out['clip_len'] = int(state.gamma_t)
    if 'frame_interval' in cfg:
        out['frame_interval'] = int(state.gamma_tau)
    for k in _TOP_SPATIAL:
        if k in cfg:
            out[k] = _scale(cfg[k], state.gamma_s)
    if 'train_crop' in out:
        out['train_crop'] = crop_size(state, cfg)
    return out


def render_config(state: ExpansionState, cfg: Config,
                  train: Optional[TrainSettings] = None) -> Config:
    """The config of ``state``: a copy of ``cfg`` with
    :func:`config_overrides` merged in as MMEngine merges a child config
    into its base (dicts update, lists replace), i.e. what the file of
    :func:`config_text` loads to.
    """
    out = copy.deepcopy(cfg)
    out.merge_from_dict(config_overrides(state, cfg, train))
    return out


def _fmt(value, indent: int = 0, col: int = 0) -> str:
    """Python source for a config value that starts at column ``col`` of a
    line indented by ``indent``, wrapped at 79 columns."""
    one = _fmt_line(value)
    if col + len(one) <= 79 or not isinstance(value, (dict, list, tuple)):
        return one
    inner = indent + 4
    pad = ' ' * inner
    if isinstance(value, dict):
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            items = [
                f'{pad}{k}={_fmt(v, inner, inner + len(k) + 1)}'
                for k, v in value.items()
            ]
            return 'dict(\n' + ',\n'.join(items) + ')'
        items = [f'{pad}{k!r}: {_fmt(v, inner, inner + len(repr(k)) + 2)}'
                 for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '}'
    items = [pad + _fmt(v, inner, inner) for v in value]
    opening, closing = ('[', ']') if isinstance(value, list) else ('(', ')')
    return opening + '\n' + ',\n'.join(items) + '\n' + ' ' * indent + \
        closing


def _fmt_line(value) -> str:
    if isinstance(value, _Name):
        return str(value)
    if isinstance(value, dict):
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            return 'dict(' + ', '.join(
                f'{k}={_fmt_line(v)}' for k, v in value.items()) + ')'
        return '{' + ', '.join(f'{k!r}: {_fmt_line(v)}'
                               for k, v in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_fmt_line(v) for v in value) + ']'
    if isinstance(value, tuple):
        inner = ', '.join(_fmt_line(v) for v in value)
        return f'({inner},)' if len(value) == 1 else f'({inner})'
    if isinstance(value, float) and math.isinf(value):
        return "float('inf')"
    return repr(value)


_EXPANDED = '''

def expanded(pipeline, **args):
    """``pipeline`` with new arguments for some transforms (type -> args)."""
    return [dict(step, **args.get(step['type'], {})) for step in pipeline]

'''


class _Name(str):
    """A variable name, written without quotes by :func:`_fmt_line`."""


def nest_options(options: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """``{'a.b': 1}`` (``--cfg-options``) -> ``{'a': {'b': 1}}``."""
    out: Dict[str, Any] = {}
    for key, value in (options or {}).items():
        d = out
        *parents, leaf = key.split('.')
        for k in parents:
            d = d.setdefault(k, {})
        d[leaf] = value
    return out


def _merge(a: dict, b: dict) -> dict:
    """``b`` merged into a copy of ``a`` (``b`` wins)."""
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def config_text(state: ExpansionState, cfg: Config,
                train: Optional[TrainSettings] = None,
                header: Optional[List[str]] = None,
                cfg_options: Optional[Dict[str, Any]] = None) -> str:
    """A config file for ``state`` that inherits the base and states only
    what differs.

    The pipelines are the base's (``_base_.<split>_dataloader.dataset
    .pipeline``) passed through ``expanded``, a function of the file that
    sets the new clip and crop arguments per transform type; MMEngine drops
    it from the loaded config.

    Args:
        state (ExpansionState): The candidate.
        cfg (Config): The loaded base config (``cfg_options`` applied).
        train (TrainSettings, optional): Training changes.
            Defaults to None.
        header (list[str], optional): Comment lines for the top.
            Defaults to None.
        cfg_options (dict, optional): ``--cfg-options`` (dotted keys) the
            base was loaded with; written into the file too, so that it
            trains the same on its own. Defaults to None.

    Returns:
        str: Python source.
    """
    over = _merge(nest_options(cfg_options),
                  config_overrides(state, cfg, train))
    lines = [f'# {h}' if h else '#' for h in (header or [])]
    lines += [f'_base_ = [{state.base!r}]', '']
    top = list(_top_level(state, cfg)) + ['model']
    loaders = [f'{split}_dataloader' for split in SPLITS]
    pipelines = [f'{split}_pipeline' for split in SPLITS]
    rest = [k for k in over if k not in top + loaders + pipelines]
    for k in top + rest:
        lines.append(f'{k} = {_fmt(over[k], 0, len(k) + 3)}')
    text = '\n'.join(lines) + '\n' + _EXPANDED
    for split in SPLITS:
        call = [f'    _base_.{split}_dataloader.dataset.pipeline']
        for typ, a in pipeline_args(state, cfg, split).items():
            call.append(f'    {typ}={_fmt(a, 4, 5 + len(typ))}')
        text += f'\n{split}_pipeline = expanded(\n' + ',\n'.join(call) + ')'
    text += '\n'
    for split, k in zip(SPLITS, loaders):
        loader = dict(over[k])
        loader['dataset'] = dict(loader['dataset'],
                                 pipeline=_Name(f'{split}_pipeline'))
        text += f'{k} = {_fmt(loader, 0, len(k) + 3)}\n'
    return text


def write_text(path: str, text: str) -> bool:
    """Write ``text`` to ``path`` atomically unless it already holds it.

    Returns:
        bool: Whether the file was (re)written.
    """
    if osp.isfile(path):
        with open(path) as f:
            if f.read() == text:
                return False
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def text_sha(text: str) -> str:
    """Short SHA-256 of a config text (recorded with each result)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def state_fields() -> List[str]:
    """The factor names in order."""
    return [f.name for f in fields(ExpansionState) if f.name != 'base']
