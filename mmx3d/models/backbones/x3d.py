# Copyright (c) mmx3d contributors. All rights reserved.
"""The X3D backbone family (Feichtenhofer, CVPR 2020), exactly as published."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmaction.utils import ConfigType
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init, kaiming_init
from torch.nn.modules.batchnorm import _BatchNorm

from mmx3d.registry import MODELS

from ..layers import DropConnect, SEModule, Swish
from ..utils.fused_ops import (
    bn_se_swish_conv,
    can_fuse_block,
    can_fuse_channelwise_conv,
    channelwise_conv,
    conv_bn_relu_channelwise_conv,
    keep_memory_format,
)


def round_width(width: float,
                multiplier: float,
                min_width: int = 8,
                divisor: int = 8) -> int:
    """Scale a width and round it to a multiple of ``divisor``.

    This is the rounding of the paper and of PySlowFast before 2021
    (``divisor=8`` everywhere), which reproduces the published X3D-XL.

    Args:
        width (float): Base width.
        multiplier (float): Expansion factor.
        min_width (int): Lower bound. Defaults to 8.
        divisor (int): Rounding divisor. Defaults to 8.

    Returns:
        int: The rounded width.
    """
    width *= multiplier
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


def round_repeats(repeats: int, multiplier: float) -> int:
    """Depth rounding: ``ceil(multiplier * repeats)``."""
    if not multiplier:
        return repeats
    return int(math.ceil(multiplier * repeats))


class X3DBottleneck(nn.Module):
    """The X3D residual block.

    ::

        x ─┬─ conv_a 1x1x1 ─ BN ─ ReLU ─ conv_b 3x3x3 channel-wise (1,s,s)
           │   ─ BN ─ [SE] ─ Swish ─ conv_c 1x1x1 ─ BN(γ=0) ─ DropConnect ─┐
           └─ identity | (conv 1x1x1 stride 1,s,s [─ BN]) ───────────(+)─ ReLU

    Args:
        in_channels (int): Input channels.
        inner_channels (int): Bottleneck (channel-wise conv) channels.
        out_channels (int): Output channels.
        spatial_stride (int): Spatial stride of ``conv_b``. Defaults to 1.
        dilation (int): Spatial dilation of ``conv_b``. Defaults to 1.
        se_ratio (float, optional): SE bottleneck ratio; None disables SE.
            Defaults to None.
        downsample (bool): Use a projection shortcut. Defaults to False.
        shortcut_bn (bool): BN after the projection shortcut's conv.
            PyTorchVideo's X3D omits it where the shortcut keeps the width
            (res2). Defaults to True.
        drop_connect_rate (float): Drop-connect probability. Defaults to 0.
        use_swish (bool): Swish after SE (ReLU if False). Defaults to True.
        memory_efficient_swish (bool): See :class:`Swish`. Defaults to True.
        conv_cfg (dict): Convolution config.
            Defaults to ``dict(type='Conv3d')``.
        norm_cfg (dict): Normalisation config.
            Defaults to ``dict(type='BN3d')``.
        with_cp (bool): Gradient checkpointing of the block. Defaults to False.
        fused_ops (bool): In training, run conv_a-BN-ReLU-conv_b and
            BN-SE-Swish-conv_c as the memory-saving autograd functions of
            :mod:`mmx3d.models.utils.fused_ops` (same values and gradients,
            fewer stored activations, faster on CPU). Blocks with modules
            they do not support keep the plain path. Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 inner_channels: int,
                 out_channels: int,
                 spatial_stride: int = 1,
                 dilation: int = 1,
                 se_ratio: Optional[float] = None,
                 downsample: bool = False,
                 shortcut_bn: bool = True,
                 drop_connect_rate: float = 0.0,
                 use_swish: bool = True,
                 memory_efficient_swish: bool = True,
                 conv_cfg: ConfigType = dict(type='Conv3d'),
                 norm_cfg: ConfigType = dict(type='BN3d'),
                 with_cp: bool = False,
                 fused_ops: bool = False) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.fused_ops = fused_ops
        s = spatial_stride
        self.conv_a = build_conv_layer(
            conv_cfg, in_channels, inner_channels, 1, bias=False)
        self.bn_a = build_norm_layer(norm_cfg, inner_channels)[1]
        self.conv_b = build_conv_layer(
            conv_cfg,
            inner_channels,
            inner_channels, (3, 3, 3),
            stride=(1, s, s),
            padding=(1, dilation, dilation),
            dilation=(1, dilation, dilation),
            groups=inner_channels,
            bias=False)
        self.bn_b = build_norm_layer(norm_cfg, inner_channels)[1]
        self.se = None
        if se_ratio is not None:
            self.se = SEModule(inner_channels,
                               round_width(inner_channels, se_ratio))
        self.act_b = Swish(memory_efficient_swish) if use_swish else nn.ReLU(
            inplace=True)
        self.conv_c = build_conv_layer(
            conv_cfg, inner_channels, out_channels, 1, bias=False)
        self.bn_c = build_norm_layer(norm_cfg, out_channels)[1]
        self.bn_c.zero_init = True
        self.relu = nn.ReLU(inplace=True)
        self.drop_connect = DropConnect(drop_connect_rate)
        self.downsample = None
        if downsample:
            layers = [
                build_conv_layer(
                    conv_cfg,
                    in_channels,
                    out_channels,
                    1,
                    stride=(1, s, s),
                    bias=False)
            ]
            if shortcut_bn:
                layers.append(build_norm_layer(norm_cfg, out_channels)[1])
            self.downsample = nn.Sequential(*layers)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        if (self.fused_ops and torch.is_grad_enabled()
                and can_fuse_block(self)):
            out = conv_bn_relu_channelwise_conv(x, self.conv_a, self.bn_a,
                                                self.conv_b)
            out = bn_se_swish_conv(out, self.bn_b, self.se, self.conv_c)
            return self.drop_connect(self.bn_c(out))
        out = keep_memory_format(self.conv_a(x), x)
        out = self.relu(self.bn_a(out))
        out = self.bn_b(self.conv_b(out))
        if self.se is not None:
            out = self.se(out)
        out = self.act_b(out)
        out = self.bn_c(keep_memory_format(self.conv_c(out), out))
        return self.drop_connect(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:

        def _inner(x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self._branch(x)
            if self.fused_ops or not torch.is_grad_enabled():
                # a fresh tensor that no backward function needs
                return out.add_(identity)
            return out + identity

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(_inner, x, use_reentrant=False)
        else:
            out = _inner(x)
        return self.relu(out)


@MODELS.register_module()
class X3DBackbone(BaseModule):
    """X3D backbone: the X2D base network expanded along width and depth.

    The variant table :attr:`arch_settings` is the single place where the five
    published variants are defined. Any point in between is reachable by
    passing the expansion factors directly (they override the preset).

    ::

        clip (N,3,T,H,W) ─ stem: conv_xy 1x3x3/2 ─ conv_t 5x1x1 channel-wise
            ─ BN ─ ReLU ─ res2 ─ res3 ─ res4 ─ res5 ─> (N,C5,T,H/32,W/32)

    Temporal resolution is never reduced, every stage halves H and W.

    Args:
        arch (str): One of ``'xs'``, ``'s'``, ``'m'``, ``'l'``, ``'xl'``.
            XS/S/M share the network and differ only in their input.
            Defaults to ``'s'``.
        gamma_w (float, optional): Width expansion factor (stem and stages).
            Defaults to the preset.
        gamma_b (float, optional): Bottleneck width / stage width. Defaults to
            the preset (2.25).
        gamma_d (float, optional): Depth expansion factor. Defaults to the
            preset.
        base_channels (int): Base stem/res2 width of X2D. Defaults to 12.
        stage_blocks (Sequence[int]): Base blocks per stage.
            Defaults to (1, 2, 5, 3).
        se_ratio (float, optional): SE ratio; None disables SE.
            Defaults to 1/16.
        se_every (int): SE in blocks 0, se_every, 2*se_every, ... of each
            stage. Defaults to 2.
        use_swish (bool): Swish after SE (else ReLU). Defaults to True.
        memory_efficient_swish (bool): Kept for config compatibility:
            :class:`~mmx3d.models.layers.Swish` runs the SiLU kernels, which
            store only the input either way. Defaults to True.
        drop_connect_rate (float): Base drop-connect rate; stage k (0..3)
            uses ``rate * (k + 2) / 5``. Defaults to 0.
        out_indices (Sequence[int]): Stages to return (0 = res2 ... 3 = res5).
            Defaults to (3, ).
        res5_dilation (int): 1 keeps res5 at stride 32; 2 gives res5 spatial
            stride 1 with dilation 2 (feature stride 16, the detection
            reference's 2x resolution). Defaults to 1.
        frozen_stages (int): Stages to freeze: -1 none, 0 the stem, k the
            stem and res2..res(k+1). Defaults to -1.
        norm_eval (bool): Keep BN layers in eval mode during training.
            Defaults to False.
        with_cp (bool): Gradient checkpointing per block. Defaults to False.
        fused_ops (bool): Memory-saving fused training operations in every
            block, see :class:`X3DBottleneck`, and the faster input gradient
            of the stem's channel-wise temporal conv
            (:func:`~mmx3d.models.utils.fused_ops.channelwise_conv`).
            Defaults to False.
        conv_cfg (dict): Convolution config.
            Defaults to ``dict(type='Conv3d')``.
        norm_cfg (dict): Normalisation config, e.g. ``dict(type='BN3d')``,
            ``dict(type='SyncBN')`` or
            ``dict(type='SubBatchNorm3d', group_size=8)``.
            Defaults to ``dict(type='BN3d', requires_grad=True)``.
        channels_last (bool): Run in ``torch.channels_last_3d`` memory
            format. Defaults to False.
        same_width_shortcut_bn (bool): BN on projection shortcuts whose
            input and output widths are equal (res2 of every preset), as in
            the paper and PySlowFast. False builds PyTorchVideo's network,
            which has no BN there: use it to fine-tune (or run precise BN
            on) a PyTorchVideo checkpoint, whose res2 shortcut BN mmx3d
            otherwise sets to identity, which is exact in eval mode only.
            Defaults to True.
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to None (He init, zero-init last BN of each block).
    """

    #: preset -> (gamma_w, gamma_b, gamma_d)
    arch_settings = {
        'xs': (2.0, 2.25, 2.2),
        's': (2.0, 2.25, 2.2),
        'm': (2.0, 2.25, 2.2),
        'l': (2.0, 2.25, 5.0),
        'xl': (2.9, 2.25, 5.0),
    }

    def __init__(self,
                 arch: str = 's',
                 gamma_w: Optional[float] = None,
                 gamma_b: Optional[float] = None,
                 gamma_d: Optional[float] = None,
                 base_channels: int = 12,
                 stage_blocks: Sequence[int] = (1, 2, 5, 3),
                 se_ratio: Optional[float] = 1 / 16,
                 se_every: int = 2,
                 use_swish: bool = True,
                 memory_efficient_swish: bool = True,
                 drop_connect_rate: float = 0.0,
                 out_indices: Sequence[int] = (3, ),
                 res5_dilation: int = 1,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 fused_ops: bool = False,
                 conv_cfg: ConfigType = dict(type='Conv3d'),
                 norm_cfg: ConfigType = dict(type='BN3d', requires_grad=True),
                 channels_last: bool = False,
                 same_width_shortcut_bn: bool = True,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in self.arch_settings:
            raise KeyError(f'X3DBackbone: arch must be one of '
                           f'{sorted(self.arch_settings)}, got {arch!r}')
        preset = self.arch_settings[arch]
        self.arch = arch
        self.gamma_w = preset[0] if gamma_w is None else gamma_w
        self.gamma_b = preset[1] if gamma_b is None else gamma_b
        self.gamma_d = preset[2] if gamma_d is None else gamma_d
        self.out_indices = tuple(out_indices)
        if not all(0 <= i < 4 for i in self.out_indices):
            raise ValueError(f'out_indices must be within 0..3, got '
                             f'{out_indices}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.channels_last = channels_last
        self.fused_ops = fused_ops
        self.drop_connect_rate = drop_connect_rate

        self.stem_channels = round_width(base_channels, self.gamma_w)
        self.stage_blocks = [
            round_repeats(b, self.gamma_d) for b in stage_blocks
        ]
        base = [base_channels * 2**i for i in range(len(stage_blocks))]
        self.stage_channels = [round_width(c, self.gamma_w) for c in base]
        # the bottleneck width is not rounded (54 for a 24-wide res2)
        self.stage_inner_channels = [
            int(self.gamma_b * c) for c in self.stage_channels
        ]
        # kept for heads: the channels of res5 and of conv5 (= res5 inner)
        self.feat_dim = self.stage_channels[-1]
        self.conv5_channels = self.stage_inner_channels[-1]

        # stem: spatial conv then channel-wise temporal conv
        self.stem = nn.Module()
        self.stem.conv_xy = build_conv_layer(
            conv_cfg,
            3,
            self.stem_channels, (1, 3, 3),
            stride=(1, 2, 2),
            padding=(0, 1, 1),
            bias=False)
        self.stem.conv_t = build_conv_layer(
            conv_cfg,
            self.stem_channels,
            self.stem_channels, (5, 1, 1),
            padding=(2, 0, 0),
            groups=self.stem_channels,
            bias=False)
        self.stem.bn = build_norm_layer(norm_cfg, self.stem_channels)[1]
        self.stem.relu = nn.ReLU(inplace=True)

        self.res_layers = []
        in_c = self.stem_channels
        num_stages = len(self.stage_blocks)
        for k, (n, out_c, inner_c) in enumerate(
                zip(self.stage_blocks, self.stage_channels,
                    self.stage_inner_channels)):
            dilation = res5_dilation if k == num_stages - 1 else 1
            stride = 1 if dilation > 1 else 2
            p = drop_connect_rate * (k + 2) / (num_stages + 1)
            blocks = []
            for i in range(n):
                blocks.append(
                    X3DBottleneck(
                        in_c if i == 0 else out_c,
                        inner_c,
                        out_c,
                        spatial_stride=stride if i == 0 else 1,
                        dilation=dilation,
                        se_ratio=se_ratio if i % se_every == 0 else None,
                        downsample=(i == 0),
                        shortcut_bn=(same_width_shortcut_bn
                                     or (in_c if i == 0 else out_c) != out_c),
                        drop_connect_rate=p,
                        use_swish=use_swish,
                        memory_efficient_swish=memory_efficient_swish,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        with_cp=with_cp,
                        fused_ops=fused_ops))
            name = f'res{k + 2}'
            self.add_module(name, nn.Sequential(*blocks))
            self.res_layers.append(name)
            in_c = out_c
        self._freeze_stages()

    def init_weights(self) -> None:
        """He init for convs, BN to (1, 0), last BN of each block to 0.

        A ``Pretrained`` ``init_cfg`` loads weights instead (any checkpoint
        format :mod:`mmx3d.converters` understands).
        """
        if self.init_cfg is not None:
            super().init_weights()
            return
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                kaiming_init(m, mode='fan_out', nonlinearity='relu',
                             distribution='normal')
            elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                constant_init(m, 0 if getattr(m, 'zero_init', False) else 1,
                              bias=0)

    def forward(self, x: torch.Tensor
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """Forward a batch of clips.

        Args:
            x (Tensor): Clips of shape (N, 3, T, H, W).

        Returns:
            Tensor or tuple[Tensor]: The feature map of the single stage in
            ``out_indices``, else a tuple in ``out_indices`` order.
        """
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        x = self.stem.conv_xy(x)
        if (self.fused_ops and torch.is_grad_enabled() and x.requires_grad
                and can_fuse_channelwise_conv(self.stem.conv_t)):
            x = keep_memory_format(channelwise_conv(x, self.stem.conv_t), x)
        else:
            x = keep_memory_format(self.stem.conv_t(x), x)
        x = self.stem.relu(self.stem.bn(x))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        if len(outs) == 1:
            return outs[0]
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            self.stem.eval()
            for p in self.stem.parameters():
                p.requires_grad = False
        for i in range(self.frozen_stages):
            m = getattr(self, self.res_layers[i])
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'X3DBackbone':
        """Set train mode, keeping frozen stages and (``norm_eval``) BNs in
        eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
