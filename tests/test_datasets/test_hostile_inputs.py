# Copyright (c) mmx3d contributors. All rights reserved.
"""List files and videos as users and the internet make them: byte-order
marks, tabs, duplicates, missing labels, missing roots, and real H.264 /
HEVC files that are short, portrait, grey, odd-sized or variable-rate."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

import mmx3d.datasets.transforms.sampling as sampling_module
import mmx3d.datasets.video_dataset as vd_module
from mmx3d.datasets import (
    CharadesDataset,
    CharadesRawframeDataset,
    RobustAVADataset,
    RobustVideoDataset,
)
from tests.helpers.footage import write_video

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BOM = '\ufeff'


@pytest.fixture
def logs(monkeypatch):
    messages = []
    for module in (vd_module, sampling_module):
        monkeypatch.setattr(module, 'print_log',
                            lambda msg, *a, **k: messages.append(msg))
    return messages


def _videos(tmp_path, text, **kw):
    root = tmp_path / 'videos'
    root.mkdir(exist_ok=True)
    ann = tmp_path / 'list.txt'
    ann.write_text(text, encoding='utf-8')
    return RobustVideoDataset(ann_file=str(ann), pipeline=[],
                              data_prefix=dict(video=str(root)),
                              num_classes=4, **kw)


def _files(ds):
    return [osp.basename(ds.get_data_info(i)['filename'])
            for i in range(len(ds))]


# ------------------------------------------------------------- list files
@pytest.mark.parametrize('test_mode', [False, True])
def test_bom_is_not_part_of_the_first_path(tmp_path, test_mode):
    ds = _videos(tmp_path, BOM + 'a.mp4 1\nb.mp4 2\n', test_mode=test_mode)
    assert _files(ds) == ['a.mp4', 'b.mp4']
    assert ds.get_data_info(0)['label'] == 1


def test_tab_separated_lines(tmp_path):
    ds = _videos(tmp_path, 'a.mp4\t1\nmy clip.mp4\t2\nc.mp4  3\n',
                 test_mode=True)
    assert _files(ds) == ['a.mp4', 'my clip.mp4', 'c.mp4']
    assert [ds.get_data_info(i)['label'] for i in range(3)] == [1, 2, 3]


def test_multi_label_tab_line(tmp_path):
    root = tmp_path / 'videos'
    root.mkdir()
    ann = tmp_path / 'list.txt'
    ann.write_text('my clip.mp4\t1 3\n')
    ds = RobustVideoDataset(ann_file=str(ann), pipeline=[],
                            data_prefix=dict(video=str(root)),
                            multi_class=True, num_classes=4)
    assert _files(ds) == ['my clip.mp4']


def test_path_with_spaces_needs_a_tab(tmp_path):
    with pytest.raises(ValueError, match='needs a tab') as e:
        _videos(tmp_path, 'a.mp4 0\nmy clip.mp4 2\n', test_mode=True)
    assert 'list.txt:2' in str(e.value)


@pytest.mark.parametrize('test_mode', [False, True])
def test_missing_label_is_an_error_with_file_and_line(tmp_path, test_mode):
    with pytest.raises(ValueError, match='no label') as e:
        _videos(tmp_path, 'a.mp4 0\nb.mp4\n', test_mode=test_mode)
    assert f'{tmp_path / "list.txt"}:2' in str(e.value)


def test_unlabelled_list_only_when_asked(tmp_path):
    ds = _videos(tmp_path, 'a.mp4\nb.mp4\n', test_mode=True,
                 allow_unlabelled=True)
    assert [ds.get_data_info(i)['label'] for i in range(2)] == [-1, -1]


def test_duplicates_are_an_error_in_test_mode(tmp_path):
    text = 'a.mp4 0\nb.mp4 1\na.mp4 0\nc.mp4 2\nb.mp4 3\n'
    with pytest.raises(ValueError, match='2 duplicated video') as e:
        _videos(tmp_path, text, test_mode=True)
    msg = str(e.value)
    ann = str(tmp_path / 'list.txt')
    assert f"'a.mp4' at {ann}:3 (first at line 1)" in msg
    assert f"'b.mp4' at {ann}:5 (first at line 2)" in msg


def test_duplicates_are_a_warning_in_training(tmp_path, logs):
    ds = _videos(tmp_path, 'a.mp4 0\na.mp4 0\nb.mp4 1\n')
    assert len(ds) == 3
    warned = [m for m in logs if 'duplicated' in m]
    assert len(warned) == 1
    assert f"1 duplicated video(s): 'a.mp4' at {tmp_path}/list.txt:2" in \
        warned[0]


def test_missing_video_root_fails_at_construction(tmp_path):
    ann = tmp_path / 'list.txt'
    ann.write_text('a.mp4 0\n')
    root = str(tmp_path / 'no_such_dir')
    with pytest.raises(FileNotFoundError, match='data_prefix.video') as e:
        RobustVideoDataset(ann_file=str(ann), pipeline=[],
                           data_prefix=dict(video=root))
    assert root in str(e.value)


def _charades_csv(path, ids, bom=False):
    rows = ['id,subject,scene,quality,relevance,verified,script,objects,'
            'descriptions,actions,length']
    rows += [f'{vid},S,Kitchen,6,7,Yes,s,o,d,c001 0.0 2.0,10.0'
             for vid in ids]
    path.write_text((BOM if bom else '') + '\n'.join(rows) + '\n',
                    encoding='utf-8')
    return str(path)


def test_charades_bom_and_duplicates(tmp_path, logs):
    (tmp_path / 'videos').mkdir()
    prefix = dict(video=str(tmp_path / 'videos'))
    ann = _charades_csv(tmp_path / 'a.csv', ['V1', 'V2'], bom=True)
    ds = CharadesDataset(ann, [], data_prefix=prefix)
    assert [ds.get_data_info(i)['video_id'] for i in range(2)] == \
        ['V1', 'V2']
    dup = _charades_csv(tmp_path / 'dup.csv', ['V1', 'V2', 'V1'])
    with pytest.raises(ValueError, match=r"'V1' at .*dup.csv:4 \(first at "
                       'line 2'):
        CharadesDataset(dup, [], data_prefix=prefix, test_mode=True)
    CharadesDataset(dup, [], data_prefix=prefix)
    assert any('1 duplicated video id' in m for m in logs)


def test_charades_missing_roots(tmp_path):
    ann = _charades_csv(tmp_path / 'a.csv', ['V1'])
    for cls, key in ((CharadesDataset, 'video'),
                     (CharadesRawframeDataset, 'img')):
        root = str(tmp_path / f'no_{key}')
        with pytest.raises(FileNotFoundError,
                           match=f'data_prefix.{key}') as e:
            cls(ann, [], data_prefix={key: root})
        assert root in str(e.value)


def _ava(tmp_path, text, frames='frames', **kw):
    (tmp_path / 'frames' / 'v1').mkdir(parents=True, exist_ok=True)
    ann = tmp_path / 'ann.csv'
    ann.write_text(text, encoding='utf-8')
    return RobustAVADataset(str(ann), [],
                            data_prefix=dict(img=str(tmp_path / frames)),
                            **kw)


def test_ava_bom_duplicates_and_root(tmp_path, logs):
    row = 'v1,0902,0.1,0.1,0.5,0.5,3,0\n'
    ds = _ava(tmp_path, BOM + row + 'v1,0903,0.1,0.1,0.5,0.5,3,0\n')
    assert [ds.get_data_info(i)['video_id'] for i in range(len(ds))] == \
        ['v1', 'v1']
    _ava(tmp_path, row + row, test_mode=True)
    warned = [m for m in logs if 'duplicated row' in m]
    assert len(warned) == 1 and 'ann.csv:2 (first at line 1)' in warned[0]
    with pytest.raises(FileNotFoundError, match='data_prefix.img'):
        _ava(tmp_path, row, frames='no_frames')


# ------------------------------------------------------------ odd videos
def _kinetics_pipelines():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_xs_kinetics400.py'))
    return (cfg.train_dataloader.dataset.pipeline,
            cfg.test_dataloader.dataset.pipeline, cfg)


ODD_VIDEOS = {
    # name: (frames, write_video kwargs)
    'short': (10, dict(fps=30.0)),
    'portrait': (40, dict(size=(90, 160))),  # 9:16, as phones film
    'gray': (40, dict(gray=True)),
    'odd': (40, dict(size=(97, 75), pix_fmt='yuv444p')),
    'vfr': (40, dict(timestamps=list(np.cumsum([0] + [0.03, 0.05] * 20)
                                     [:40]))),
    'hevc': (40, dict(codec='libx265')),
}


@pytest.fixture(scope='module')
def odd_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp('odd_videos')
    for name, (n, kw) in ODD_VIDEOS.items():
        write_video(str(root / f'{name}.mp4'), n, **kw)
    return root


@pytest.mark.parametrize('name', sorted(ODD_VIDEOS))
def test_odd_videos_through_the_kinetics_pipelines(odd_videos, name, logs):
    train, test, cfg = _kinetics_pipelines()
    ann = odd_videos / f'{name}.txt'
    ann.write_text(f'{name}.mp4 1\n')
    crop, test_crop = cfg.train_crop, cfg.test_crop
    clip_len = cfg.clip_len
    views = [s for s in test if s['type'] == 'PySlowFastSampleFrames'
             ][0]['num_clips'] * 3
    for pipeline, test_mode, shape in (
            (train, False, (1, 3, clip_len, crop, crop)),
            (test, True, (views, 3, clip_len, test_crop, test_crop))):
        ds = RobustVideoDataset(
            ann_file=str(ann), pipeline=pipeline, test_mode=test_mode,
            data_prefix=dict(video=str(odd_videos)))
        out = ds[0]
        assert tuple(out['inputs'].shape) == shape, (name, test_mode)
        assert ds.num_skipped == 0
        x = out['inputs'].float()
        # real pictures, not padding: the frames vary in space
        assert x.std() > 5, name
        if name == 'gray':
            assert (x[:, 0] == x[:, 1]).all() and (x[:, 1] == x[:, 2]).all()


def test_short_video_is_sampled_as_specified_and_logged(odd_videos, logs):
    """10 frames at 30 fps, X3D-XS spans 4 x 12 = 48 frames: every clip is
    linspace(0, 47, 4) clamped to the last frame."""
    train, test, cfg = _kinetics_pipelines()
    from mmengine.dataset import Compose
    head = Compose(test[:2])  # DecordInit, PySlowFastSampleFrames
    out = head(dict(filename=str(odd_videos / 'short.mp4'), start_index=0,
                    modality='RGB'))
    assert out['total_frames'] == 10
    clips = out['frame_inds'].reshape(-1, 4)
    assert (clips == [0, 9, 9, 9]).all()
    short = [m for m in logs if 'short video' in m]
    assert len(short) == 1
    assert 'short.mp4' in short[0] and 'has 10 frames' in short[0]
    assert '1 short video(s) so far' in short[0]
    head(dict(filename=str(odd_videos / 'short.mp4'), start_index=0,
              modality='RGB'))
    assert len([m for m in logs if 'short video' in m]) == 1  # once each


def test_corrupt_test_video_is_named(tmp_path):
    """Val/test never drop a sample: an unreadable video is an error."""
    train, test, _ = _kinetics_pipelines()
    (tmp_path / 'videos').mkdir()
    bad = tmp_path / 'videos' / 'bad.mp4'
    bad.write_bytes(os.urandom(1024))
    ann = tmp_path / 'list.txt'
    ann.write_text('bad.mp4 0\n')
    ds = RobustVideoDataset(ann_file=str(ann), pipeline=test,
                            test_mode=True,
                            data_prefix=dict(video=str(tmp_path / 'videos')))
    with pytest.raises(RuntimeError, match=f'cannot read video .*{bad}'):
        ds[0]


def test_ava_metric_files_with_bom(tmp_path):
    """The readers the AVA metric uses (ground truth, exclusions)."""
    from mmx3d.fileio import read_csv, read_exclusions
    gt = tmp_path / 'gt.csv'
    gt.write_text(BOM + 'v1,0902,0.1,0.1,0.5,0.5,3,0\n', encoding='utf-8')
    excl = tmp_path / 'excl.csv'
    excl.write_text(BOM + 'v1,0903\n', encoding='utf-8')
    assert list(read_csv(str(gt))[0]) == ['v1,0902']
    assert read_exclusions(str(excl)) == {'v1,0903'}
