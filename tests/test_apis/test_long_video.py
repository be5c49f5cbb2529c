# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d.apis.long_video on real H.264 files (tests/helpers/footage.py):
window grids with exact time stamps, streaming decoding, the window clip
against the config's own test pipeline, the writers, ONNX Runtime and the
live-stream mode fed a file at its native rate."""
import copy
import csv
import json
import math
import os.path as osp
from fractions import Fraction

import numpy as np
import pytest
import torch

from mmx3d.apis.inference import init_recognizer
from mmx3d.apis.long_video import (
    PacedFileSource,
    TorchScorer,
    VideoFrameReader,
    Window,
    WindowPipeline,
    exact,
    exact_fps,
    label_at,
    plot_timeline,
    recognize_long,
    run_stream,
    sliding_windows,
    timeline_matrix,
    to_json,
    window_clips,
    write_csv,
    write_json,
)
from tests.helpers.footage import write_video

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC = osp.join(ROOT, 'configs/x3d/x3d_xs_synthetic.py')
XS = osp.join(ROOT, 'configs/x3d/x3d_xs_kinetics400.py')
NAMES = ['a', 'b', 'c', 'd']

# (frames, fps, (width, height)) of the test files: NTSC and PAL rates,
# sizes that are not multiples of 16
FOOTAGE = {
    'pal': (75, 25, (160, 120)),
    'ntsc': (61, 30000 / 1001, (128, 72)),
    'thirty': (47, 30, (176, 144)),
}


@pytest.fixture(scope='module')
def footage(tmp_path_factory):
    root = tmp_path_factory.mktemp('footage')
    return {
        name: write_video(str(root / f'{name}.mp4'), n, fps=fps, size=size)
        for name, (n, fps, size) in FOOTAGE.items()
    }


@pytest.fixture(scope='module')
def model():
    """X3D-XS of the synthetic config (72 px test crop), BN folded, with a
    classifier scaled so that the classes' probabilities differ."""
    m = init_recognizer(SYNTHETIC)
    with torch.no_grad():
        m.cls_head.fc_cls.weight.mul_(2000)
    from mmx3d.models.utils.fuse_bn import fuse_bn
    return fuse_bn(m).eval()


def test_exact_numbers():
    assert exact_fps(29.97002997002997) == Fraction(30000, 1001)
    assert exact_fps(23.976023976023978) == Fraction(24000, 1001)
    assert exact_fps(25.0) == 25
    assert exact(0.1) == Fraction(1, 10)
    assert exact('1.6') == Fraction(8, 5)


@pytest.mark.parametrize('frames,fps,window,hop,starts,tail', [
    # 10 s at 25 fps: 9 windows of 2 s every second, the last ends at 10 s
    (250, 25, 2, 1, [Fraction(k) for k in range(9)], None),
    # 300 frames at 29.97 fps last 10.01 s: the regular grid ends at 10 s,
    # an end-aligned window [8.01, 10.01) covers the last 0.01 s
    (300, 30000 / 1001, 2, 1, [Fraction(k) for k in range(9)],
     (Fraction(801, 100), Fraction(1001, 100))),
    # hop longer than the window: gaps, the last window ends with the video
    (100, 10, 1, 3, [Fraction(k) for k in (0, 3, 6, 9)], None),
    # 0.5 s windows every 0.2 s over 2.4 s at 30 fps: 10 up to [1.8, 2.3),
    # then [1.9, 2.4)
    (72, 30, 0.5, 0.2, [Fraction(k, 5) for k in range(10)],
     (Fraction(19, 10), Fraction(12, 5))),
])
def test_sliding_windows_time_stamps(frames, fps, window, hop, starts,
                                     tail):
    windows = sliding_windows(frames, fps, window, hop)
    rate = exact_fps(fps)
    want = [(s, s + exact(window)) for s in starts]
    if tail:
        want.append(tail)
    assert [(w.start, w.end) for w in windows] == want
    assert [w.index for w in windows] == list(range(len(want)))
    for w in windows:  # frame i lies at i / fps
        assert w.start_frame == math.ceil(w.start * rate)
        assert w.end_frame == min(frames, math.ceil(w.end * rate))
    assert windows[-1].end_frame == frames
    without = sliding_windows(frames, fps, window, hop, tail=False)
    assert len(without) == len(starts)


