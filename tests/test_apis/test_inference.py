# Copyright (c) mmx3d contributors. All rights reserved.
"""Inference API, the Kinetics-400 label map and tools/demo/recognize.py."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

from mmx3d.apis import (
    KINETICS400_LABEL_MAP,
    VideoReadError,
    inference_recognizer,
    init_recognizer,
    read_label_map,
    recognize,
)
from mmx3d.datasets.synthetic import render_video, write_video

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'x3d', 'x3d_xs_kinetics400.py')


def test_kinetics400_label_map():
    names = read_label_map()
    assert len(names) == 400 and len(set(names)) == 400
    assert names == sorted(names)
    assert names[0] == 'abseiling' and names[-1] == 'zumba'
    assert osp.isfile(KINETICS400_LABEL_MAP)
    with open(KINETICS400_LABEL_MAP) as f:
        assert len(f.read().splitlines()) == 400


def test_read_label_map_takes_whole_lines(tmp_path):
    """One name per line, blank lines skipped; a leading number is part of
    the name (there is no ``index name`` format)."""
    path = tmp_path / 'labels.txt'
    path.write_text('riding a bike\n\n  3 legged race \nzumba\n')
    assert read_label_map(str(path)) == ['riding a bike', '3 legged race',
                                         'zumba']
    with pytest.raises(FileNotFoundError, match='nothere.txt'):
        read_label_map(str(tmp_path / 'nothere.txt'))


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A tiny synthetic video, an undecodable one and a random 400-class
    X3D-XS checkpoint."""
    d = tmp_path_factory.mktemp('demo')
    video = str(d / 'brightening.mp4')
    write_video(video, render_video(np.random.default_rng(0), 0,
                                    num_frames=16, size=48))
    broken = str(d / 'broken.mp4')
    with open(broken, 'wb') as f:
        f.write(b'\x00' * 2048)
    torch.manual_seed(0)
    model = init_recognizer(CONFIG)
    with torch.no_grad():  # spread the probabilities
        model.cls_head.fc_cls.weight.normal_(0, 0.5)
    ckpt = str(d / 'x3d_xs_random.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return dict(video=video, broken=broken, ckpt=ckpt)


def _load_demo():
    spec = importlib.util.spec_from_file_location(
        'mmx3d_demo_recognize', osp.join(ROOT, 'tools', 'demo',
                                         'recognize.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_top5(files):
    model = init_recognizer(CONFIG, files['ckpt'])
    result = inference_recognizer(model, files['video'], views=1)
    probs = result.pred_score
    assert probs.shape == (400, )
    assert abs(float(probs.sum()) - 1) < 1e-5
    top = recognize(model, files['video'], views=1)
    names = read_label_map()
    assert len(top) == 5
    expected = probs.topk(5)
    assert [n for n, _ in top] == [names[i] for i in expected.indices]
    assert [p for _, p in top] == pytest.approx(expected.values.tolist())
    with pytest.raises(ValueError, match='has 4 names but the model '
                       'predicts 400 classes'):
        recognize(model, files['video'], views=1, label_map=list('abcd'))


def test_recognize_cli(files, capsys):
    demo = _load_demo()
    assert demo.main([files['video'], CONFIG, files['ckpt'], '--views',
                      '1']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    names = set(read_label_map())
    probs = []
    for line in lines:
        p, name = line.split('  ', 1)
        assert name in names
        probs.append(float(p))
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1


@pytest.mark.parametrize('which', ['missing', 'broken'])
def test_recognize_cli_bad_video(files, capsys, tmp_path, which):
    demo = _load_demo()
    video = (str(tmp_path / 'missing.mp4')
             if which == 'missing' else files['broken'])
    assert demo.main([video, CONFIG, files['ckpt']]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert err[0].startswith(f"error: cannot read video '{video}': ")
    assert captured.out == ''
    with pytest.raises(VideoReadError, match='cannot read video'):
        model = init_recognizer(CONFIG)
        inference_recognizer(model, video)
