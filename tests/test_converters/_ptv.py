# Copyright (c) mmx3d contributors. All rights reserved.
"""Test helpers: PyTorchVideo's ``create_x3d``, random weights and BN
statistics, and mmx3d models of a preset."""
import torch
import torch.nn as nn


def import_create_x3d():
    """``pytorchvideo.models.x3d.create_x3d`` (torchvision stood in for where
    absent, see :func:`mmx3d.benchmark.builders.import_pytorchvideo_x3d`).
    PyTorchVideo is a pinned test dependency: a failed import fails the
    test instead of skipping it."""
    from mmx3d.benchmark.builders import import_pytorchvideo_x3d
    create_x3d = import_pytorchvideo_x3d()
    assert create_x3d is not None, (
        'pytorchvideo.models.x3d does not import; install '
        'requirements/tests.txt')
    return create_x3d


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN affine parameters and running statistics, in place."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
    model.eval()  # MMAction2's X3D.train() returns None
    return model


def build_mmx3d(arch: str, num_classes: int = 400,
                **backbone_kwargs) -> nn.Module:
    """An mmx3d Recognizer3D of a preset (random weights, eval mode)."""
    from mmx3d.registry import MODELS
    backbone = dict(type='X3DBackbone', arch=arch, **backbone_kwargs)
    mid = 630 if arch == 'xl' else 432
    c5 = 280 if arch == 'xl' else 192
    model = MODELS.build(
        dict(
            type='Recognizer3D',
            backbone=backbone,
            cls_head=dict(
                type='X3DClsHead',
                num_classes=num_classes,
                in_channels=c5,
                mid_channels=mid),
            data_preprocessor=dict(
                type='ActionDataPreprocessor', format_shape='NCTHW')))
    return model.eval()


def mmx3d_logits(model: nn.Module, clip: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.cls_head(model.backbone(clip))
