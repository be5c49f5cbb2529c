# Copyright (c) mmx3d contributors. All rights reserved.
"""Foreign checkpoints through init_cfg, load_from and tools/test.py."""
import importlib.util
import json
import os.path as osp
import pickle

import pytest
import torch
import torch.nn as nn
from _ptv import build_mmx3d, randomize

from mmx3d.converters import (
    export_pyslowfast,
    export_pytorchvideo,
    load_x3d_checkpoint,
    save_checkpoint,
)
from mmx3d.registry import MODELS


def _recognizer_cfg(arch='xs', num_classes=400, head_init_cfg=None,
                    backbone_init_cfg=None):
    return dict(
        type='Recognizer3D',
        backbone=dict(type='X3DBackbone', arch=arch,
                      init_cfg=backbone_init_cfg),
        cls_head=dict(type='X3DClsHead', num_classes=num_classes,
                      in_channels=192, init_cfg=head_init_cfg),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape='NCTHW'))


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """A random X3D-XS and its PySlowFast / PyTorchVideo files."""
    d = tmp_path_factory.mktemp('ckpt')
    model = randomize(build_mmx3d('xs'), seed=5)
    sd = model.state_dict()
    files = dict(
        pyslowfast=str(d / 'x3d_xs.pyth'), pytorchvideo=str(d / 'X3D_XS.pyth'))
    save_checkpoint(export_pyslowfast(sd), files['pyslowfast'], 'pyslowfast')
    save_checkpoint(export_pytorchvideo(sd), files['pytorchvideo'],
                    'pytorchvideo')
    return model, files


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pretrained_init_whole_model(source):
    model, files = source
    m = MODELS.build(_recognizer_cfg(
        backbone_init_cfg=dict(type='Pretrained',
                               checkpoint=files['pyslowfast'],
                               prefix='backbone.'),
        head_init_cfg=dict(type='Pretrained', checkpoint=files['pyslowfast'],
                           prefix='cls_head.')))
    m.init_weights()
    assert _same(m, model)


def test_pretrained_init_backbone_only(source):
    """Fine-tuning (AVA/Charades): only the backbone, another head."""
    model, files = source
    m = MODELS.build(_recognizer_cfg(
        num_classes=157,
        backbone_init_cfg=dict(type='Pretrained',
                               checkpoint=files['pytorchvideo'],
                               prefix='backbone.'))).eval()
    m.init_weights()
    clip = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(m.backbone(clip), model.backbone(clip),
                                   rtol=1e-5, atol=1e-5)
    assert m.cls_head.fc_cls.out_features == 157


def test_pretrained_init_wrong_variant(source):
    _, files = source
    m = MODELS.build(_recognizer_cfg(
        arch='l',
        backbone_init_cfg=dict(type='Pretrained',
                               checkpoint=files['pyslowfast'],
                               prefix='backbone.')))
    with pytest.raises(ValueError, match=r'looks like X3D-XS/S/M[\s\S]*'
                       r'missing keys \(491\): backbone.res2.3.\*'):
        m.init_weights()


def test_pretrained_init_other_models_unchanged(tmp_path):
    """Non-X3D checkpoints still go through MMEngine's PretrainedInit (which
    loads the keys that fit, non-strictly, and ignores the rest)."""
    from mmengine.model import BaseModule
    src = nn.Conv2d(3, 4, 3)
    path = str(tmp_path / 'conv.pth')
    state = {'body.0.' + k: v for k, v in src.state_dict().items()}
    state['unknown.weight'] = torch.zeros(2)
    torch.save({'state_dict': state}, path)

    class Net(BaseModule):

        def __init__(self):
            super().__init__(init_cfg=dict(type='Pretrained',
                                           checkpoint=path))
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3))

    net = Net()
    assert not torch.equal(net.body[0].weight, src.weight)
    net.init_weights()
    assert torch.equal(net.body[0].weight, src.weight)
    assert torch.equal(net.body[0].bias, src.bias)


def test_load_x3d_checkpoint_bare_backbone(source):
    model, files = source
    from mmx3d.models import X3DBackbone
    backbone = X3DBackbone(arch='xs')
    assert load_x3d_checkpoint(backbone, files['pyslowfast']) == 'pyslowfast'
    assert _same(backbone, model.backbone)


def _load_tools_test():
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    spec = importlib.util.spec_from_file_location(
        'mmx3d_tools_test', osp.join(root, 'tools', 'test.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, root


def test_load_from_and_tools_test(tmp_path, synthetic_data):
    """tools/test.py takes a PySlowFast file and scores like the mmx3d one."""
    tools_test, root = _load_tools_test()
    model = randomize(build_mmx3d('xs', num_classes=4), seed=2)
    with torch.no_grad():  # probabilities that differ from video to video
        model.cls_head.fc_cls.weight.mul_(300)
    pth = str(tmp_path / 'mmx3d.pth')
    save_checkpoint(model.state_dict(), pth)
    pyth = str(tmp_path / 'x3d_xs_synthetic.pyth')
    save_checkpoint(export_pyslowfast(model.state_dict()), pyth, 'pyslowfast')
    opts = [
        f'test_dataloader.dataset.ann_file={synthetic_data}/'
        'val_list_videos.txt',
        f'test_dataloader.dataset.data_prefix.video={synthetic_data}/videos',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ]
    config = osp.join(root, 'configs', 'x3d', 'x3d_xs_synthetic.py')
    results, scores = [], []
    for ckpt in (pyth, pth):
        out = str(tmp_path / (osp.basename(ckpt) + '.json'))
        dump = str(tmp_path / (osp.basename(ckpt) + '.pkl'))
        tools_test.main([
            config, ckpt, '--work-dir', str(tmp_path / 'work'), '--views',
            '1', '--out', out, '--dump', dump, '--cfg-options', *opts
        ])
        with open(out) as f:
            results.append(json.load(f))
        with open(dump, 'rb') as f:
            scores.append(torch.stack(
                [torch.as_tensor(r['pred_score']) for r in pickle.load(f)]))
    assert results[0]['checkpoint'] == pyth
    assert results[0]['acc/top1'] == results[1]['acc/top1']
    # every video's class probabilities, not only the accuracy
    assert scores[0].shape == (8, 4)
    assert (scores[0].max(1).values - scores[0].min(1).values).min() > 0.1
    torch.testing.assert_close(scores[0], scores[1], rtol=1e-5, atol=1e-6)
    # the small probabilities too
    torch.testing.assert_close(scores[0].log(), scores[1].log(), rtol=0,
                               atol=1e-3)


def test_convert_checkpoint_hook_wrong_variant(tmp_path):
    from mmengine.config import Config

    from mmx3d.converters import ConvertCheckpointHook

    class _Runner:
        cfg = Config(dict(load_from='x3d_l.pyth'))
        model = build_mmx3d('xs')

    ckpt = dict(model_state=export_pyslowfast(build_mmx3d('l').state_dict()))
    with pytest.raises(ValueError, match=r"'x3d_l.pyth' \(pyslowfast format"
                       r"\).*looks like X3D-L"):
        ConvertCheckpointHook().after_load_checkpoint(_Runner(), ckpt)
