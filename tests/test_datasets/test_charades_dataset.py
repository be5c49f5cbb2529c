# Copyright (c) mmx3d contributors. All rights reserved.
import csv
import os.path as osp

import numpy as np
import pytest
import torch

from mmx3d.datasets import CharadesDataset, CharadesRawframeDataset
from mmx3d.datasets.charades import parse_actions
from mmx3d.datasets.charades_synthetic import CLASSES, CSV_COLUMNS

HEADER = ','.join(CSV_COLUMNS)


def write_csv(path, rows):
    """rows: (id, actions) pairs; other columns get official-looking text."""
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for vid, actions in rows:
            w.writerow([vid, 'HR43', 'Kitchen', '6', '7', 'Yes',
                        'A person cooks, then eats.', 'food;dish',
                        'A person, standing.', actions, '30.00'])
    return str(path)


def test_parse_actions():
    a = parse_actions('c092 11.90 21.20;c147 0.00 12.60', 157)
    np.testing.assert_allclose(a, [[92, 11.9, 21.2], [147, 0.0, 12.6]])
    assert parse_actions('', 157).shape == (0, 3)
    assert parse_actions('  ', 157).shape == (0, 3)


@pytest.mark.parametrize('text, why', [
    ('c092 11.90', 'is not "cNNN'),
    ('c092 11.90 21.20;', 'is not "cNNN'),
    ('x092 1 2', 'is not "cNNN'),
    ('c157 1 2', 'out of range'),
    ('c001 1.0 abc', 'not numbers'),
    ('c001 -1 2', '>= 0'),
    ('c001 nan 2', 'finite'),
    ('c001 5 2', 'starts after it ends'),
])
def test_parse_actions_malformed(text, why):
    with pytest.raises(ValueError, match=why):
        parse_actions(text, 157)


def test_dataset_reads_official_csv(tmp_path):
    ann = write_csv(tmp_path / 'train.csv', [
        ('46GP8', 'c092 11.90 21.20;c147 0.00 12.60'),
        ('N11GT', ''),  # no actions: kept, all negative
        ('0IH69', 'c000 0.00 3.00;c000 5.00 8.00'),
    ])
    videos = tmp_path / 'videos'
    videos.mkdir()
    ds = CharadesDataset(ann, [], data_prefix=dict(video=str(videos)))
    assert len(ds) == 3
    info = ds.get_data_info(0)
    assert info['filename'] == osp.join(str(videos), '46GP8.mp4')
    assert info['video_id'] == '46GP8'
    assert info['label'].dtype == torch.float32
    assert info['label'].shape == (157, )
    assert torch.nonzero(info['label']).flatten().tolist() == [92, 147]
    np.testing.assert_allclose(info['actions'][0], [92, 11.9, 21.2])
    assert info['num_classes'] == 157 and info['duration'] == 30.0
    empty = ds.get_data_info(1)
    assert empty['label'].sum() == 0 and empty['actions'].shape == (0, 3)
    assert ds.get_data_info(2)['label'].sum() == 1


def test_dataset_malformed_names_file_line_and_text(tmp_path):
    ann = write_csv(tmp_path / 'bad.csv', [
        ('46GP8', 'c092 11.90 21.20'),
        ('N11GT', 'c092 11.90 21.20;c14 0.00'),
    ])
    with pytest.raises(ValueError) as e:
        CharadesDataset(ann, [])
    msg = str(e.value)
    assert f'{ann}:3' in msg  # header is line 1
    assert "'c092 11.90 21.20;c14 0.00'" in msg and 'N11GT' in msg


def test_dataset_header_and_label_file_errors(tmp_path):
    ann = tmp_path / 'nohead.csv'
    ann.write_text('video,labels\nA,c001 1 2\n')
    with pytest.raises(ValueError, match=r"nohead.csv:1: .*\['actions', "
                       r"'id'\]"):
        CharadesDataset(str(ann), [])
    with pytest.raises(FileNotFoundError, match='missing.csv'):
        CharadesDataset(str(tmp_path / 'missing.csv'), [])
    good = write_csv(tmp_path / 'ok.csv', [('A', 'c001 1 2')])
    labels = tmp_path / 'classes.txt'
    labels.write_text('c000 Holding some clothes\nc002 Oops\n')
    with pytest.raises(ValueError, match='classes.txt:2'):
        CharadesDataset(good, [], label_file=str(labels))
    labels.write_text('c000 Holding some clothes\nc001 Putting clothes\n')
    ds = CharadesDataset(good, [], num_classes=2, label_file=str(labels))
    assert ds.metainfo['classes'] == ('Holding some clothes',
                                      'Putting clothes')


def _pipeline(decode):
    return [
        dict(type='SampleFrames', clip_len=4, frame_interval=2,
             num_clips=1),
        dict(type='ClipLabelFromIntervals'),
        decode,
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]


def test_video_and_rawframe_samples(charades_mini):
    root = charades_mini
    names = f'{root}/Charades_v1_classes.txt'
    ann = f'{root}/Charades_v1_train.csv'
    video = CharadesDataset(
        ann, [dict(type='DecordInit')] + _pipeline(dict(type='DecordDecode')),
        data_prefix=dict(video=f'{root}/Charades_v1_480'),
        num_classes=len(CLASSES), label_file=names)
    frames = CharadesRawframeDataset(
        ann, _pipeline(dict(type='RawFrameDecode')),
        data_prefix=dict(img=f'{root}/Charades_v1_rgb'),
        num_classes=len(CLASSES), fps=8)
    assert len(video) == len(frames) == 8
    assert frames.get_data_info(0)['total_frames'] == 24
    for ds in (video, frames):
        out = ds[0]
        assert out['inputs'].shape == (1, 3, 4, 32, 64)
        gt = out['data_samples'].gt_label
        assert gt.dtype == torch.float32 and gt.shape == (len(CLASSES), )
        # clip target is a subset of the video's classes
        video_label = ds.get_data_info(0)['label']
        assert bool((gt <= video_label).all())
    test = CharadesDataset(
        f'{root}/Charades_v1_test.csv',
        [dict(type='DecordInit'), dict(type='SampleFrames', clip_len=4,
                                       frame_interval=2, num_clips=2,
                                       test_mode=True),
         dict(type='DecordDecode'),
         dict(type='FormatShape', input_format='NCTHW'),
         dict(type='PackActionInputs')],
        data_prefix=dict(video=f'{root}/Charades_v1_480'),
        num_classes=len(CLASSES), test_mode=True)
    out = test[1]
    assert out['inputs'].shape == (2, 3, 4, 32, 64)
    assert torch.equal(out['data_samples'].gt_label,
                       test.get_data_info(1)['label'])


def test_rawframe_missing_folder(charades_mini, tmp_path):
    ann = write_csv(tmp_path / 'a.csv', [('NOPE1', '')])
    with pytest.raises(FileNotFoundError, match='NOPE1'):
        CharadesRawframeDataset(
            ann, [], data_prefix=dict(img=f'{charades_mini}/Charades_v1_rgb'))
