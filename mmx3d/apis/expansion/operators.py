# Copyright (c) mmx3d contributors. All rights reserved.
"""The six expansion operators of X3D, solved for a FLOP ratio.

Each operator expands one axis of an :class:`ExpansionState` so that the
candidate's FLOPs, measured with :mod:`mmx3d.utils.complexity` on the
rendered model (built on the ``meta`` device: no memory, no compute), are
the closest to ``ratio`` (``c_hat``, 2 by default) times the current ones.
It searches the discrete values the factor can take once rounded (frames,
strides and crops are integers, widths are rounded to multiples of 8 by the
backbone, depths are ``ceil``-ed). FLOPs grow along them: starting at the
paper's multiplier it gallops and bisects to the first one above the target
and keeps it or the one before, whichever is nearer to the target in
log-FLOPs:

============ ============================ =================================
axis         paper (one step, c_hat = 2)  searched here
============ ============================ =================================
fast         gamma_tau x0.5, gamma_t x2   frames T' > T, stride tau*T/T'
                                          (same clip duration)
temporal     gamma_tau x0.75, gamma_t x2  frames T' > T, stride
                                          tau * 0.75 ** log2(T'/T)
spatial      gamma_s x sqrt(2)            crops, multiples of
                                          ``crop_divisor``
depth        gamma_d x2.2                 gamma_d * r, distinct block counts
width        gamma_w x2                   gamma_w * r, distinct widths
bottleneck   gamma_b x2.25                gamma_b * r, distinct inner widths
============ ============================ =================================

Strides are rounded to integers >= 1 (once the stride is 1, X-Fast can only
lengthen the clip). For the network axes, the stored factor is the one
closest to the paper's multiplier among those that give the chosen rounded
network (the multiplier itself where it gives that network), so that the
factors stay readable.
"""
import inspect
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

from mmx3d.utils.complexity import count_params, recognizer_complexity

from .state import (
    ExpansionState,
    base_train_crop,
    crop_size,
    head_overrides,
    model_overrides,
)

#: axis -> (the factor it solves for, the paper's multiplier of it)
AXES = {
    'fast': ('gamma_t', 2.0),
    'temporal': ('gamma_t', 2.0),
    'spatial': ('gamma_s', math.sqrt(2)),
    'depth': ('gamma_d', 2.2),
    'width': ('gamma_w', 2.0),
    'bottleneck': ('gamma_b', 2.25),
}
#: the paper's names
AXIS_NAMES = {
    'fast': 'X-Fast',
    'temporal': 'X-Temporal',
    'spatial': 'X-Spatial',
    'depth': 'X-Depth',
    'width': 'X-Width',
    'bottleneck': 'X-Bottleneck',
}
# multiplicative grid of the network factors: 0.2% steps up to x16
_GRID = [math.exp(0.002 * k) for k in range(1, 1387)]


def _drop_bn(module: nn.Module) -> None:
    """Replace every BN layer below ``module`` by an identity, in place."""
    for child_name, child in list(module.named_children()):
        if isinstance(child, _BatchNorm):
            setattr(module, child_name, nn.Identity())
        else:
            _drop_bn(child)


