# Copyright (c) mmx3d contributors. All rights reserved.
"""AVAFrameMAP: official CSV in the work dir, per-class AP in the log."""
import re

import numpy as np
import pytest
import torch

import mmx3d.evaluation.metrics.ava_metric as metric_module
from mmx3d.registry import METRICS

LABELS = ('item {\n  name: "wave"\n  id: 1\n}\n'
          'item {\n  name: "talk"\n  id: 2\n}\n')


def _sample(vid, ts, boxes, scores):
    return dict(video_id=vid, timestamp=ts,
                pred_instances=dict(bboxes=torch.tensor(boxes),
                                    scores=torch.tensor(scores)))


def test_metric_writes_official_csv_and_logs_per_class(tmp_path, monkeypatch):
    logs = []
    monkeypatch.setattr(metric_module, 'print_log',
                        lambda msg, *a, **k: logs.append(msg))
    (tmp_path / 'gt.csv').write_text('v,0902,0.1,0.1,0.4,0.9,1,0\n'
                                     'v,0902,0.5,0.1,0.9,0.9,2,1\n'
                                     'v,0903,0.1,0.1,0.4,0.9,1,0\n')
    (tmp_path / 'labels.pbtxt').write_text(LABELS)
    out_dir = tmp_path / 'work_dir'
    metric = METRICS.build(
        dict(type='AVAFrameMAP', ann_file=str(tmp_path / 'gt.csv'),
             label_file=str(tmp_path / 'labels.pbtxt'), num_classes=4,
             out_dir=str(out_dir), return_per_class=True))
    # columns: background, wave (1), talk (2), 3 (not evaluated)
    metric.process(None, [
        _sample('v', 902, [[0.1, 0.1, 0.4, 0.9], [0.5, 0.1, 0.9, 0.9]],
                [[0.9, 0.8, 0.1, 0.9], [0.9, 0.2, 0.7, 0.001]]),
        _sample('v', 903, [[0.1, 0.1, 0.4, 0.9]], [[0.9, 0.6, 0.3, 0.5]]),
        _sample('v', 904, torch.zeros(0, 4), torch.zeros(0, 4)),
    ])
    res = metric.evaluate(3)
    # wave: 0.8 TP, 0.6 TP (0903), 0.2 FP -> AP 1
    # talk: 0.7 TP, 0.3 FP (0903), 0.1 FP -> AP 1
    assert res['ava/frame_mAP@0.5'] == pytest.approx(1.0)
    assert res['ava/AP_1'] == pytest.approx(1.0)
    # <out_dir>/ava_detections[_iter<N>].csv (N: the message hub's
    # iteration, when a Runner ran in this process), and nothing else
    files = [p.name for p in out_dir.iterdir()]
    assert len(files) == 1, files
    assert re.fullmatch(r'ava_detections(_iter\d+)?\.csv', files[0]), files
    path = str(out_dir / files[0])
    rows = open(path).read().splitlines()
    # background column never written; 0.001 < action_thr not written
    assert len(rows) == 8
    pattern = r'^v,\d{4},(\d\.\d{4},){4}[123],\d\.\d{6}$'
    assert all(re.match(pattern, r) for r in rows), rows
    assert rows[0] == 'v,0902,0.1000,0.1000,0.4000,0.9000,1,0.800000'
    text = logs[-1]
    assert 'frame-mAP@0.5: 1.0000' in text
    assert re.search(r'\s1\s+2\s+1\.0000\s+wave', text)
    assert re.search(r'\s2\s+1\s+1\.0000\s+talk', text)


def test_metric_names_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='ann_file'):
        METRICS.build(dict(type='AVAFrameMAP', ann_file='nope.csv',
                           label_file='nope.pbtxt'))


def test_custom_classes_map_columns_to_action_ids(tmp_path):
    (tmp_path / 'labels.pbtxt').write_text(LABELS)
    (tmp_path / 'gt.csv').write_text('v,0902,0.1,0.1,0.4,0.9,2,0\n')
    metric = METRICS.build(
        dict(type='AVAFrameMAP', ann_file=str(tmp_path / 'gt.csv'),
             label_file=str(tmp_path / 'labels.pbtxt'), num_classes=2,
             custom_classes=[2], out_dir=str(tmp_path)))
    path = str(tmp_path / 'x.csv')
    metric.write_csv([dict(video_id='v', timestamp=902,
                           bboxes=np.array([[0.1, 0.1, 0.4, 0.9]]),
                           scores=np.array([[0.5, 0.9]]))], path)
    assert open(path).read().split(',')[6] == '2'
