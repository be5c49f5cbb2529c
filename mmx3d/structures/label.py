# Copyright (c) mmx3d contributors. All rights reserved.
"""Label helpers shared by the multi-label head and the Charades metric."""
import torch


def to_multi_hot(label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """A float multi-hot vector from a multi-hot or class-index label.

    Args:
        label (Tensor): Float multi-hot (num_classes,); integer multi-hot
            (num_classes,) with values in {0, 1}; or integer class indices.
        num_classes (int): Number of classes.

    Returns:
        Tensor: float32 (num_classes,) on the label's device.
    """
    label = torch.as_tensor(label).reshape(-1)
    if label.is_floating_point():
        if label.numel() != num_classes:
            raise ValueError(f'a float (multi-hot) label must have '
                             f'{num_classes} entries, got {label.numel()}')
        return label.float()
    if label.numel() == num_classes and bool(((label == 0) |
                                              (label == 1)).all()):
        return label.float()
    if label.numel() and (label.min() < 0 or label.max() >= num_classes):
        raise ValueError(f'class index out of range [0, {num_classes}) in '
                         f'label {label.tolist()}')
    out = torch.zeros(num_classes, device=label.device)
    out[label.long()] = 1
    return out