class Expander:
    """Measures states and solves the axis operators for one base config.

    Args:
        cfg (Config): The loaded base config.
        c_hat (float): FLOP ratio of an expansion step. Defaults to 2.
        crop_divisor (int): Crops are multiples of it. Defaults to 8 (the
            paper's 160, 224, 312 are).
    """

    def __init__(self, cfg: Config, c_hat: float = 2.0,
                 crop_divisor: int = 8) -> None:
        if c_hat <= 1:
            raise ValueError(f'c_hat must be > 1, got {c_hat}')
        if crop_divisor < 1:
            raise ValueError(f'crop_divisor must be >= 1, got {crop_divisor}')
        self.cfg = cfg
        self.c_hat = float(c_hat)
        self.crop_divisor = int(crop_divisor)
        self._cache: Dict[Tuple, Tuple[float, int]] = {}
        from mmx3d.models.backbones.x3d import X3DBackbone
        sig = inspect.signature(X3DBackbone.__init__).parameters
        backbone = cfg.model.backbone
        self._base_channels = backbone.get(
            'base_channels', sig['base_channels'].default)
        self._stage_blocks = tuple(
            backbone.get('stage_blocks', sig['stage_blocks'].default))

    # ---------------------------------------------------------- measuring
    def measure(self, state: ExpansionState) -> Tuple[float, int]:
        """GFLOPs (one clip at the training crop) and parameters.

        The backbone and head of the rendered model are built on the
        ``meta`` device with their BN layers swapped for identities (the
        counter does not count BN, and meta BN is slow) and measured by
        :func:`mmx3d.utils.complexity.recognizer_complexity`; parameters
        are counted before the swap.

        Returns:
            tuple: ``(gflops, params)``, params including BN.
        """
        key = tuple(state.factors().values())
        if key not in self._cache:
            from mmx3d.registry import MODELS
            over = model_overrides(state, self.cfg, head=False)
            net = nn.Module()
            with torch.device('meta'), \
                    DefaultScope.overwrite_default_scope(
                        self.cfg.get('default_scope', 'mmx3d')):
                net.backbone = MODELS.build(
                    dict(self.cfg.model.backbone, **over['backbone'],
                         channels_last=False, fused_ops=False,
                         init_cfg=None))
                head = self.cfg.model.get('cls_head')
                if head is not None:
                    head = dict(head, **head_overrides(
                        state, self.cfg, net.backbone.feat_dim,
                        net.backbone.conv5_channels))
                    head.pop('init_cfg', None)
                    net.cls_head = MODELS.build(head)
            params = count_params(net)
            _drop_bn(net)
            crop = crop_size(state, self.cfg)
            res = recognizer_complexity(net, (int(state.gamma_t), crop, crop))
            self._cache[key] = (res['gflops'], params)
        return self._cache[key]

    def gflops(self, state: ExpansionState) -> float:
        """GFLOPs of ``state`` (see :meth:`measure`)."""
        return self.measure(state)[0]

    # ---------------------------------------------------------- operators
    def expand(self, state: ExpansionState, axis: str,
               ratio: Optional[float] = None,
               allow_same: bool = False) -> ExpansionState:
        """Expand one axis to ``ratio`` times the FLOPs of ``state``.

        Args:
            state (ExpansionState): The current model.
            axis (str): One of :data:`AXES`.
            ratio (float, optional): Target FLOP ratio. Defaults to
                ``c_hat``.
            allow_same (bool): ``state`` itself is a candidate too (for
                the backward contraction, whose ratio may be close to 1).
                Defaults to False.

        Returns:
            ExpansionState: The candidate with FLOPs nearest (in log) to
            ``ratio`` x those of ``state``.

        Raises:
            KeyError: For an unknown axis.
        """
        if axis not in AXES:
            raise KeyError(f'unknown expansion axis {axis!r}; expected one '
                           f'of {list(AXES)}')
        ratio = self.c_hat if ratio is None else float(ratio)
        target = ratio * self.gflops(state)
        factor, nominal = AXES[axis]
        cands = getattr(self, f'_{axis}')(state)
        if allow_same:
            cands = [state] + cands
        # the paper's multiplier, for this ratio, is where to start looking
        guess = nominal**(math.log(ratio) / math.log(2.0))
        now = getattr(state, factor)
        start = min(range(len(cands)), key=lambda i: abs(
            math.log(getattr(cands[i], factor) / now / guess)))
        i = self._bracket(cands, target, start)
        return min((cands[j] for j in i),
                   key=lambda c: abs(math.log(self.gflops(c) / target)))

    def _bracket(self, cands: List[ExpansionState], target: float,
                 start: int) -> List[int]:
        """Indices of the last candidate at or below ``target`` GFLOPs and
        the first above it (FLOPs grow along ``cands``): gallop from
        ``start``, then bisect."""
        n = len(cands)

        def above(i):
            return self.gflops(cands[i]) > target

        step = 1
        if above(start):
            hi = start
            while True:
                lo = start - step
                if lo < 0:
                    lo = -1
                    break
                if not above(lo):
                    break
                hi, step = lo, step * 2
        else:
            lo = start
            while True:
                hi = start + step
                if hi >= n:
                    hi = n
                    break
                if above(hi):
                    break
                lo, step = hi, step * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if above(mid):
                hi = mid
            else:
                lo = mid
        return [j for j in (lo, hi) if 0 <= j < n]

    def _frames(self, state: ExpansionState, stride) -> List[ExpansionState]:
        t = int(state.gamma_t)
        out = []
        for t2 in range(t + 1, 64 * t + 2):
            tau = max(1, int(round(stride(t2 / t))))
            out.append(state.replace(gamma_t=t2, gamma_tau=tau))
        return out

    def _fast(self, state):
        # same duration T * tau, higher frame rate
        return self._frames(state, lambda r: state.gamma_tau / r)

    def _temporal(self, state):
        # x2 frames at x0.75 stride per doubling: longer and denser
        return self._frames(
            state, lambda r: state.gamma_tau * 0.75**math.log2(r))

    def _spatial(self, state):
        base = base_train_crop(self.cfg, state.base)
        crop = crop_size(state, self.cfg)
        d = self.crop_divisor
        first = (crop // d + 1) * d
        return [
            state.replace(gamma_s=c / base)
            for c in range(first, 16 * crop + d, d)
        ]

    def _network(self, state: ExpansionState, factor: str,
                 rounded) -> List[ExpansionState]:
        """Distinct rounded networks along ``factor``, in increasing
        order, each with the factor nearest the paper's multiplier."""
        nominal = AXES[[a for a in AXES if AXES[a][0] == factor][0]][1]
        now = getattr(state, factor)
        current = rounded(now)
        groups: Dict[Tuple, List[float]] = {}
        order = []
        for r in sorted(set(_GRID + [nominal])):
            key = rounded(now * r)
            if key == current:
                continue
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(r)
        out = []
        for key in order:
            r = min(groups[key], key=lambda x: abs(math.log(x / nominal)))
            value = round(now * r, 4)
            if rounded(value) != key:
                value = now * r
            out.append(state.replace(**{factor: value}))
        return out

    def _widths(self, gamma_w: float) -> Tuple[int, ...]:
        from mmx3d.models.backbones.x3d import round_width
        base = self._base_channels
        return (round_width(base, gamma_w), ) + tuple(
            round_width(base * 2**i, gamma_w)
            for i in range(len(self._stage_blocks)))

    def _depth(self, state):
        from mmx3d.models.backbones.x3d import round_repeats
        return self._network(
            state, 'gamma_d',
            lambda g: tuple(round_repeats(b, g) for b in self._stage_blocks))

    def _width(self, state):
        return self._network(state, 'gamma_w', self._widths)

    def _bottleneck(self, state):
        widths = self._widths(state.gamma_w)[1:]
        return self._network(state, 'gamma_b',
                             lambda g: tuple(int(g * c) for c in widths))


def expand(state: ExpansionState, axis: str, cfg: Config,
           c_hat: float = 2.0, crop_divisor: int = 8) -> ExpansionState:
    """One expansion step along ``axis`` (see :class:`Expander`).

    Args:
        state (ExpansionState): The current model.
        axis (str): One of :data:`AXES`.
        cfg (Config): The loaded base config.
        c_hat (float): Target FLOP ratio. Defaults to 2.
        crop_divisor (int): Crops are multiples of it. Defaults to 8.

    Returns:
        ExpansionState: The expanded candidate.
    """
    return Expander(cfg, c_hat, crop_divisor).expand(state, axis)


def parse_axes(names: Sequence[str]) -> List[str]:
    """Validate axis names (``'fast'``, ... or the paper's ``'X-Fast'``).

    Raises:
        ValueError: Naming the unknown axis and the valid ones.
    """
    lookup = dict({a: a for a in AXES},
                  **{v.lower(): k for k, v in AXIS_NAMES.items()})
    out = []
    for name in names:
        key = lookup.get(str(name).lower())
        if key is None:
            raise ValueError(f'unknown axis {name!r}; expected some of '
                             f'{list(AXES)}')
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError('no expansion axis given')
    return out
