# Copyright (c) mmx3d contributors. All rights reserved.
"""Memory-saving Swish activation."""
import torch
import torch.nn as nn


class _SwishFunction(torch.autograd.Function):
    """Swish whose backward recomputes the sigmoid.

    Autograd of ``x * torch.sigmoid(x)`` keeps both ``x`` and ``sigmoid(x)``
    alive until backward. This function keeps only ``x`` and recomputes the
    sigmoid, halving the activation memory of every Swish in X3D.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        (x, ) = ctx.saved_tensors
        sig = torch.sigmoid(x)
        return grad_output * (sig * (1 + x * (1 - sig)))


class Swish(nn.Module):
    """Swish ``x * sigmoid(x)``.

    Args:
        memory_efficient (bool): Use the recomputing autograd function in
            training (same values and gradients, less memory). In eval mode or
            under ``torch.no_grad`` the plain expression is used, which
            ``torch.compile``/tracing handle best. Defaults to True.
    """

    def __init__(self, memory_efficient: bool = True) -> None:
        super().__init__()
        self.memory_efficient = memory_efficient

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.memory_efficient and x.requires_grad:
            return _SwishFunction.apply(x)
        return x * torch.sigmoid(x)
