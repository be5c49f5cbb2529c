# Copyright (c) mmx3d contributors. All rights reserved.
"""Independent checks of BN running statistics (precise BN tests)."""
from collections import defaultdict

import torch
from torch.nn.modules.batchnorm import _BatchNorm


def record_bn_inputs(model):
    """Hooks that keep every BN's inputs (float64) while it runs in training
    mode. Returns ``(inputs by module name, handles)``."""
    seen = defaultdict(list)
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, _BatchNorm):

            def hook(mod, args, name=name):
                if mod.training:
                    seen[name].append(args[0].detach().double())

            handles.append(m.register_forward_pre_hook(hook))
    return seen, handles


def assert_exact_averages(model, seen, num_batches, names=None):
    """Every BN in ``names`` (default: all) has as running statistics the
    average over ``num_batches`` recorded inputs of the batch mean and of
    the unbiased batch variance, and counts ``num_batches`` batches."""
    bns = {n: m for n, m in model.named_modules()
           if isinstance(m, _BatchNorm)}
    for name in names if names is not None else bns:
        bn, xs = bns[name], seen[name]
        assert len(xs) == num_batches, f'{name} ran {len(xs)} times'
        dims = [0] + list(range(2, xs[0].dim()))
        means = torch.stack([x.mean(dims) for x in xs])
        variances = torch.stack([x.var(dims, unbiased=True) for x in xs])
        torch.testing.assert_close(bn.running_mean.double(), means.mean(0),
                                   rtol=1e-4, atol=1e-5, msg=name)
        torch.testing.assert_close(bn.running_var.double(),
                                   variances.mean(0), rtol=1e-4, atol=1e-5,
                                   msg=name)
        assert int(bn.num_batches_tracked) == num_batches, name


def bn_state(model):
    """Clones of every BN's running statistics, by module name."""
    return {
        name: [t.clone() for t in (m.running_mean, m.running_var,
                                   m.num_batches_tracked)]
        for name, m in model.named_modules() if isinstance(m, _BatchNorm)
    }
