# Copyright (c) mmx3d contributors. All rights reserved.
"""``torch.compile`` through :class:`CompileHook` keeps outputs and
gradients (the fused autograd functions included).

The default run uses the ``eager`` backend (graph capture only, seconds);
set ``MMX3D_TEST_INDUCTOR=1`` to also check the inductor backend, which
compiles C++ code (minutes on a small CPU).
"""
import copy
import os
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from mmx3d.models.backbones.x3d import X3DBackbone
from mmx3d.models.heads.x3d_head import X3DClsHead
from mmx3d.registry import HOOKS

BACKENDS = ['eager'] + (['inductor']
                        if os.environ.get('MMX3D_TEST_INDUCTOR') else [])


class _Tiny(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = X3DBackbone('xs', gamma_d=1.0, fused_ops=True,
                                    channels_last=True)
        self.cls_head = X3DClsHead(5, 192, dropout_ratio=0.0)

    def forward(self, x):
        return self.cls_head(self.backbone(x))


def _double(model):
    # float64: rounding cannot hide a wrong gradient
    return model.double()


@pytest.mark.parametrize('backend', BACKENDS)
def test_compile_hook_keeps_outputs_and_gradients(backend):
    from torch import _dynamo
    from torch._dynamo.utils import counters
    _dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = _Tiny()
    if backend == 'eager':
        model = _double(model)
    compiled = copy.deepcopy(model)
    hook = HOOKS.build(dict(type='CompileHook', backend=backend))
    hook.before_train(SimpleNamespace(model=compiled))
    hook.before_test(SimpleNamespace(model=compiled))  # only once
    dtype = torch.float64 if backend == 'eager' else torch.float32
    x = torch.randn(2, 3, 4, 32, 32, dtype=dtype)
    outs = []
    for m in (model, compiled):
        m.train()
        out = m(x)
        (out * torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(
            out)).sum().backward()
        outs.append(out.detach())
    tol = 1e-9 if backend == 'eager' else 1e-4
    torch.testing.assert_close(outs[1], outs[0], rtol=tol, atol=tol)
    for (n, p1), p2 in zip(model.named_parameters(), compiled.parameters()):
        scale = max(p1.grad.abs().max().item(), 1e-6)
        assert (p1.grad - p2.grad).abs().max().item() <= tol * 10 * scale, n
    # state dict keys are unchanged (checkpoints stay loadable)
    assert list(model.state_dict()) == list(compiled.state_dict())
    # one graph: the fused autograd functions do not break it
    assert not counters['graph_break']


def test_compile_hook_unknown_target():
    hook = HOOKS.build(dict(type='CompileHook', targets=['neck']))
    with pytest.raises(AttributeError, match='neck'):
        hook.before_train(SimpleNamespace(model=_Tiny()))
