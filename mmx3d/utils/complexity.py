# Copyright (c) mmx3d contributors. All rights reserved.
"""Parameter and FLOP counts as the X3D paper reports them."""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def count_params(model: nn.Module, with_bn: bool = True) -> int:
    """Number of parameters, optionally without BN affine parameters."""
    total = sum(p.numel() for p in model.parameters())
    if not with_bn:
        total -= sum(p.numel() for m in model.modules()
                     if isinstance(m, _BatchNorm) for p in m.parameters(
                         recurse=False))
    return total


@torch.no_grad()
def count_flops(model: nn.Module, inputs: torch.Tensor) -> int:
    """Multiply-adds of every conv and linear layer for one forward.

    This is the paper's FLOP convention (BN, activations, pooling and the
    residual additions are not counted). MMEngine's analyser counts BN and
    element-wise ops too, which is what PyTorchVideo's published figures do.

    Args:
        model (nn.Module): Module to run (put in eval mode by the caller).
        inputs (Tensor): Its input; FLOPs are for the whole batch.

    Returns:
        int: Multiply-adds.
    """
    total = [0]

    def conv_hook(m, inp, out):
        k = 1
        for s in m.kernel_size:
            k *= s
        total[0] += out.numel() * k * (m.in_channels // m.groups)

    def linear_hook(m, inp, out):
        total[0] += out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        model(inputs)
    finally:
        for h in handles:
            h.remove()
    return total[0]


class _BackboneHead(nn.Module):

    def __init__(self, recognizer: nn.Module) -> None:
        super().__init__()
        self.recognizer = recognizer

    def forward(self, x):
        feat = self.recognizer.backbone(x)
        head = getattr(self.recognizer, 'cls_head', None)
        return head(feat) if head is not None else feat


def recognizer_complexity(recognizer: nn.Module,
                          shape: Sequence[int]) -> Dict[str, float]:
    """Parameters and GFLOPs of a recognizer for one clip.

    Args:
        recognizer (nn.Module): A model with ``backbone`` (and ``cls_head``).
        shape (Sequence[int]): ``(T, H, W)`` of the clip.

    Returns:
        dict: ``params`` (with BN), ``params_no_bn``, ``gflops``.
    """
    t, h, w = shape
    was_training = recognizer.training
    recognizer.eval()
    wrapped = _BackboneHead(recognizer)
    x = torch.zeros(1, 3, t, h, w,
                    device=next(recognizer.parameters()).device)
    flops = count_flops(wrapped, x)
    recognizer.train(was_training)
    modules = [recognizer.backbone]
    if getattr(recognizer, 'cls_head', None) is not None:
        modules.append(recognizer.cls_head)
    return dict(
        params=sum(count_params(m) for m in modules),
        params_no_bn=sum(count_params(m, with_bn=False) for m in modules),
        gflops=flops / 1e9)


def clip_shape_from_cfg(cfg, split: str = 'train') -> Tuple[int, int, int]:
    """The ``(T, H, W)`` of one clip of a config's pipeline.

    Uses ``clip_len`` of ``SampleFrames``/``PySlowFastSampleFrames`` and the
    crop of ``RandomCrop``/
    ``RandomResizedCrop`` (train), ``CenterCrop``/``ThreeCrop`` (val/test).
    """
    pipeline = cfg[f'{split}_dataloader']['dataset']['pipeline']
    t = size = None
    for step in pipeline:
        typ = step['type']
        if typ.endswith('SampleFrames'):  # and PySlowFastSampleFrames
            t = step['clip_len']
        elif typ in ('RandomCrop', 'RandomResizedCrop'):
            size = step.get('size', step.get('crop_size'))
        elif typ in ('CenterCrop', 'ThreeCrop', 'TenCrop'):
            size = step['crop_size']
        elif typ == 'Resize' and step.get('keep_ratio', True) is False:
            size = step['scale']
    if t is None or size is None:
        raise ValueError(f'cannot infer the clip shape of the {split} '
                         'pipeline (expected SampleFrames and a crop)')
    if isinstance(size, int):
        size = (size, size)
    return int(t), int(size[0]), int(size[1])


def views_from_cfg(cfg, split: str = 'test') -> int:
    """Views per video of a test pipeline: clips x spatial crops."""
    pipeline = cfg[f'{split}_dataloader']['dataset']['pipeline']
    clips, crops = 1, 1
    for step in pipeline:
        if step['type'].endswith('SampleFrames'):
            clips = step.get('num_clips', 1)
        elif step['type'] == 'ThreeCrop':
            crops = 3
        elif step['type'] == 'TenCrop':
            crops = 10
    return clips * crops
