# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d.apis.proposals and mmx3d.apis.action_detection, and their CLIs
tools/data/ava/generate_proposals.py and tools/demo/detect_ava.py."""
import os.path as osp
import pickle
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from mmx3d.apis import action_detection as ad
from mmx3d.apis import proposals as gp

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


def _run(tool, *args):
    """Run a CLI in a fresh interpreter; its stdout."""
    res = subprocess.run([sys.executable, osp.join(ROOT, tool), *args],
                         capture_output=True, text=True, cwd=ROOT,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def _tiny_detector(tmp_path, classes):
    """Config path, checkpoint path and model of a random tiny detector."""
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
                    meta=dict(dataset_meta=dict(classes=classes))), ckpt)
    return str(cfg_file), ckpt


def _ava_model(tmp_path):
    """Config path and a checkpoint of the synthetic AVA detector."""
    from mmengine.config import Config

    from mmx3d.registry import MODELS
    config = osp.join(ROOT, 'configs/x3d/x3d_xs_ava_synthetic.py')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    return config, ckpt


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
    for vid, index in [('b', 31), ('b', 61), ('a', 91), ('a', 92)]:
        (tmp_path / 'frames' / vid).mkdir(parents=True, exist_ok=True)
        (tmp_path / 'frames' / vid / f'img_{index:05d}.jpg').write_bytes(b'')
    # frame 92 is no key frame; folders in sorted order
    assert gp.keys_from_folders(str(tmp_path / 'frames'), (901, 903)) == [
        ('a', 903), ('b', 901), ('b', 902)]


def test_write_proposals_csv_rows(tmp_path):
    from mmx3d.datasets import load_proposals
    props = {
        'v,0902': np.array([[0.1, 0.2, 0.3, 0.4, 0.9],
                            [0.5, 0.5, 1.0, 1.0, 0.25]], np.float32),
        'w,0903': np.zeros((0, 5), np.float32),
    }
    out = tmp_path / 'p.csv'
    gp.write_proposals(props, str(out))
    assert out.read_text().splitlines() == [
        'v,0902,0.1000,0.2000,0.3000,0.4000,0.900000',
        'v,0902,0.5000,0.5000,1.0000,1.0000,0.250000',
    ]
    back = load_proposals(str(out))
    assert list(back) == ['v,0902']
    np.testing.assert_allclose(back['v,0902'], props['v,0902'])


@pytest.mark.slow
def test_generate_proposals_with_a_detector(tmp_path, ava_synthetic):
    from mmengine.registry import DefaultScope

    from mmx3d.datasets import load_proposals
    det_cfg, det_ckpt = _tiny_detector(tmp_path, ('car', 'person', 'dog'))
    detector = gp.init_person_detector(det_cfg, det_ckpt)
    assert gp.person_label_of(detector, 'Person') == 1
    keys = gp.keys_from_annotations(ava_synthetic['ann_file_val'])
    props = gp.detect_keys(detector, ava_synthetic['data_root'], keys, 1,
                           0.0)
    assert list(props) == [f'{v},{t:04d}' for v, t in keys]
    for arr in props.values():
        assert arr.ndim == 2 and arr.shape[1] == 5 and len(arr) > 0
        assert (arr[:, :4] >= 0).all() and (arr[:, :4] <= 1).all()
        assert (np.diff(arr[:, 4]) <= 0).all()
    # the detector's registry scope did not leak out
    assert DefaultScope.get_current_instance().scope_name == 'mmx3d'
    # the CLI writes the same proposals
    out = str(tmp_path / 'props.pkl')
    _run('tools/data/ava/generate_proposals.py', det_cfg, det_ckpt,
         ava_synthetic['data_root'], out, '--ann-file',
         ava_synthetic['ann_file_val'], '--score-thr', '0.0')
    with open(out, 'rb') as f:
        written = pickle.load(f)
    assert list(written) == list(props)
    for key, arr in props.items():
        np.testing.assert_allclose(written[key], arr, rtol=1e-5, atol=1e-6)
    # the written file is a valid dataset proposal file
    assert list(load_proposals(out)) == list(props)
    # so is the CSV: every row, to its 4 (box) and 6 (score) decimals
    out_csv = str(tmp_path / 'props.csv')
    gp.write_proposals(props, out_csv)
    with open(out_csv) as f:
        assert len(f.readlines()) == sum(len(a) for a in props.values())
    back = load_proposals(out_csv)
    assert list(back) == list(props)
    for key, arr in props.items():
        np.testing.assert_allclose(back[key], arr, rtol=0, atol=5e-5)


@pytest.mark.slow
def test_demo_draws_boxes_and_actions(tmp_path, ava_synthetic):
    from mmengine.config import Config

    from mmx3d.datasets import load_proposals
    from mmx3d.datasets.synthetic import write_video
    config, ckpt = _ava_model(tmp_path)
    cfg = Config.fromfile(config)
    # a 4 s clip of a held-out video: key frames 901..904
    frames_dir = osp.join(ava_synthetic['data_root'], 'syn_val_001')
    frames = [cv2.imread(osp.join(frames_dir, f'img_{i:05d}.jpg'))
              for i in range(31, 151)]
    proposals = load_proposals(ava_synthetic['proposal_file_val'])
    keys = ad.detect_actions(
        ad.build_ava_detector(cfg, ckpt), cfg, frames, 30,
        proposals=proposals, video_id='syn_val_001',
        action_score_thr=0.0,
        labels=ad.load_labels(ava_synthetic['label_file_all']),
        timestamp_start=901)
    assert sorted(keys) == [901, 902, 903, 904]
    center, boxes, acts = keys[902]
    expected = proposals['syn_val_001,0902']
    expected = expected[expected[:, 4] >= 0.8]
    assert center == 30 and len(boxes) == len(expected) >= 2
    np.testing.assert_allclose(boxes, expected[:, :4], atol=1e-3)
    assert [len(a) for a in acts] == [3] * len(boxes)
    # the drawn video: decord (what MMAction2 reads with) decodes it
    out = str(tmp_path / 'out.mp4')
    write_video(out, np.stack(ad.annotate(frames, keys, 30)), 30)
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


@pytest.mark.slow
def test_detect_ava_cli_with_a_person_detector(tmp_path, ava_synthetic):
    from mmx3d.datasets.synthetic import write_video
    det_cfg, det_ckpt = _tiny_detector(tmp_path, ('person', ))
    config, ckpt = _ava_model(tmp_path)
    frames_dir = osp.join(ava_synthetic['data_root'], 'syn_val_000')
    video = str(tmp_path / 'in.mp4')
    write_video(video, np.stack([
        cv2.imread(osp.join(frames_dir, f'img_{i:05d}.jpg'))
        for i in range(61, 91)
    ]), 30)
    out = str(tmp_path / 'out.mp4')
    stdout = _run('tools/demo/detect_ava.py', config, ckpt, video, out,
                  '--det-config', det_cfg, '--det-checkpoint', det_ckpt,
                  '--det-score-thr', '0.0')
    # one key frame (t = 0 s); the random detector's 20 boxes at most,
    # minus those empty after clipping
    n = int(re.search(r'(\d+) boxes on 1 key frames', stdout).group(1))
    assert 0 < n <= 20
    import decord
    assert len(decord.VideoReader(out)) == 30
