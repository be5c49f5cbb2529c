# Copyright (c) mmx3d contributors. All rights reserved.
"""PySlowFast checkpoints <-> mmx3d, built from the reference key table."""
from collections import OrderedDict

import pytest
import torch
from _ptv import build_mmx3d

from mmx3d.converters import (
    convert_checkpoint,
    detect_format,
    export_pyslowfast,
    save_checkpoint,
)

# X3D-S as published: stem 24; (out, inner, SE) widths and blocks per stage
STAGES = {2: (24, 54, 8, 3), 3: (48, 108, 8, 5), 4: (96, 216, 16, 11),
          5: (192, 432, 32, 7)}


def _bn(sd, name, c, g):
    sd[f'{name}.weight'] = torch.rand(c, generator=g) + 0.5
    sd[f'{name}.bias'] = torch.randn(c, generator=g)
    sd[f'{name}.running_mean'] = torch.randn(c, generator=g)
    sd[f'{name}.running_var'] = torch.rand(c, generator=g) + 0.5
    sd[f'{name}.num_batches_tracked'] = torch.tensor(123)


def pyslowfast_x3d_s(num_classes=400, seed=0):
    """A random PySlowFast X3D-S ``model_state``, written from the table."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    sd = OrderedDict()
    sd['s1.pathway0_stem.conv_xy.weight'] = r(24, 3, 1, 3, 3)
    sd['s1.pathway0_stem.conv.weight'] = r(24, 1, 5, 1, 1)
    _bn(sd, 's1.pathway0_stem.bn', 24, g)
    c_in = 24
    for k, (c, ci, cse, n) in STAGES.items():
        for i in range(n):
            p = f's{k}.pathway0_res{i}'
            if i == 0:
                sd[f'{p}.branch1.weight'] = r(c, c_in, 1, 1, 1)
                _bn(sd, f'{p}.branch1_bn', c, g)
            sd[f'{p}.branch2.a.weight'] = r(ci, c_in if i == 0 else c, 1, 1,
                                            1)
            _bn(sd, f'{p}.branch2.a_bn', ci, g)
            sd[f'{p}.branch2.b.weight'] = r(ci, 1, 3, 3, 3)
            _bn(sd, f'{p}.branch2.b_bn', ci, g)
            if i % 2 == 0:
                sd[f'{p}.branch2.se.fc1.weight'] = r(cse, ci, 1, 1, 1)
                sd[f'{p}.branch2.se.fc1.bias'] = r(cse)
                sd[f'{p}.branch2.se.fc2.weight'] = r(ci, cse, 1, 1, 1)
                sd[f'{p}.branch2.se.fc2.bias'] = r(ci)
            sd[f'{p}.branch2.c.weight'] = r(c, ci, 1, 1, 1)
            _bn(sd, f'{p}.branch2.c_bn', c, g)
        c_in = c
    sd['head.conv_5.weight'] = r(432, 192, 1, 1, 1)
    _bn(sd, 'head.conv_5_bn', 432, g)
    sd['head.lin_5.weight'] = r(2048, 432, 1, 1, 1)
    sd['head.projection.weight'] = r(num_classes, 2048)
    sd['head.projection.bias'] = r(num_classes)
    return sd


def test_round_trip_pyslowfast(tmp_path):
    src = pyslowfast_x3d_s()
    path = str(tmp_path / 'x3d_s.pyth')
    torch.save(dict(model_state=src, epoch=300, cfg='TRAIN:\n  ENABLE: '
                    'False\n'), path)
    sd = convert_checkpoint(path, arch='s')
    assert sd['cls_head.lin5.weight'].shape == (2048, 432)
    model = build_mmx3d('s')
    model.load_state_dict(sd, strict=True)  # every key and shape fits

    back = export_pyslowfast(sd)
    assert list(back) == list(src)
    for k, v in src.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v), k

    # DDP's module. prefix, and PySlowFast's saver format
    out = str(tmp_path / 'back.pyth')
    save_checkpoint({'module.' + k: v for k, v in back.items()}, out,
                    fmt='pyslowfast')
    again = convert_checkpoint(out)
    assert all(torch.equal(again[k], v) for k, v in sd.items())


def test_detect_format():
    assert detect_format(pyslowfast_x3d_s()) == 'pyslowfast'
    assert detect_format({'blocks.0.conv.conv_t.weight': 0}) == 'pytorchvideo'
    assert detect_format({'backbone.conv1_s.conv.weight': 0}) == 'mmaction2'
    assert detect_format({'backbone.stem.conv_xy.weight': 0}) == 'mmx3d'
    assert detect_format({'conv1.weight': 0}) == 'unknown'


def test_wrong_variant_names_keys_and_variant(tmp_path):
    model = build_mmx3d('l')
    path = str(tmp_path / 'x3d_l.pyth')
    save_checkpoint(export_pyslowfast(model.state_dict()), path,
                    fmt='pyslowfast')
    with pytest.raises(ValueError) as e:
        convert_checkpoint(path, arch='m')
    msg = str(e.value)
    assert path in msg and 'pyslowfast format' in msg
    assert 'looks like X3D-L (stage widths 24/48/96/192, blocks 5/10/25/15' \
        in msg
    assert 'unexpected keys (578)' in msg
    assert 'backbone.res2.3.* (' in msg
    # without arch, the nearest preset is accepted
    assert len(convert_checkpoint(path)) == len(model.state_dict())


def test_unknown_format(tmp_path):
    path = str(tmp_path / 'resnet.pth')
    torch.save({'state_dict': {'conv1.weight': torch.zeros(64, 3, 7, 7)}},
               path)
    with pytest.raises(ValueError, match='unrecognised format') as e:
        convert_checkpoint(path)
    assert 'missing keys (' in str(e.value)
    assert 'unexpected keys (1): conv1.weight' in str(e.value)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        convert_checkpoint(str(tmp_path / 'nope.pyth'))


class _Opaque:
    """Stands for a pickled object in a checkpoint (e.g. a config)."""


def test_refuses_arbitrary_pickles(tmp_path):
    from mmx3d.converters import load_any_checkpoint
    path = str(tmp_path / 'pickled.pyth')
    torch.save(dict(model_state=pyslowfast_x3d_s(), cfg=_Opaque()), path)
    with pytest.raises(ValueError, match='without unpickling arbitrary'):
        convert_checkpoint(path)
    obj = load_any_checkpoint(path, allow_pickle=True)
    assert len(convert_checkpoint(obj, arch='s')) > 500
