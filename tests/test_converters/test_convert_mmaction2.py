# Copyright (c) mmx3d contributors. All rights reserved.
"""MMAction2 1.x X3D checkpoints -> mmx3d, checked on probabilities."""
import torch
from _ptv import build_mmx3d, mmx3d_logits, randomize

from mmx3d.converters import convert_checkpoint, detect_format


def test_mmaction2_x3d_s(tmp_path):
    from mmaction.models.backbones.x3d import X3D
    from mmaction.models.heads.x3d_head import X3DHead
    torch.manual_seed(0)
    backbone = randomize(X3D(gamma_w=1.0, gamma_b=2.25, gamma_d=2.2), 1)
    head = X3DHead(num_classes=400, in_channels=432, fc1_bias=False).eval()
    with torch.no_grad():
        head.fc2.weight.normal_(0, 0.5)
    sd = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    sd.update({f'cls_head.{k}': v for k, v in head.state_dict().items()})
    path = str(tmp_path / 'x3d_s_mmaction2.pth')
    torch.save({'meta': {'epoch': 1}, 'state_dict': sd}, path)
    assert detect_format(sd) == 'mmaction2'

    model = build_mmx3d('s')
    model.load_state_dict(convert_checkpoint(path, arch='s'), strict=True)
    clip = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        ref = head(backbone(clip))
    out = mmx3d_logits(model, clip)
    assert ref.std() > 1
    assert (out.softmax(1) - ref.softmax(1)).abs().max() <= 1e-5
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
