# Copyright (c) mmx3d contributors. All rights reserved.
"""The synthetic-data CLIs under tools/data run as plain scripts (they
import only the installed package)."""
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _run(tool, *args):
    res = subprocess.run([sys.executable, osp.join(ROOT, tool), *args],
                         capture_output=True, text=True, cwd='/',
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


@pytest.mark.slow
def test_synthetic_kinetics(tmp_path):
    out = _run('tools/data/synthetic/generate.py', str(tmp_path), '--train',
               '4', '--val', '2', '--frames', '4', '--size', '16')
    assert out.splitlines() == [
        f'train: {tmp_path}/train_list_videos.txt',
        f'val: {tmp_path}/val_list_videos.txt'
    ]
    assert len(_lines(tmp_path / 'train_list_videos.txt')) == 4
    assert len(_lines(tmp_path / 'val_list_videos.txt')) == 2
    assert _lines(tmp_path / 'label_map.txt') == [
        'brightening', 'darkening', 'flash', 'dip']


@pytest.mark.slow
def test_synthetic_ava(tmp_path):
    out = _run('tools/data/ava/generate_synthetic.py', str(tmp_path),
               '--train-videos', '1', '--val-videos', '1', '--keyframes',
               '2', '--width', '32', '--height', '24')
    files = dict(line.split(': ', 1) for line in out.splitlines())
    keys = {line.split(',')[1] for line in _lines(files['ann_file_val'])}
    assert keys == {'0902', '0903'}


@pytest.mark.slow
def test_synthetic_charades(tmp_path):
    out = _run('tools/data/charades/generate_synthetic.py', str(tmp_path),
               '--train', '3', '--test', '2', '--frames', '8')
    files = dict(line.split(': ', 1) for line in out.splitlines())
    assert set(files) == {'train', 'test'}
    # header + one row per video
    assert len(_lines(files['train'])) == 4
    assert len(_lines(files['test'])) == 3
