# Copyright (c) mmx3d contributors. All rights reserved.
import pytest
import torch

from mmx3d.models import X3DBackbone, X3DClsHead, round_width


def _tiny(**kwargs):
    # one block per stage keeps it fast while exercising every code path
    cfg = dict(arch='s', gamma_d=1.0, stage_blocks=(1, 2, 1, 1))
    cfg.update(kwargs)
    return X3DBackbone(**cfg)


def test_round_width_matches_reference_table():
    assert [round_width(c, 2.0) for c in (12, 24, 48, 96)] == [24, 48, 96,
                                                               192]
    assert [round_width(c, 2.9) for c in (12, 24, 48, 96)] == [32, 72, 136,
                                                               280]
    # SE widths (1/16 of the bottleneck width, divisor 8)
    assert [round_width(c, 1 / 16) for c in (54, 108, 216, 432)] == [8, 8, 16,
                                                                    32]
    assert [round_width(c, 1 / 16) for c in (72, 162, 306, 630)] == [8, 16,
                                                                    24, 40]


@pytest.mark.parametrize('arch,blocks,widths,inner', [
    ('s', [3, 5, 11, 7], [24, 48, 96, 192], [54, 108, 216, 432]),
    ('l', [5, 10, 25, 15], [24, 48, 96, 192], [54, 108, 216, 432]),
    ('xl', [5, 10, 25, 15], [32, 72, 136, 280], [72, 162, 306, 630]),
])
def test_variant_table(arch, blocks, widths, inner):
    m = X3DBackbone(arch=arch)
    assert m.stage_blocks == blocks
    assert m.stage_channels == widths
    assert m.stage_inner_channels == inner
    assert m.stem_channels == widths[0]
    assert [len(getattr(m, n)) for n in m.res_layers] == blocks


def test_free_expansion_factors_override_preset():
    m = X3DBackbone(arch='s', gamma_w=1.0, gamma_d=1.0, gamma_b=1.5)
    assert m.stage_channels == [16, 24, 48, 96]  # 12 -> 16 (rounding up)
    assert m.stage_blocks == [1, 2, 5, 3]
    assert m.stage_inner_channels == [24, 36, 72, 144]
    with pytest.raises(KeyError, match='arch must be one of'):
        X3DBackbone(arch='xxl')


def test_se_in_even_blocks_only():
    m = X3DBackbone(arch='s')
    for name in m.res_layers:
        for i, block in enumerate(getattr(m, name)):
            assert (block.se is not None) == (i % 2 == 0), (name, i)
            # swish after SE only: conv_a is followed by ReLU
            assert type(block.act_b).__name__ == 'Swish'


def test_block_structure():
    m = X3DBackbone(arch='s')
    b0 = m.res2[0]
    assert b0.conv_b.groups == b0.conv_b.in_channels == 54
    assert b0.conv_b.kernel_size == (3, 3, 3)
    assert b0.conv_b.stride == (1, 2, 2)
    assert b0.downsample is not None  # res2 too, although 24 -> 24
    assert b0.downsample[0].stride == (1, 2, 2)
    assert m.res2[1].downsample is None
    assert m.stem.conv_xy.kernel_size == (1, 3, 3)
    assert m.stem.conv_t.kernel_size == (5, 1, 1)
    assert m.stem.conv_t.groups == 24
    assert b0.se.fc1.bias is not None and b0.se.fc1.out_channels == 8


def test_last_bn_zero_init_and_shapes():
    m = _tiny()
    m.init_weights()
    for name in m.res_layers:
        for block in getattr(m, name):
            assert torch.all(block.bn_c.weight == 0)
            assert torch.all(block.bn_a.weight == 1)
    x = torch.randn(2, 3, 4, 64, 64)
    out = m(x)
    assert out.shape == (2, 192, 4, 2, 2)
    m2 = _tiny(out_indices=(0, 1, 2, 3))
    outs = m2(x)
    assert [o.shape[1:] for o in outs] == [(24, 4, 16, 16), (48, 4, 8, 8),
                                           (96, 4, 4, 4), (192, 4, 2, 2)]


def test_res5_dilation_doubles_resolution():
    m = _tiny(res5_dilation=2)
    out = m(torch.randn(1, 3, 2, 64, 64))
    assert out.shape == (1, 192, 2, 4, 4)
    assert m.res5[0].conv_b.dilation == (1, 2, 2)


def test_drop_connect_active_in_training_only():
    torch.manual_seed(0)
    m = _tiny(drop_connect_rate=0.5)
    # non-zero last BN so that the residual branch matters
    for mod in m.modules():
        if hasattr(mod, 'zero_init'):
            torch.nn.init.constant_(mod.weight, 1.0)
    ps = [getattr(m, n)[0].drop_connect.p for n in m.res_layers]
    assert ps == pytest.approx([0.5 * (k + 2) / 5 for k in range(4)])
    x = torch.randn(4, 3, 2, 32, 32)
    m.train()
    with torch.no_grad():
        a, b = m(x), m(x)
    assert not torch.allclose(a, b)
    m.eval()
    with torch.no_grad():
        c, d = m(x), m(x)
    assert torch.equal(c, d)


def test_with_cp_same_outputs_and_gradients():
    torch.manual_seed(0)
    m1 = _tiny()
    m2 = _tiny(with_cp=True)
    m2.load_state_dict(m1.state_dict())
    for mod in list(m1.modules()) + list(m2.modules()):
        if hasattr(mod, 'zero_init'):
            torch.nn.init.constant_(mod.weight, 0.5)
    x1 = torch.randn(2, 3, 2, 32, 32, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    o1, o2 = m1(x1), m2(x2)
    torch.testing.assert_close(o1, o2)
    o1.square().sum().backward()
    o2.square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    for (n, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, msg=n)


def test_frozen_stages_get_no_gradients():
    m = _tiny(frozen_stages=2)
    m.train()
    assert not m.stem.bn.training and not m.res3[0].bn_a.training
    assert m.res4[0].bn_a.training
    out = m(torch.randn(2, 3, 2, 32, 32))
    out.sum().backward()
    for name, p in m.named_parameters():
        frozen = name.startswith(('stem.', 'res2.', 'res3.'))
        assert p.requires_grad != frozen, name
        if frozen:
            assert p.grad is None, name
        else:
            assert p.grad is not None, name


def test_norm_eval_keeps_bn_in_eval():
    m = _tiny(norm_eval=True)
    m.train()
    assert all(not mod.training for mod in m.modules()
               if isinstance(mod, torch.nn.BatchNorm3d))
    assert m.training


def test_channels_last_same_outputs():
    torch.manual_seed(0)
    m1 = _tiny().eval()
    m2 = _tiny(channels_last=True).eval()
    m2.load_state_dict(m1.state_dict())
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(m1(x), m2(x), atol=1e-5, rtol=1e-4)


def test_head_any_crop_and_no_lin5_bias():
    head = X3DClsHead(num_classes=7, in_channels=192)
    head.init_weights()
    assert head.lin5.bias is None
    assert head.conv5.out_channels == 432 and head.lin5.out_features == 2048
    for hw in [(2, 2), (5, 7)]:
        out = head(torch.randn(3, 192, 4, *hw))
        assert out.shape == (3, 7)
    assert abs(float(head.fc_cls.weight.std()) - 0.01) < 0.002
