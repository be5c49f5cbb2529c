# Copyright (c) mmx3d contributors. All rights reserved.
"""tools/demo/recognize_long.py: outputs, errors, the ONNX backend, the
stream mode, and peak memory flat in the video's length."""
import csv
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.helpers.footage import write_video

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools/demo/recognize_long.py')
SYNTHETIC = osp.join(ROOT, 'configs/x3d/x3d_xs_synthetic.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('recognize_long_tool',
                                                  TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """An untrained X3D-XS of the synthetic config (4 classes), saved as an
    mmx3d checkpoint, with its label map."""
    from mmx3d.apis.inference import init_recognizer
    root = tmp_path_factory.mktemp('tiny')
    model = init_recognizer(SYNTHETIC)
    with torch.no_grad():  # classes with different probabilities
        model.cls_head.fc_cls.weight.mul_(2000)
    ckpt = str(root / 'xs.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    names = root / 'names.txt'
    names.write_text('a\nb\nc\nd\n')
    return dict(model=model, ckpt=ckpt, names=str(names), root=root)


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    """4.004 s of H.264 at 29.97 fps."""
    root = tmp_path_factory.mktemp('long')
    return write_video(str(root / 'v.mp4'), 120, fps=30000 / 1001,
                       size=(128, 96))


def test_parse_args_paths():
    tool = _load_tool()
    args = tool.parse_args(['v.mp4', 'c.py', 'k.pth', '--window', '2'])
    assert (args.video, args.config, args.checkpoint) == ('v.mp4', 'c.py',
                                                          'k.pth')
    args = tool.parse_args(['c.py', 'k.pth', '--source', '0'])
    assert (args.video, args.config, args.source) == (None, 'c.py', '0')
    with pytest.raises(SystemExit):
        tool.parse_args(['v.mp4', 'c.py', 'k.pth', '--source', '0'])
    with pytest.raises(SystemExit):
        tool.parse_args(['c.py', 'k.pth'])


def test_outputs(tiny, video, tmp_path, capsys):
    out = {k: str(tmp_path / f'w.{k}') for k in ('csv', 'json', 'png')}
    rc = _load_tool().main([
        video, SYNTHETIC, tiny['ckpt'], '--window', '1', '--hop', '0.5',
        '--topk', '3', '--label-map', tiny['names'], '--out-csv', out['csv'],
        '--out-json', out['json'], '--timeline', out['png'],
        '--no-progress'
    ])
    assert rc == 0
    printed = capsys.readouterr().out
    # 4.004 s: windows at 0, 0.5, ... 3.0 s, then [3.004, 4.004)
    assert ('120 frames at 29.970 fps (4.00 s), 8 windows of 1 s every '
            '0.5 s') in printed
    rows = list(csv.DictReader(open(out['csv'])))
    assert [r['start'] for r in rows] == [
        '0.000000', '0.500000', '1.000000', '1.500000', '2.000000',
        '2.500000', '3.000000', '3.004000'
    ]
    assert rows[-1]['end'] == '4.004000' and rows[-1]['end_frame'] == '120'
    # ceil(0.5 s * 29.97 fps) = 15, ceil(3.004 s * 29.97) = 91
    assert rows[1]['start_frame'] == '15' and rows[-1]['start_frame'] == '91'
    doc = json.load(open(out['json']))
    assert len(doc['windows']) == 8 and doc['backend'] == 'pytorch'
    assert [r['label_1'] for r in rows] == [
        w['topk'][0]['label'] for w in doc['windows']
    ]
    with open(out['png'], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert f'written: {out["png"]}' in printed
    assert 'real-time factor' in printed


def test_errors(tiny, video, tmp_path, capsys):
    tool = _load_tool()
    assert tool.main([str(tmp_path / 'none.mp4'), SYNTHETIC,
                      tiny['ckpt']]) == 1
    assert 'no such file' in capsys.readouterr().err
    # the default Kinetics-400 label map does not fit a 4-class model
    assert tool.main([video, SYNTHETIC, tiny['ckpt'], '--no-progress']) == 1
    assert 'has 400 names but the model predicts 4 classes' in (
        capsys.readouterr().err)
    not_a_video = tmp_path / 'bad.mp4'
    not_a_video.write_bytes(b'not a video')
    assert tool.main([str(not_a_video), SYNTHETIC, tiny['ckpt'],
                      '--label-map', tiny['names']]) == 1
    assert 'cannot read video' in capsys.readouterr().err


@pytest.mark.slow
def test_onnxruntime_backend(tiny, video, tmp_path, capsys):
    pytest.importorskip('onnxruntime')
    from mmx3d.apis.deploy import export_onnx
    onnx_file = str(tmp_path / 'xs.onnx')
    export_onnx(SYNTHETIC, tiny['ckpt'], out=onnx_file)
    tool = _load_tool()
    got = {}
    for backend, ckpt in (('pytorch', tiny['ckpt']),
                          ('onnxruntime', onnx_file)):
        path = str(tmp_path / f'{backend}.json')
        assert tool.main([video, SYNTHETIC, ckpt, '--backend', backend,
                          '--label-map', tiny['names'], '--out-json', path,
                          '--no-progress', '--topk', '4']) == 0
        got[backend] = json.load(open(path))['windows']
    # the default window is a clip span of the config: 4 x 3 frames at
    # 30 fps = 0.4 s; 10 windows up to 4.0 s, then [3.604, 4.004)
    assert len(got['pytorch']) == len(got['onnxruntime']) == 11
    assert got['pytorch'][-1]['start'] == pytest.approx(3.604, abs=1e-12)
    for a, b in zip(got['pytorch'], got['onnxruntime']):
        assert a['topk'][0]['label'] == b['topk'][0]['label']
        for x, y in zip(sorted(a['topk'], key=lambda t: t['class']),
                        sorted(b['topk'], key=lambda t: t['class'])):
            assert x['score'] == pytest.approx(y['score'], abs=1e-4)
    assert capsys.readouterr().out.count('onnxruntime: ') == 1


@pytest.mark.slow
def test_stream_mode_of_a_file(tiny, video, tmp_path):
    """``--source FILE`` plays the file at its native rate, prints the
    top-k at ``--rate`` and a report; ``--out-video`` writes every frame."""
    import cv2
    out = str(tmp_path / 'live.mp4')
    res = subprocess.run([
        sys.executable, TOOL, SYNTHETIC, tiny['ckpt'], '--source', video,
        '--rate', '4', '--topk', '2', '--label-map', tiny['names'],
        '--threads', '1', '--out-video', out
    ], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.strip().splitlines()
    preds = [ln for ln in lines if ln.startswith('[')]
    assert len(preds) >= 8  # 4 s at 4 Hz, minus the first clip span
    assert all(', lag ' in ln and ln.count(' ') >= 6 for ln in preds)
    assert 'frames read 120, dropped 0' in lines[-1] or (
        'dropped' in lines[-1])
    assert f'{len(preds)} predictions in' in lines[-1]
    cap = cv2.VideoCapture(out)
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) > 100
    cap.release()


_PEAK = r'''
import runpy, sys
tool = runpy.run_path(sys.argv[1], run_name='recognize_long')
rc = tool['main'](sys.argv[2:])
with open('/proc/self/status') as f:
    peak = [ln.split()[1] for ln in f if ln.startswith('VmHWM')][0]
print('PEAK_KB', rc, peak)
'''


def _peak_kb(args):
    res = subprocess.run([sys.executable, '-c', _PEAK, TOOL, *args],
                         capture_output=True, text=True, cwd=ROOT,
                         timeout=600, env=dict(__import__('os').environ,
                                               OMP_NUM_THREADS='1'))
    assert res.returncode == 0, res.stderr[-2000:]
    line = [ln for ln in res.stdout.splitlines()
            if ln.startswith('PEAK_KB')][0]
    _, rc, peak = line.split()
    assert rc == '0', res.stdout[-2000:]
    return int(peak), res.stdout


@pytest.mark.slow
@pytest.mark.skipif(not osp.exists('/proc/self/status'),
                    reason='peak RSS from /proc')
def test_memory_is_flat_in_video_length(tiny, tmp_path):
    """10 minutes of 320x240 H.264 at 5 fps (3000 frames, 690 MB decoded)
    take at most 1.5x the peak memory of 1 minute."""
    peaks = {}
    for minutes in (1, 10):
        path = write_video(str(tmp_path / f'{minutes}.mp4'),
                           minutes * 60 * 5, fps=5, size=(320, 240),
                           gop=50)
        peaks[minutes], out = _peak_kb([
            path, SYNTHETIC, tiny['ckpt'], '--window', '2', '--hop', '10',
            '--label-map', tiny['names'], '--no-progress', '--topk', '1'
        ])
        assert f'{minutes * 60 * 5} frames at 5.000 fps' in out
        # starts 0, 10, ... and the end-aligned last window
        assert f'{minutes * 6 + 1} windows of 2 s every 10 s' in out
    assert peaks[10] <= 1.5 * peaks[1], peaks
