# Copyright (c) mmx3d contributors. All rights reserved.
"""tools/data/ava/generate_proposals.py and tools/demo/detect_ava.py."""
import importlib.util
import os.path as osp
import pickle

import cv2
import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# a tiny MMDetection detector (random weights) standing in for a real one
DET_CONFIG = """
default_scope = 'mmdet'
model = dict(
    type='RetinaNet',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[0, 0, 0],
                           std=[255, 255, 255], bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=18, num_stages=4,
                  out_indices=(1, 2, 3), norm_cfg=dict(type='BN')),
    neck=dict(type='FPN', in_channels=[128, 256, 512], out_channels=32,
              start_level=0, add_extra_convs='on_input', num_outs=3),
    bbox_head=dict(
        type='RetinaHead', num_classes=3, in_channels=32, stacked_convs=1,
        feat_channels=32,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                              scales_per_octave=1, ratios=[1.0],
                              strides=[8, 16, 32]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder',
                        target_means=[.0, .0, .0, .0],
                        target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                      alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.0,
                  nms=dict(type='nms', iou_threshold=0.5),
                  max_per_img=20))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 72), keep_ratio=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
test_dataloader = dict(dataset=dict(type='CocoDataset',
                                    pipeline=test_pipeline))
"""


def _load_tool(rel):
    spec = importlib.util.spec_from_file_location(
        osp.splitext(osp.basename(rel))[0], osp.join(ROOT, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gp = _load_tool('tools/data/ava/generate_proposals.py')


def test_to_proposals_keeps_persons_above_threshold():
    boxes = np.array([[10, 10, 50, 70], [0, 0, 20, 20], [60, 5, 100, 90],
                      [30, 30, 40, 40]], dtype=float)
    out = gp.to_proposals(boxes, np.array([0.7, 0.99, 0.95, 0.2]),
                          np.array([0, 2, 0, 0]), img_w=80, img_h=60,
                          person_label=0, score_thr=0.5)
    # the class-2 box and the 0.2 person go; sorted by score; clipped
    np.testing.assert_allclose(
        out, [[0.75, 5 / 60, 1.0, 1.0, 0.95],
              [0.125, 1 / 6, 0.625, 1.0, 0.7]], rtol=1e-6)
    assert out.dtype == np.float32


def test_key_frame_path_and_keys(tmp_path):
    assert gp.key_frame_path('r', 'v', 902) == osp.join('r', 'v',
                                                        'img_00061.jpg')
    ann = tmp_path / 'a.csv'
    ann.write_text('v,0902,0,0,1,1,1,0\nv,0902,0,0,1,1,2,0\nw,0903,0,0,1,1,'
                   '1,0\n')
    assert gp.keys_from_annotations(str(ann)) == [('v', 902), ('w', 903)]


def test_generate_proposals_with_a_detector(tmp_path, ava_synthetic):
    from mmdet.apis import init_detector
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg_file = tmp_path / 'det.py'
    cfg_file.write_text(DET_CONFIG)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = init_detector(Config.fromfile(str(cfg_file)), None,
                              device='cpu', palette='random')
    ckpt = str(tmp_path / 'det.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(
                        classes=('car', 'person', 'dog')))), ckpt)
    out = str(tmp_path / 'props.pkl')
    gp.main([str(cfg_file), ckpt, ava_synthetic['data_root'], out,
             '--ann-file', ava_synthetic['ann_file_val'], '--score-thr',
             '0.0'])
    with open(out, 'rb') as f:
        props = pickle.load(f)
    keys = gp.keys_from_annotations(ava_synthetic['ann_file_val'])
    assert sorted(props) == sorted(f'{v},{t:04d}' for v, t in keys)
    arr = next(iter(props.values()))
    assert arr.ndim == 2 and arr.shape[1] == 5 and len(arr) > 0
    assert (arr[:, :4] >= 0).all() and (arr[:, :4] <= 1).all()
    assert (np.diff(arr[:, 4]) <= 0).all()
    # the written file is a valid dataset proposal file
    from mmx3d.datasets import load_proposals
    assert set(load_proposals(out)) == set(props)
    out_csv = str(tmp_path / 'props.csv')
    gp.write_proposals(props, out_csv)
    assert set(load_proposals(out_csv)) <= set(props)
    # the detector's registry scope did not leak out
    assert DefaultScope.get_current_instance().scope_name == 'mmx3d'


