# Copyright (c) mmx3d contributors. All rights reserved.
import torch

from mmx3d.models.layers import SubBatchNorm3d, Swish, drop_connect


def test_swish_values_and_gradients_match_autograd():
    x1 = torch.randn(4, 5, 3, requires_grad=True, dtype=torch.float64)
    x2 = x1.detach().clone().requires_grad_()
    y1 = Swish(memory_efficient=True)(x1)
    y2 = x2 * torch.sigmoid(x2)
    torch.testing.assert_close(y1, y2)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad)
    # SiLU's autograd keeps only the input for backward (no sigmoid)
    assert y1.grad_fn.__class__.__name__ == 'SiluBackward0'
    saved = [n for n in dir(y1.grad_fn) if n.startswith('_saved_')]
    assert saved == ['_saved_self']


def test_drop_connect_expectation_and_mask():
    torch.manual_seed(0)
    x = torch.ones(4000, 2, 1, 1, 1)
    y = drop_connect(x, 0.25, training=True)
    per_sample = y.flatten(1)
    # whole samples are either dropped or scaled by 1 / (1 - p)
    values = per_sample.unique()
    assert len(values) == 2
    torch.testing.assert_close(values, torch.tensor([0.0, 1 / 0.75]))
    assert abs(float(y.mean()) - 1.0) < 0.05
    assert torch.equal(drop_connect(x, 0.25, training=False), x)


def test_sub_batch_bn_matches_bn_per_group():
    torch.manual_seed(0)
    groups, gs, c = 3, 4, 5
    x = torch.randn(groups * gs, c, 2, 3, 3) * 3 + 1
    sbn = SubBatchNorm3d(c, group_size=gs)
    torch.nn.init.uniform_(sbn.weight)
    torch.nn.init.uniform_(sbn.bias)
    out = sbn(x)
    for g in range(groups):
        bn = torch.nn.BatchNorm3d(c)
        bn.load_state_dict(
            {k: v for k, v in sbn.state_dict().items()}, strict=True)
        bn.train()
        ref = bn(x[g * gs:(g + 1) * gs])
        torch.testing.assert_close(out[g * gs:(g + 1) * gs], ref,
                                   atol=1e-5, rtol=1e-5)
    # running statistics equal those of BN over the whole batch
    full = torch.nn.BatchNorm3d(c)
    full.train()
    full(x)
    torch.testing.assert_close(sbn.running_mean, full.running_mean)
    torch.testing.assert_close(sbn.running_var, full.running_var)
    # eval uses the running statistics
    sbn.eval()
    full.eval()
    full.weight.data.copy_(sbn.weight.data)
    full.bias.data.copy_(sbn.bias.data)
    torch.testing.assert_close(sbn(x), full(x))


def test_sub_batch_bn_gradients_match_per_group_bn():
    torch.manual_seed(1)
    x1 = torch.randn(8, 3, 2, 2, 2, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    sbn = SubBatchNorm3d(3, group_size=4)
    out = sbn(x1)
    bn = torch.nn.BatchNorm3d(3)
    ref = torch.cat([bn(x2[:4]), bn(x2[4:])])
    g = torch.randn_like(out)
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-4)


def test_sub_batch_bn_from_norm_cfg():
    from mmx3d.models import X3DBackbone
    m = X3DBackbone(arch='s', gamma_d=1.0, stage_blocks=(1, 1, 1, 1),
                    norm_cfg=dict(type='SubBatchNorm3d', group_size=2))
    assert isinstance(m.stem.bn, SubBatchNorm3d)
    out = m(torch.randn(4, 3, 2, 32, 32))
    assert out.shape == (4, 192, 2, 1, 1)
