# Copyright (c) mmx3d contributors. All rights reserved.
import csv

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from mmx3d.evaluation.metrics.charades_map import (
    CharadesMAP,
    average_precision,
    mean_average_precision,
)
from mmx3d.registry import METRICS


def sklearn_map(scores, labels):
    aps = [average_precision_score(labels[:, c], scores[:, c])
           for c in range(labels.shape[1]) if labels[:, c].any()]
    return float(np.mean(aps)), len(aps)


def random_case(seed, n=40, c=7, ties=False):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, c)) < 0.3).astype(np.int64)
    labels[:, 2] = 0  # a class without positives
    labels[:, 5] = 0  # another one
    if ties:  # few distinct values: many tied scores across both labels
        scores = rng.integers(0, 4, (n, c)) / 4.0
    else:
        scores = rng.random((n, c))
    return scores, labels


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('ties', [False, True])
def test_map_equals_sklearn(seed, ties):
    scores, labels = random_case(seed, ties=ties)
    expected, count = sklearn_map(scores, labels)
    mean, aps = mean_average_precision(scores, labels)
    assert count == 5 and np.isnan(aps[[2, 5]]).all()
    assert mean == pytest.approx(expected, abs=1e-12)


def test_ap_edge_cases():
    assert average_precision([0.5, 0.5, 0.5], [1, 0, 0]) == pytest.approx(
        1 / 3)  # all tied: precision at the only threshold
    assert average_precision([0.9, 0.1], [1, 0]) == 1.0
    assert average_precision([0.1, 0.9], [1, 0]) == 0.5
    assert np.isnan(average_precision([0.1, 0.9], [0, 0]))
    for s, y in [([0.3, 0.3, 0.7, 0.1], [1, 0, 0, 1]),
                 ([1, 1, 1, 0, 0], [0, 1, 1, 0, 1])]:
        assert average_precision(s, y) == pytest.approx(
            average_precision_score(y, s), abs=1e-12)


def test_metric_registered_counts_and_writes_file(tmp_path):
    metric = METRICS.build(dict(type='CharadesMAP', out_dir=str(tmp_path)))
    assert isinstance(metric, CharadesMAP)
    metric.dataset_meta = dict(classes=[f'class {i}' for i in range(7)])
    scores, labels = random_case(0, ties=True)
    # ground truth as float multi-hot, integer multi-hot and index lists
    gts = [torch.tensor(labels[0], dtype=torch.float32),
           torch.tensor(labels[1])]
    gts += [torch.from_numpy(np.flatnonzero(y)) for y in labels[2:]]
    batch = [dict(pred_score=torch.tensor(s), gt_label=g)
             for s, g in zip(scores, gts)]
    metric.process(None, batch[:10])
    metric.process(None, batch[10:])
    res = metric.evaluate(len(batch))
    expected, count = sklearn_map(scores, labels)
    assert list(res) == ['charades/mAP', 'charades/num_classes_evaluated']
    assert res['charades/mAP'] == pytest.approx(expected, abs=1e-12)
    assert res['charades/num_classes_evaluated'] == count == 5
    with open(tmp_path / 'charades_per_class_ap.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7 and rows[3]['class_name'] == 'class 3'
    assert rows[2]['ap'] == 'nan' and rows[2]['num_positives'] == '0'
    assert float(rows[0]['ap']) == pytest.approx(
        average_precision_score(labels[:, 0], scores[:, 0]), abs=1e-6)
    assert int(rows[0]['num_positives']) == labels[:, 0].sum()