def test_sliding_windows_frames_are_those_inside():
    """Exhaustively: frame i is in a window iff start <= i / fps < end."""
    for frames, fps, window, hop in [(301, 30000 / 1001, 1.5, 0.7),
                                     (97, 12.5, 0.8, 0.8),
                                     (500, 24000 / 1001, 3, 2.5)]:
        rate = exact_fps(fps)
        for w in sliding_windows(frames, fps, window, hop):
            inside = [i for i in range(frames)
                      if w.start <= Fraction(i) / rate < w.end]
            assert list(range(w.start_frame, w.end_frame)) == inside


def test_short_video_is_one_window():
    (w, ) = sliding_windows(20, 25, 2, 1)
    assert (w.start, w.end, w.start_frame, w.end_frame) == (0, Fraction(
        4, 5), 0, 20)
    with pytest.raises(ValueError, match='window and hop must be positive'):
        sliding_windows(20, 25, 2, 0)
    with pytest.raises(ValueError, match='no frames'):
        sliding_windows(0, 25, 2, 1)


@pytest.mark.parametrize('name', list(FOOTAGE))
def test_reader_decodes_in_order_like_pyav(footage, name):
    import av
    frames, fps, (width, height) = FOOTAGE[name]
    reader = VideoFrameReader(footage[name])
    assert reader.num_frames == frames
    assert reader.fps == exact_fps(fps)
    with av.open(footage[name]) as container:
        ref = [f.to_ndarray(format='rgb24')
               for f in container.decode(video=0)]
    assert len(ref) == frames
    wanted = [0, 1, 7, 8, 30, frames - 1]  # gaps are skipped, not decoded
    got = list(reader.read(wanted))
    assert [i for i, _ in got] == wanted
    for i, frame in got:
        assert frame.shape == (height, width, 3)
        np.testing.assert_array_equal(frame, ref[i])
    # a second pass starts again at the first frame
    (i, again), = reader.read([5])
    np.testing.assert_array_equal(again, ref[5])


def test_window_clips_hold_only_unfinished_windows():
    """1000 frames, windows of 10 frames, clips of 4 frames: at most one
    clip's frames are held (a streaming pass, memory flat in length)."""
    windows = sliding_windows(1000, 10, 1, 1)
    for w in windows:
        w.frame_inds = np.array([0, 3, 6, 9]) + w.start_frame
    stats = {}
    frames = ((i, np.full(1, i)) for i in range(1000))
    out = list(window_clips(frames, windows, stats))
    assert [w.index for w, _ in out] == list(range(100))
    for w, clip in out:
        assert [int(f[0]) for f in clip] == w.frame_inds.tolist()
    assert stats['max_frames_held'] == 4


def test_window_clips_overlap_and_early_end():
    windows = [Window(0, 0, 0, 0, 10, np.array([0, 4, 8])),
               Window(1, 0, 0, 4, 14, np.array([4, 8, 12]))]
    out = list(window_clips(((i, i) for i in range(14)), windows))
    assert [clip for _, clip in out] == [[0, 4, 8], [4, 8, 12]]
    with pytest.raises(Exception, match='ended before frame 12 of window 1'):
        list(window_clips(((i, i) for i in range(10)), windows, None,
                          'v.mp4'))


def test_window_pipeline_is_the_test_pipeline_with_one_view():
    from mmengine.config import Config
    cfg = Config.fromfile(XS)
    pipe = WindowPipeline(cfg)
    types = [s['type'] for s in pipe.steps]
    assert types == ['PySlowFastSampleFrames', 'Resize', 'CenterCrop',
                     'FormatShape', 'PackActionInputs']
    assert pipe.steps[0]['num_clips'] == 1
    assert pipe.steps[2]['crop_size'] == 182  # ThreeCrop's size
    # X3D-XS, 4 x 12 at 30 fps: a 2 s window at 25 fps from frame 50
    w = Window(0, Fraction(2), Fraction(4), 50, 100)
    # span = 4 * 12 * 25 / 30 = 40 frames, linspace(0, 39, 4)
    assert pipe.frame_inds(w, 25).tolist() == [50, 63, 76, 89]
    assert pipe.span_frames(25) == 40
    bad = copy.deepcopy(cfg)
    bad.test_pipeline = [s for s in cfg.test_pipeline
                         if s['type'] != 'DecordDecode']
    with pytest.raises(ValueError, match='followed by one decoder'):
        WindowPipeline(bad)


