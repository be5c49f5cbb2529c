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



def _train_logits(model, clip):
    """Logits in training mode (BN on batch statistics), no dropout."""
    model.train()
    with torch.no_grad():
        if hasattr(model, 'backbone'):
            return model.cls_head(model.backbone(clip))
        return model(clip)


def test_pytorchvideo_checkpoint_trains_as_pytorchvideo(tmp_path, create_x3d):
    """In training mode a PyTorchVideo X3D-S loaded into a backbone built
    with ``same_width_shortcut_bn=False`` is PyTorchVideo's network; with
    the default identity shortcut BN it is not (exact in eval mode only)."""
    from mmx3d.converters import load_x3d_checkpoint
    torch.manual_seed(0)
    ptv = create_x3d(
        input_clip_length=5, input_crop_size=CROP, depth_factor=2.2,
        head_activation=None, dropout_rate=0.0)
    randomize(ptv, seed=4)
    path = str(tmp_path / 'X3D_S.pyth')
    torch.save({'model_state': ptv.state_dict()}, path)
    ptv_state = {k: v.clone() for k, v in ptv.state_dict().items()}

    exact = build_mmx3d('s', same_width_shortcut_bn=False)
    default = build_mmx3d('s')
    for model in (exact, default):
        model.cls_head.dropout = torch.nn.Identity()
        assert load_x3d_checkpoint(model, path) == 'pytorchvideo'
    assert 'backbone.res2.0.downsample.1.weight' not in exact.state_dict()
    # exporting the shortcut-BN-free model gives PyTorchVideo's tensors back
    exported = export_pytorchvideo(exact.state_dict())
    assert set(exported) == set(ptv_state)
    for k, v in exported.items():
        assert torch.equal(v, ptv_state[k]), k

    clip = torch.randn(3, 3, 5, CROP, CROP,
                       generator=torch.Generator().manual_seed(2))
    ref = _train_logits(ptv, clip)
    torch.testing.assert_close(_train_logits(exact, clip), ref, rtol=1e-4,
                               atol=1e-4)
    assert (_train_logits(default, clip) - ref).abs().max() > 1e-2
    # the first res2 block alone, where the two networks differ
    with torch.no_grad():
        stem = exact.backbone.stem
        x = stem.relu(stem.bn(stem.conv_t(stem.conv_xy(clip))))
        torch.testing.assert_close(
            exact.backbone.res2[0](x),
            ptv.blocks[1].res_blocks[0](ptv.blocks[0](clip)),
            rtol=1e-4, atol=1e-4)


def test_fully_convolutional_test_view_equals_pytorchvideo(tmp_path,
                                                           create_x3d):
    """One 13 x 182 x 182 view of a converted X3D-S (trained at 160) scored
    by ``test_step`` equals PyTorchVideo's fully convolutional eval output
    (average pool with the 160-crop kernel at stride 1, softmax at each of
    the 2 x 2 positions, mean)."""
    from mmaction.structures import ActionDataSample

    from mmx3d.registry import MODELS
    torch.manual_seed(0)
    ptv = create_x3d(input_clip_length=13, input_crop_size=160,
                     depth_factor=2.2)  # softmax head, as published
    randomize(ptv, seed=5)
    with torch.no_grad():
        ptv.blocks[5].proj.weight.mul_(30)  # spread the probabilities
    path = str(tmp_path / 'X3D_S.pyth')
    torch.save({'model_state': ptv.state_dict()}, path)

    def recognizer(train_crop_size):
        model = MODELS.build(
            dict(type='Recognizer3D',
                 backbone=dict(type='X3DBackbone', arch='s'),
                 cls_head=dict(type='X3DClsHead', num_classes=400,
                               in_channels=192, mid_channels=432,
                               train_crop_size=train_crop_size),
                 data_preprocessor=dict(
                     type='ActionDataPreprocessor',
                     mean=[114.75] * 3, std=[57.375] * 3,
                     format_shape='NCTHW')))
        model.load_state_dict(convert_checkpoint(path, arch='s'))
        return model.eval()

    model, pooled = recognizer(160), recognizer(None)
    g = torch.Generator().manual_seed(3)
    clip = torch.randint(0, 256, (1, 3, 13, 182, 182), generator=g,
                         dtype=torch.uint8)
    data = dict(inputs=[clip], data_samples=[ActionDataSample()])
    with torch.no_grad():
        score = model.test_step(data)[0].pred_score
        ref = ptv((clip.float() - 114.75) / 57.375)[0]
        old = pooled.test_step(data)[0].pred_score
    assert (ref - ref.mean()).abs().max() > 1e-3  # not uniform
    assert (score - ref).abs().max() <= 1e-5
    assert (old - ref).abs().max() > 1e-4  # global pooling is not the same
    # at the train crop (one position) the two heads agree exactly
    small = dict(inputs=[clip[..., :160, :160].contiguous()],
                 data_samples=[ActionDataSample()])
    with torch.no_grad():
        torch.testing.assert_close(model.test_step(small)[0].pred_score,
                                   pooled.test_step(small)[0].pred_score,
                                   rtol=0, atol=0)
