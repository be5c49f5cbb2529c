# Copyright (c) mmx3d contributors. All rights reserved.
"""tools/model_converters/convert.py."""
import importlib.util
import os.path as osp

import torch
from _ptv import build_mmx3d

from mmx3d.converters import (
    detect_format,
    export_pyslowfast,
    extract_state_dict,
    save_checkpoint,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool():
    spec = importlib.util.spec_from_file_location(
        'mmx3d_convert_tool',
        osp.join(ROOT, 'tools', 'model_converters', 'convert.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_convert_tool(tmp_path, capsys):
    tool = _tool()
    sd = build_mmx3d('xs').state_dict()
    src = str(tmp_path / 'x3d_xs.pyth')
    save_checkpoint(export_pyslowfast(sd), src, 'pyslowfast')

    dst = str(tmp_path / 'x3d_xs_mmx3d.pth')
    assert tool.main([src, dst, '--arch', 'xs']) == 0
    assert '(pyslowfast) -> ' in capsys.readouterr().out
    out = torch.load(dst, weights_only=True)
    assert out['meta']['converted_from'] == 'pyslowfast'
    assert all(torch.equal(out['state_dict'][k], v) for k, v in sd.items())

    ptv = str(tmp_path / 'X3D_XS.pyth')
    assert tool.main([dst, ptv, '--to', 'pytorchvideo']) == 0
    obj = torch.load(ptv, weights_only=True)
    assert detect_format(extract_state_dict(obj)) == 'pytorchvideo'

    capsys.readouterr()
    assert tool.main([src, str(tmp_path / 'l.pth'), '--arch', 'l']) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: checkpoint '{src}' (pyslowfast format) "
                          'does not fit the model: it looks like X3D-XS/S/M')
    assert not osp.exists(tmp_path / 'l.pth')
