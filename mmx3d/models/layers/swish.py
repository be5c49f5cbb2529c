# Copyright (c) mmx3d contributors. All rights reserved.
"""Swish (SiLU) activation."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Swish(nn.Module):
    """Swish ``x * sigmoid(x)``, computed by PyTorch's SiLU kernels.

    ``F.silu`` runs as one vectorised pass and its autograd keeps only the
    input (the sigmoid is recomputed in the backward kernel), so this is
    also the memory-saving form: MMAction2's ``x * torch.sigmoid(x)`` keeps
    the input and the sigmoid and runs three passes forward and four
    backward. ONNX export writes ``Sigmoid`` and ``Mul``.

    Args:
        memory_efficient (bool): Kept for config compatibility: the SiLU
            kernels store only the input either way. Defaults to True.
    """

    def __init__(self, memory_efficient: bool = True) -> None:
        super().__init__()
        self.memory_efficient = memory_efficient

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x)
