# Copyright (c) mmx3d contributors. All rights reserved.
"""MMAction2's data preprocessor with a channels-last-3D output."""
from typing import Tuple

import torch
from mmaction.models.data_preprocessors import ActionDataPreprocessor
from mmaction.utils import SampleList

from mmx3d.registry import MODELS


def to_channels_last_3d(x: torch.Tensor) -> torch.Tensor:
    """Lay out a (..., C, T, H, W) batch as ``torch.channels_last_3d``.

    A 6-D (N, views, C, T, H, W) batch is laid out so that the recognizer's
    ``view(-1, C, T, H, W)`` yields a channels-last-3D tensor without a
    copy.

    Args:
        x (Tensor): A 5-D or 6-D batch; other shapes are returned as is.

    Returns:
        Tensor: The same values in channels-last-3D layout.
    """
    if x.dim() == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    if x.dim() == 6:
        flat = x.flatten(0, 1).contiguous(
            memory_format=torch.channels_last_3d)
        return flat.view(x.shape)
    return x


@MODELS.register_module()
class X3DDataPreprocessor(ActionDataPreprocessor):
    """:class:`ActionDataPreprocessor` that can hand the model its clips in
    ``torch.channels_last_3d`` memory format.

    With ``channels_last=True`` the normalised (and, in training, blended)
    batch is laid out channels-last, so that an
    :class:`~mmx3d.models.backbones.X3DBackbone` with ``channels_last=True``
    runs in that format end to end without converting its input. Values are
    unchanged. On CPU, oneDNN's channel-wise 3D convolutions are several
    times faster in this format.

    Args:
        channels_last (bool): Output channels-last-3D batches.
            Defaults to False.
        **kwargs: Arguments of :class:`ActionDataPreprocessor` (``mean``,
            ``std``, ``to_rgb``, ``blending``, ``format_shape``, ...).
    """

    def __init__(self, channels_last: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.channels_last = channels_last

    def preprocess(self,
                   inputs,
                   data_samples: SampleList,
                   training: bool = False) -> Tuple:
        batch_inputs, data_samples = super().preprocess(
            inputs, data_samples, training)
        if self.channels_last:
            batch_inputs = to_channels_last_3d(batch_inputs)
        return batch_inputs, data_samples
