# Copyright (c) mmx3d contributors. All rights reserved.
"""PyTorchVideo ``create_x3d`` checkpoints <-> mmx3d, checked on outputs."""
import pytest
import torch
from _ptv import build_mmx3d, import_create_x3d, mmx3d_logits, randomize

from mmx3d.converters import (
    convert_checkpoint,
    detect_format,
    export_pytorchvideo,
    save_checkpoint,
)

# (arch, depth factor, clip length): XS/S/M share the network; tiny clips
# keep the test fast (PyTorchVideo's head pool is fixed to the clip size).
CASES = [('xs', 2.2, 4), ('s', 2.2, 5), ('m', 2.2, 6), ('l', 5.0, 4)]
CROP = 64


@pytest.fixture(scope='module')
def create_x3d():
    return import_create_x3d()


def _ptv_model(create_x3d, depth, clip_len, seed=0):
    torch.manual_seed(seed)
    model = create_x3d(
        input_clip_length=clip_len,
        input_crop_size=CROP,
        depth_factor=depth,
        head_activation=None)
    randomize(model, seed)
    # spread the logits so that the probabilities differ visibly
    clip = torch.randn(2, 3, clip_len, CROP, CROP)
    with torch.no_grad():
        scale = 3.0 / model(clip).std()
        model.blocks[5].proj.weight.mul_(scale)
    return model


@pytest.mark.parametrize('arch,depth,clip_len', CASES)
def test_pytorchvideo_to_mmx3d_and_back(tmp_path, create_x3d, arch, depth,
                                        clip_len):
    ptv = _ptv_model(create_x3d, depth, clip_len)
    path = str(tmp_path / f'X3D_{arch.upper()}.pyth')
    torch.save({'model_state': ptv.state_dict()}, path)

    sd = convert_checkpoint(path, arch=arch)
    model = build_mmx3d(arch)
    model.load_state_dict(sd, strict=True)
    # res2's identity shortcut BN PyTorchVideo lacks
    assert torch.equal(sd['backbone.res2.0.downsample.1.weight'],
                       torch.ones(24))

    clip = torch.randn(3, 3, clip_len, CROP, CROP, generator=torch.Generator()
                       .manual_seed(1))
    with torch.no_grad():
        ref = ptv(clip)
    out = mmx3d_logits(model, clip)
    assert ref.std() > 1  # meaningful probabilities
    assert (out.softmax(1) - ref.softmax(1)).abs().max() <= 1e-5
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)

    # export back: a fresh PyTorchVideo model reproduces the original
    exported = export_pytorchvideo(sd)
    assert set(exported) == set(ptv.state_dict())
    ptv2 = create_x3d(
        input_clip_length=clip_len,
        input_crop_size=CROP,
        depth_factor=depth,
        head_activation=None).eval()
    ptv2.load_state_dict(exported, strict=True)
    with torch.no_grad():
        back = ptv2(clip)
    assert (back.softmax(1) - ref.softmax(1)).abs().max() <= 1e-5
    torch.testing.assert_close(back, ref, rtol=1e-5, atol=1e-5)


def test_model_prefix_and_export_fold(tmp_path, create_x3d):
    """PySlowFast's ``model.`` wrapper; exporting an mmx3d model whose res2
    shortcut BN is not the identity folds it exactly (eval mode)."""
    model = randomize(build_mmx3d('xs'), seed=3)
    with torch.no_grad():
        model.cls_head.fc_cls.weight.mul_(300)
    exported = export_pytorchvideo(
        {'state_dict': model.state_dict(), 'meta': {}})
    wrapped = {'model.' + k: v for k, v in exported.items()}
    path = str(tmp_path / 'wrapped.pyth')
    save_checkpoint(wrapped, path, fmt='pytorchvideo')
    assert detect_format(
        {k[6:]: v for k, v in wrapped.items()}) == 'pytorchvideo'
    ptv = create_x3d(
        input_clip_length=4, input_crop_size=CROP, depth_factor=2.2,
        head_activation=None).eval()
    ptv.load_state_dict(exported, strict=True)
    clip = torch.randn(2, 3, 4, CROP, CROP)
    with torch.no_grad():
        ref = ptv(clip)
    out = mmx3d_logits(model, clip)
    assert ref.std() > 1
    assert (out.softmax(1) - ref.softmax(1)).abs().max() <= 1e-5
    # and the wrapped file converts back onto the same outputs
    model2 = build_mmx3d('xs')
    model2.load_state_dict(convert_checkpoint(path), strict=True)
    out2 = mmx3d_logits(model2, clip)
    assert (out2.softmax(1) - ref.softmax(1)).abs().max() <= 1e-5