def test_demo_writes_a_video_with_boxes(tmp_path, ava_synthetic):
    from mmengine.config import Config

    from mmx3d.registry import MODELS
    demo = _load_tool('tools/demo/detect_ava.py')
    config = osp.join(ROOT, 'configs/x3d/x3d_xs_ava_synthetic.py')
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    # a 4 s clip of a held-out video: key frames 901..903 -> 902, 903
    frames_dir = osp.join(ava_synthetic['data_root'], 'syn_val_001')
    video = str(tmp_path / 'syn_val_001.mp4')
    frames = [cv2.imread(osp.join(frames_dir, f'img_{i:05d}.jpg'))
              for i in range(31, 151)]
    demo.write_video(video, frames, 30)
    out = str(tmp_path / 'out.mp4')
    keys = demo.run_demo(demo.parse_args([
        config, ckpt, video, out, '--proposals',
        ava_synthetic['proposal_file_val'], '--timestamp-start', '901',
        '--label-map', ava_synthetic['label_file_all'],
        '--action-score-thr', '0.0'
    ]))
    assert sorted(keys) == [901, 902, 903, 904]
    center, boxes, acts = keys[902]
    assert center == 30 and len(boxes) >= 2 and len(acts[0]) == 3
    # playable: decord (what MMAction2 reads with) decodes every frame
    import decord
    vr = decord.VideoReader(out)
    assert len(vr) == len(frames)
    frame = vr[center].asnumpy()  # RGB
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (boxes[0] * [w, h, w, h]).round().astype(int)
    edge = frame[(y1 + y2) // 2, max(x1 - 1, 0):x1 + 2].astype(int)
    magenta = np.array([255, 0, 255])
    assert np.abs(edge - magenta).sum(1).min() < 120  # box edge drawn
    original = cv2.cvtColor(frames[center], cv2.COLOR_BGR2RGB)
    assert np.abs(original[(y1 + y2) // 2, x1].astype(int) -
                  magenta).sum() > 200


def test_demo_with_a_person_detector(tmp_path, ava_synthetic):
    from mmdet.apis import init_detector
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmx3d.registry import MODELS
    demo = _load_tool('tools/demo/detect_ava.py')
    det_cfg = tmp_path / 'det.py'
    det_cfg.write_text(DET_CONFIG)
    with DefaultScope.overwrite_default_scope('mmdet'):
        det = init_detector(Config.fromfile(str(det_cfg)), None,
                            device='cpu', palette='random')
    det_ckpt = str(tmp_path / 'det.pth')
    torch.save(dict(state_dict=det.state_dict(),
                    meta=dict(dataset_meta=dict(classes=('person', )))),
               det_ckpt)
    config = osp.join(ROOT, 'configs/x3d/x3d_xs_ava_synthetic.py')
    model = MODELS.build(Config.fromfile(config).model)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    frames_dir = osp.join(ava_synthetic['data_root'], 'syn_val_000')
    video = str(tmp_path / 'in.mp4')
    demo.write_video(video, [
        cv2.imread(osp.join(frames_dir, f'img_{i:05d}.jpg'))
        for i in range(61, 91)
    ], 30)
    out = str(tmp_path / 'out.mp4')
    keys = demo.run_demo(demo.parse_args([
        config, ckpt, video, out, '--det-config', str(det_cfg),
        '--det-checkpoint', det_ckpt, '--det-score-thr', '0.0'
    ]))
    assert list(keys) == [0] and len(keys[0][1]) > 0
    assert osp.getsize(out) > 0
    assert DefaultScope.get_current_instance().scope_name == 'mmx3d'