def _direct_scores(model, video, window):
    """The config's own test pipeline (decord with seeking, 1 clip, the
    middle crop) on the window's frames, scored by the model."""
    from mmengine.dataset import Compose, pseudo_collate
    steps = []
    for step in model.cfg.test_pipeline:
        step = dict(step)
        if step['type'] == 'PySlowFastSampleFrames':
            step['num_clips'] = 1
        if step['type'] == 'ThreeCrop':
            step = dict(type='CenterCrop', crop_size=step['crop_size'])
        steps.append(step)

    def as_window(results):  # the window as a video of its own
        results['total_frames'] = window.end_frame - window.start_frame
        results['start_index'] = window.start_frame
        return results

    sampled = []

    def keep_inds(results):
        sampled.append(results['frame_inds'].copy())
        return results

    pipeline = Compose(steps[:1] + [as_window] + steps[1:2] + [keep_inds] +
                       steps[2:])
    data = pipeline(dict(filename=video, label=-1, start_index=0,
                         modality='RGB'))
    with torch.no_grad():
        out = model.test_step(pseudo_collate([data]))
    return sampled[0], out[0].pred_score.double().numpy()


@pytest.mark.parametrize('name', ['pal', 'ntsc'])
def test_window_scores_are_the_test_pipeline_scores(footage, model, name):
    """Every window scores what the config's test pipeline, decoding the
    window's clip frames with seeking, gives for them."""
    res = recognize_long(TorchScorer(model), footage[name], window=0.9,
                         hop=0.7, topk=4, label_map=NAMES)
    assert len(res.windows) == len(sliding_windows(
        FOOTAGE[name][0], FOOTAGE[name][1], 0.9, 0.7))
    spread = 0.0
    for w in res.windows:
        inds, want = _direct_scores(model, footage[name], w)
        np.testing.assert_array_equal(inds, w.frame_inds)
        got = np.zeros(4)
        for c, n, s in w.topk:
            assert NAMES[c] == n
            got[c] = s
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        spread = max(spread, want.max() - want.min())
    assert spread > 0.05  # the classes' scores differ


def test_writers(footage, model, tmp_path):
    res = recognize_long(TorchScorer(model), footage['pal'], window=1,
                         hop=0.5, topk=2, label_map=NAMES)
    # 3 s: windows start every 0.5 s up to 2 s
    assert [float(w.start) for w in res.windows] == [0, .5, 1, 1.5, 2]
    rows = list(csv.reader(open(write_csv(res, str(tmp_path / 'w.csv')))))
    assert rows[0] == ['index', 'start', 'end', 'start_frame', 'end_frame',
                       'label_1', 'score_1', 'label_2', 'score_2']
    assert rows[2][:5] == ['1', '0.500000', '1.500000', '13', '38']
    for row, w in zip(rows[1:], res.windows):
        assert row[5] == w.topk[0][1]
        assert float(row[6]) == pytest.approx(w.topk[0][2], abs=1e-6)
        assert float(row[6]) >= float(row[8])
    doc = json.load(open(write_json(res, str(tmp_path / 'w.json'))))
    assert doc == json.loads(json.dumps(to_json(res)))
    assert (doc['num_frames'], doc['fps'], doc['duration']) == (75, 25.0,
                                                                3.0)
    assert doc['windows'][4]['end_frame'] == 75
    assert doc['windows'][1]['frame_inds'] == res.windows[1].frame_inds.tolist()
    assert doc['windows'][0]['topk'][0].keys() == {'class', 'label', 'score'}
    png = plot_timeline(res, str(tmp_path / 't.png'))
    import matplotlib.image
    img = matplotlib.image.imread(png)
    names, mat = timeline_matrix(res)
    assert img.shape[1] == 640 and img.ndim == 3  # 8 inches at 80 dpi
    assert mat.shape == (len(names), 5)
    assert set(names) == {n for w in res.windows for _, n, _ in w.topk}
    # the nearest window centre labels a time
    # (centres 0.5, 1, 1.5, 2, 2.5 s)
    assert [label_at(res, t).index for t in (0, 1.24, 1.26, 9)] == [0, 1, 2, 4]


