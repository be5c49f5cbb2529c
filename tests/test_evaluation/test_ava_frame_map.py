# Copyright (c) mmx3d contributors. All rights reserved.
"""The official AVA frame-mAP, checked by hand and against MMAction2."""
import numpy as np
import pytest

from mmx3d.evaluation.functional import evaluate_frame_map, tp_fp_single_class
from mmx3d.fileio import read_csv, read_exclusions, read_labelmap

LABELS = ('item {\n  name: "a"\n  id: 1\n}\n'
          'item {\n  name: "b"\n  id: 2\n}\n'
          'item {\n  name: "c"\n  id: 3\n}\n')
A = (0.1, 0.1, 0.4, 0.5)
A_SHIFTED = (0.12, 0.1, 0.42, 0.5)  # IoU with A ~0.88: a duplicate
B = (0.5, 0.1, 0.9, 0.6)
C = (0.2, 0.2, 0.6, 0.8)
D = (0.6, 0.3, 0.9, 0.9)
FAR = (0.0, 0.7, 0.1, 0.9)

# video_id, timestamp, box, action, person / score
GT = [
    ('v', 902, A, 1, 0), ('v', 902, A, 2, 0), ('v', 902, B, 1, 1),
    ('v', 903, C, 1, 0),
    ('v', 905, D, 2, 0),  # excluded key with ground truth
]
DET = [
    ('v', 902, A, 1, 0.9),  # class 1: TP
    ('v', 902, A_SHIFTED, 1, 0.8),  # duplicate: FP
    ('v', 904, C, 1, 0.75),  # key without any ground truth: FP
    ('v', 903, C, 1, 0.7),  # TP; B is never detected (missed)
    ('v', 902, FAR, 1, 0.6),  # false positive
    ('v', 903, A, 2, 0.95),  # class 2 where it has no ground truth: FP
    ('v', 902, A, 2, 0.3),  # class 2: TP
    ('v', 905, D, 2, 0.99),  # on the excluded key: ignored
    ('v', 902, B, 3, 0.99),  # class 3 has no ground truth: no AP
    ('v', 902, B, 7, 0.99),  # not in the label map: dropped
]
# class 1 (3 GT), ranked TP FP FP TP FP: precision 1 1/2 1/3 1/2 2/5,
#   recall 1/3 1/3 1/3 2/3 2/3 -> AP = 1/3 * 1 + 1/3 * 1/2 = 1/2
# class 2 (1 GT, the excluded key's does not count), ranked FP TP:
#   precision 0 1/2, recall 0 1 -> AP = 1/2
# class 3: no ground truth -> excluded from the mean
EXPECTED = {1: 0.5, 2: 0.5}


def _write_rows(path, rows):
    with open(path, 'w') as f:
        for vid, ts, box, action, last in rows:
            f.write(f'{vid},{ts:04d},{",".join(map(str, box))},{action},'
                    f'{last}\n')
    return str(path)


@pytest.fixture
def files(tmp_path):
    label = tmp_path / 'labels.pbtxt'
    label.write_text(LABELS)
    excl = tmp_path / 'excluded.csv'
    excl.write_text('v,0905\n')
    return dict(
        gt=_write_rows(tmp_path / 'gt.csv', GT),
        det=_write_rows(tmp_path / 'det.csv', DET),
        label=str(label),
        excl=str(excl))


def test_hand_computed_case(files):
    res = evaluate_frame_map(files['gt'], files['det'], files['label'],
                             files['excl'])
    per_class = {cid: (ap, n) for cid, _, ap, n in res['per_class']}
    assert per_class[1] == (pytest.approx(EXPECTED[1], abs=1e-12), 3)
    assert per_class[2] == (pytest.approx(EXPECTED[2], abs=1e-12), 1)
    assert np.isnan(per_class[3][0]) and per_class[3][1] == 0
    assert res['mAP'] == pytest.approx(0.5, abs=1e-12)
    assert res['num_gt'] == 4


def _serial_mmaction_eval(monkeypatch, *args, **kwargs):
    from mmaction.evaluation.functional import ava_utils

    class SerialPool:

        def __init__(self, *a, **k):
            pass

        def map(self, fn, items):
            return list(map(fn, items))

    monkeypatch.setattr(ava_utils.multiprocessing, 'Pool', SerialPool)
    # upstream returns np.NAN (gone in numpy 2) for a class without ground
    # truth that has detections
    monkeypatch.setattr(np, 'NAN', np.nan, raising=False)
    return ava_utils.ava_eval(*args, verbose=False, **kwargs)['overall']


