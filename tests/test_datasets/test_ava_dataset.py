# Copyright (c) mmx3d contributors. All rights reserved.
"""RobustAVADataset: strict files, logged skips, proposal rules."""
import os
import pickle

import numpy as np
import pytest

import mmx3d.datasets.ava as ava_module
from mmx3d.datasets import RobustAVADataset, load_proposals

PIPELINE = [
    dict(type='SampleAVAFrames', clip_len=2, frame_interval=2),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]


@pytest.fixture
def logs(monkeypatch):
    messages = []
    monkeypatch.setattr(ava_module, 'print_log',
                        lambda msg, *a, **k: messages.append(msg))
    return messages


def _make(tmp_path, ann_rows, proposals, exclude='', videos=('v1', 'v2'),
          proposal_ext='.pkl'):
    frames = tmp_path / 'frames'
    for vid in videos:
        os.makedirs(frames / vid, exist_ok=True)
    ann = tmp_path / 'ann.csv'
    ann.write_text(''.join(r + '\n' for r in ann_rows))
    excl = tmp_path / 'excl.csv'
    excl.write_text(exclude)
    prop = tmp_path / f'props{proposal_ext}'
    if proposal_ext == '.pkl':
        with open(prop, 'wb') as f:
            pickle.dump(proposals, f)
    else:
        prop.write_text(proposals)
    return dict(ann_file=str(ann), exclude_file=str(excl),
                proposal_file=str(prop), data_prefix=dict(img=str(frames)),
                pipeline=PIPELINE, num_classes=5)


def _keys(ds):
    return [ds.get_data_info(i)['img_key'] for i in range(len(ds))]


ROWS = [
    'v1,0902,0.1,0.1,0.4,0.9,1,0',
    'v1,0902,0.1,0.1,0.4,0.9,3,0',  # same person, second action
    'v1,0902,0.5,0.1,0.9,0.9,2,1',
    'v1,0903,0.1,0.1,0.4,0.9,4,0',
    'v2,0902,0.2,0.2,0.6,0.8,1,0',
]
PROPS = {
    'v1,0902': np.array([[0.1, 0.1, 0.4, 0.9, 0.95],
                         [0.5, 0.1, 0.9, 0.9, 0.81],
                         [0.0, 0.0, 0.2, 0.2, 0.8],
                         [0.3, 0.3, 0.5, 0.5, 0.79],
                         [0.6, 0.6, 0.7, 0.7, 0.3]], np.float32),
    'v1,0903': np.array([[0.1, 0.1, 0.4, 0.9, 0.5]], np.float32),
    # v2,0902 has no entry at all
    'v2,0904': np.array([[0.2, 0.2, 0.6, 0.8, 0.9]], np.float32),
}


def test_proposals_below_threshold_are_dropped(tmp_path, logs):
    ds = RobustAVADataset(**_make(tmp_path, ROWS, PROPS),
                          person_det_score_thr=0.8)
    assert _keys(ds) == [
        'v1,0902', 'v1,0903', 'v2,0902']
    info = ds.get_data_info(0)
    np.testing.assert_allclose(info['scores'], [0.95, 0.81, 0.8])
    assert info['proposals'].shape == (3, 4)
    # multi-label ground truth, one row per person
    assert info['gt_bboxes'].shape == (2, 4)
    assert info['gt_labels'][0].tolist() == [0, 1, 0, 1, 0]
    # training: no proposal left -> ground-truth boxes only
    assert ds.get_data_info(1)['proposals'].shape == (0, 4)
    assert ds.get_data_info(2)['proposals'].shape == (0, 4)
    assert any('2 key frame(s) have no proposal' in m for m in logs)


def test_test_mode_skips_keys_without_proposals_and_adds_proposal_keys(
        tmp_path, logs):
    ds = RobustAVADataset(**_make(tmp_path, ROWS, PROPS), test_mode=True)
    keys = _keys(ds)
    # v1,0903 and v2,0902: no proposal >= 0.8 -> skipped (their ground
    # truth counts as missed); v2,0904: proposals, no ground truth -> kept
    assert keys == ['v1,0902', 'v2,0904']
    info = ds.get_data_info(1)
    assert info['gt_bboxes'].shape == (0, 4)
    assert info['proposals'].shape == (1, 4)
    assert any('skipped' in m for m in logs)


