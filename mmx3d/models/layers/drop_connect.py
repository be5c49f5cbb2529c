# Copyright (c) mmx3d contributors. All rights reserved.
"""Drop-connect (stochastic depth on a residual branch)."""
import torch
import torch.nn as nn


def drop_connect(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Zero whole samples of a residual branch with probability ``p``.

    Kept samples are divided by ``1 - p`` so the expectation is unchanged.
    Identity when ``training`` is False or ``p == 0``.

    Args:
        x (Tensor): Branch output of shape (N, ...).
        p (float): Drop probability.
        training (bool): Whether the model is training.

    Returns:
        Tensor: The masked branch.
    """
    if not training or p <= 0.0:
        return x
    keep = 1.0 - p
    shape = (x.shape[0], ) + (1, ) * (x.dim() - 1)
    mask = x.new_empty(shape).bernoulli_(keep)
    return x * mask / keep


class DropConnect(nn.Module):
    """Module form of :func:`drop_connect`, active only in ``train()`` mode.

    Unlike PySlowFast's X3D (whose call omits ``training=True`` and therefore
    never drops), this layer really drops in training.

    Args:
        p (float): Drop probability. Defaults to 0.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_connect(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f'p={self.p}'