def test_mmaction_deviations_are_not_reproduced(files, monkeypatch):
    """MMAction2's ``ava_eval`` counts the excluded key's ground truth and
    drops the detection on the key without ground truth; this evaluator
    follows the official protocol instead."""
    ours = evaluate_frame_map(files['gt'], files['det'], files['label'],
                              files['excl'])['mAP']
    theirs = _serial_mmaction_eval(monkeypatch, files['det'], 'mAP',
                                   files['label'], files['gt'],
                                   files['excl'])
    # theirs: class 1 = 5/9 (empty-frame FP dropped), class 2 = 1/4
    # (excluded ground truth counted, its detection not)
    assert theirs == pytest.approx((5 / 9 + 1 / 4) / 2, abs=1e-9)
    assert ours == pytest.approx(0.5, abs=1e-12)


def test_agrees_with_mmaction_without_the_deviations(tmp_path, monkeypatch):
    """No exclusions, no empty frames, < 50 rows per key: both agree.

    (Persons stand apart: MMAction2 computes IoU in float32, the official
    code in float64, which can flip a near-tie between two boxes.)
    """
    rng = np.random.default_rng(0)
    label = tmp_path / 'labels.pbtxt'
    label.write_text(LABELS)
    gt, det = [], []
    for k in range(12):
        ts = 902 + k
        for p in range(3):
            x, y = p * 0.34 + rng.uniform(0, 0.05), rng.uniform(0, 0.6)
            box = tuple(np.round([x, y, x + 0.25, y + 0.35], 3))
            for a in rng.choice([1, 2, 3], rng.integers(1, 3), replace=False):
                gt.append(('v', ts, box, int(a), p))
            for a in (1, 2, 3):
                jit = tuple(np.round(np.array(box) + rng.normal(0, 0.03, 4),
                                     3))
                det.append(('v', ts, jit, a,
                            round(float(rng.uniform()), 4)))
    gt_f = _write_rows(tmp_path / 'gt.csv', gt)
    det_f = _write_rows(tmp_path / 'det.csv', det)
    ours = evaluate_frame_map(gt_f, det_f, str(label))['mAP']
    theirs = _serial_mmaction_eval(monkeypatch, det_f, 'mAP', str(label),
                                   gt_f, None)
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_at_most_50_rows_per_key(tmp_path):
    label = tmp_path / 'labels.pbtxt'
    label.write_text(LABELS)
    gt_f = _write_rows(tmp_path / 'gt.csv', [('v', 902, A, 1, 0),
                                             ('v', 903, B, 2, 0)])
    # 50 false class-2 rows outscore the one true class-1 row of the key
    rows = [('v', 902, B, 2, 0.5 + i / 1000) for i in range(50)]
    rows.append(('v', 902, A, 1, 0.1))
    det_f = _write_rows(tmp_path / 'det.csv', rows)
    capped = evaluate_frame_map(gt_f, det_f, str(label))
    uncapped = evaluate_frame_map(gt_f, det_f, str(label),
                                  max_dets_per_key=0)
    assert capped['per_class'][0][2] == 0.0
    assert uncapped['per_class'][0][2] == 1.0


def test_matching_rules():
    gt = np.array([[0, 0, 1, 1], [0, 0.5, 1, 1.5]], dtype=float)
    # second hit on the box of highest IoU is a FP even if another box
    # overlaps >= 0.5; below 0.5 is a FP
    det = np.array([[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 0.5, 1, 1.5],
                    [5, 5, 6, 6]], dtype=float)
    assert tp_fp_single_class(det, gt).tolist() == [True, False, True, False]
    assert tp_fp_single_class(det, gt[:0]).tolist() == [False] * 4


@pytest.mark.parametrize('line, what', [
    ('v,0902,0.1,0.1,0.5\n', 'expected 7 or 8 columns'),
    ('v,09x2,0.1,0.1,0.5,0.5,1,0\n', 'invalid literal'),
    ('v,0902,0.1,0.1,0.5,0.5,one,0\n', 'invalid literal'),
])
def test_malformed_csv_names_file_and_line(tmp_path, line, what):
    path = tmp_path / 'bad.csv'
    path.write_text('v,0902,0.1,0.1,0.5,0.5,1,0\n' + line)
    with pytest.raises(ValueError, match=f'bad.csv:2: .*{what}'):
        read_csv(str(path))


def test_malformed_labelmap_and_exclusions(tmp_path):
    lm = tmp_path / 'lm.pbtxt'
    lm.write_text('item {\n  name: "a"\n  id: one\n}\n')
    with pytest.raises(ValueError, match='lm.pbtxt:3: expected an integer'):
        read_labelmap(str(lm))
    lm.write_text('nothing here\n')
    with pytest.raises(ValueError, match='no "item'):
        read_labelmap(str(lm))
    lm.write_text('item {\n  name: "a"\n  label_id: 4\n}\n')
    assert read_labelmap(str(lm)) == ([dict(id=4, name='a')], {4})
    ex = tmp_path / 'ex.csv'
    ex.write_text('v,0902\nv,0903,extra\n')
    with pytest.raises(ValueError, match='ex.csv:2: expected'):
        read_exclusions(str(ex))
    with pytest.raises(FileNotFoundError, match='missing.csv'):
        read_exclusions(str(tmp_path / 'missing.csv'))