def test_excluded_keys_and_missing_frame_folders(tmp_path, logs):
    ds = RobustAVADataset(
        **_make(tmp_path, ROWS, PROPS, exclude='v1,0903\n', videos=('v1', )))
    assert _keys(ds) == ['v1,0902']
    assert any('missing frame folder' in m and 'v2' in m for m in logs)
    assert any('1 excluded, 1 with missing media' in m for m in logs)


@pytest.mark.parametrize('row, what', [
    ('v1,0902,0.1,0.1,0.4,0.9,1', 'expected 8 columns'),
    ('v1,0902,0.1,0.1,1.4,0.9,1,0', r'box .* must satisfy'),
    ('v1,0902,0.5,0.1,0.4,0.9,1,0', r'box .* must satisfy'),
    ('v1,0901,0.1,0.1,0.4,0.9,1,0', r'timestamp 901 outside .*\[902, 1798\]'),
    ('v1,1799,0.1,0.1,0.4,0.9,1,0', 'timestamp 1799 outside'),
    ('v1,09x2,0.1,0.1,0.4,0.9,1,0', 'timestamp must be an integer'),
    ('v1,0902,0.1,0.1,0.4,0.9,9,0', r'action_id 9 outside \[1, 5\)'),
    ('v1,0902,0.1,0.1,0.4,0.9,1,p', 'invalid literal'),
])
def test_malformed_annotation_fails_with_file_and_line(tmp_path, row, what):
    with pytest.raises(ValueError, match=f'ann.csv:3: {what}'):
        RobustAVADataset(**_make(tmp_path, ROWS[:2] + [row], PROPS))


def test_malformed_proposals_and_exclusions(tmp_path):
    bad = dict(PROPS)
    bad['v1,0902'] = np.array([[0.1, 0.1, 1.2, 0.9, 0.9]], np.float32)
    with pytest.raises(ValueError, match=r"props.pkl: key 'v1,0902': box"):
        RobustAVADataset(**_make(tmp_path, ROWS, bad))
    with pytest.raises(ValueError, match='excl.csv:1: expected'):
        RobustAVADataset(**_make(tmp_path, ROWS, PROPS, exclude='v1\n'))
    with pytest.raises(FileNotFoundError, match='annotation file'):
        RobustAVADataset(**dict(_make(tmp_path, ROWS, PROPS),
                                ann_file=str(tmp_path / 'nope.csv')))


def test_csv_proposals(tmp_path):
    text = ('v1,0902,0.1,0.1,0.4,0.9,0.7\n'
            'v1,0902,0.5,0.1,0.9,0.9,0.9\n')
    path = tmp_path / 'p.csv'
    path.write_text(text)
    props = load_proposals(str(path))
    np.testing.assert_allclose(props['v1,0902'][:, 4], [0.9, 0.7])
    path.write_text(text + 'v1,0902,0.5,0.1,0.9\n')
    with pytest.raises(ValueError, match='p.csv:3: expected'):
        load_proposals(str(path))


def test_loads_a_clip(ava_synthetic):
    ds = RobustAVADataset(
        ann_file=ava_synthetic['ann_file_val'],
        exclude_file=ava_synthetic['exclude_file_val'],
        proposal_file=ava_synthetic['proposal_file_val'],
        label_file=ava_synthetic['label_file_all'],
        data_prefix=dict(img=ava_synthetic['data_root']),
        pipeline=PIPELINE, num_classes=6, test_mode=True)
    # 3 videos x 6 key frames, one excluded
    assert len(ds) == 17
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (3, 2, 72, 96)
    props = sample['data_samples'].proposals.bboxes
    assert len(props) >= 2 and props.max() > 1  # in pixels