def test_overlay_video(footage, model, tmp_path):
    import cv2

    from mmx3d.apis.long_video import write_overlay_video
    res = recognize_long(TorchScorer(model), footage['thirty'], window=0.5,
                         topk=1, label_map=NAMES)
    out = write_overlay_video(res, str(tmp_path / 'o.mp4'))
    cap = cv2.VideoCapture(out)
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 47
    ok, first = cap.read()
    cap.release()
    reader = VideoFrameReader(footage['thirty'])
    (_, plain), = reader.read([0])
    diff = np.abs(first.astype(int) - plain[..., ::-1]).max(-1) > 60
    assert diff[:20, :].sum() > 30  # text drawn top left
    assert diff[60:, :].mean() < 0.01  # the rest is the video


def test_onnxruntime_gives_the_pytorch_top1(footage, model, tmp_path):
    pytest.importorskip('onnxruntime')
    from mmx3d.apis.deploy import export_onnx
    from mmx3d.apis.long_video import OnnxScorer
    onnx_file = str(tmp_path / 'xs.onnx')
    export_onnx(model, out=onnx_file)
    kw = dict(window=1, hop=1, topk=4, label_map=NAMES)
    ref = recognize_long(TorchScorer(model), footage['ntsc'], **kw)
    got = recognize_long(OnnxScorer(onnx_file, model.cfg), footage['ntsc'],
                         **kw)
    assert got.backend == 'onnxruntime'
    for a, b in zip(got.windows, ref.windows):
        assert a.topk[0][0] == b.topk[0][0]
        assert dict((c, s) for c, _, s in a.topk) == pytest.approx(
            dict((c, s) for c, _, s in b.topk), abs=1e-4)


def test_paced_source_sleeps_to_time_stamps_and_drops_when_late(footage):
    """A fake clock: frame i is due at i / 25 s; a source that is more than
    a frame period late skips frames instead."""
    now = [100.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    src = PacedFileSource(footage['pal'], clock=lambda: now[0], sleep=sleep)
    assert src.fps == 25
    t, frame = src.read()
    assert t == 100.0 and frame.shape == (120, 160, 3) and not slept
    t, _ = src.read()
    assert t == pytest.approx(100.04) and slept == [pytest.approx(0.04)]
    now[0] += 0.21  # over 5 periods late: frames 2..5 are lost
    t, _ = src.read()
    assert src.dropped == 4 and t == pytest.approx(100.24)
    n = 3 + sum(1 for _ in iter(src.read, None))
    assert n + src.dropped == 75
    src.release()


@pytest.mark.slow
def test_stream_of_a_file_never_lags_a_clip_span(tmp_path):
    """X3D-XS (Kinetics-400 config, 4 x 12 frames at 182 px) on a file
    played at its native 25 fps as a stream, 3 predictions a second."""
    video = write_video(str(tmp_path / 's.mp4'), 200, fps=25,
                        size=(320, 240))
    scorer = TorchScorer(init_recognizer(XS, fuse=True))
    seen = []
    threads = torch.get_num_threads()
    report = run_stream(scorer, video, rate=3, topk=3, threads=1,
                        on_prediction=lambda t, lag, top: seen.append(
                            (t, lag, top)))
    assert torch.get_num_threads() == threads
    assert report.clip_span_s == pytest.approx(1.6)
    assert report.frames_read + report.frames_dropped == 200
    # the first prediction needs a full clip span (1.6 s of 8 s)
    assert report.predictions == len(seen) >= 10
    assert report.max_lag_s <= report.clip_span_s
    assert [lag for _, lag, _ in seen] == report.lags
    times = [t for t, _, _ in seen]
    assert times == sorted(times) and times[0] >= 1.56
    assert all(len(top) == 3 for _, _, top in seen)
