# Copyright (c) mmx3d contributors. All rights reserved.
"""Charades (Sigurdsson et al., ECCV 2016) from its official annotation CSV.

The official files ``Charades_v1_{train,test}.csv`` have one video per row;
the columns used here are ``id`` and ``actions``, a ``;``-separated list of
``<class> <start s> <end s>`` items, e.g. ``c092 11.90 21.20;c147 0.00 12.60``
(an empty field: a video without actions, kept as all-negative). The class
list ``Charades_v1_classes.txt`` (``c000 Holding some clothes``) is optional.

Targets are multi-hot float vectors of length ``num_classes`` (157):

* validation / test (and the default of every sample): all the classes of
  the video;
* training: the classes whose intervals overlap the sampled clip. This needs
  the clip's frames, so it is done by the :class:`ClipLabelFromIntervals`
  transform placed right after ``SampleFrames``.
"""
import csv
import math
import os
import os.path as osp
import re
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from mmx3d.registry import DATASETS

from .video_dataset import (
    RobustVideoDataset,
    check_duplicates,
    check_media_root,
    read_annotation_lines,
)

_ITEM = re.compile(r'c(\d+)\s+(\S+)\s+(\S+)')
_EXPECT = ('"<class> <start> <end>" items separated by ";", e.g. '
           '"c092 11.90 21.20;c147 0.00 12.60"')


def parse_actions(text: str, num_classes: int) -> np.ndarray:
    """Parse a Charades ``actions`` field.

    Args:
        text (str): The field, e.g. ``'c092 11.90 21.20;c147 0.00 12.60'``.
            Empty or blank means no actions.
        num_classes (int): Class ids must lie in ``[0, num_classes)``.

    Returns:
        np.ndarray: float64 array (K, 3) of ``(class, start, end)`` rows in
        the order of the field, seconds.

    Raises:
        ValueError: on any malformed item: a wrong pattern, a class out of
            range, a time that is not a finite number >= 0, or start > end.
            The message names the offending item.
    """
    text = text.strip()
    if not text:
        return np.zeros((0, 3))
    rows = []
    for item in text.split(';'):
        item = item.strip()
        m = _ITEM.fullmatch(item)
        if m is None:
            raise ValueError(f'item {item!r} is not "cNNN <start> <end>"')
        cls = int(m.group(1))
        if cls >= num_classes:
            raise ValueError(f'class c{m.group(1)} of item {item!r} is out '
                             f'of range [0, {num_classes})')
        try:
            start, end = float(m.group(2)), float(m.group(3))
        except ValueError:
            raise ValueError(f'times of item {item!r} are not numbers'
                             ) from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0:
            raise ValueError(f'times of item {item!r} must be finite and '
                             '>= 0')
        if start > end:
            raise ValueError(f'item {item!r} starts after it ends')
        rows.append((cls, start, end))
    return np.asarray(rows, dtype=np.float64)


def read_class_names(label_file: str) -> Tuple[str, ...]:
    """Class names from ``Charades_v1_classes.txt`` (``c000 name`` lines).

    Raises:
        ValueError: naming the file and line when a line is not
            ``cNNN <name>`` or the ids are not 0, 1, 2, ... in order.
    """
    names = []
    lines = read_annotation_lines(label_file, '"cNNN <class name>" lines')
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        m = re.fullmatch(r'c(\d+)\s+(.+)', raw.strip())
        if m is None or int(m.group(1)) != len(names):
            raise ValueError(f'{label_file}:{lineno}: expected "c'
                             f'{len(names):03d} <class name>", got {raw!r}')
        names.append(m.group(2).strip())
    return tuple(names)


@DATASETS.register_module()
class CharadesDataset(RobustVideoDataset):
    """Charades videos, decoded with decord, from the official CSV.

    Each sample's info carries ``filename``, ``video_id``, ``label`` (the
    video-level multi-hot float tensor), ``actions`` ((K, 3) array of
    ``class, start, end`` in seconds), ``num_classes`` and ``duration`` (the
    CSV's ``length`` column, seconds, or -1 when absent).

    What it adds to MMAction2's ``VideoDataset`` (via
    :class:`RobustVideoDataset`: skip-on-error in training): reading the
    official CSV, validated at start (a missing ``id``/``actions`` column, an
    empty id or a malformed ``actions`` field raises with the file, the line
    and the offending text; a UTF-8 byte-order mark is skipped; a repeated
    video id is an error in test mode and a warning in training; a
    ``data_prefix`` directory that does not exist fails at construction),
    and the interval annotations that
    :class:`ClipLabelFromIntervals` turns into clip-level targets.

    Args:
        ann_file (str): ``Charades_v1_train.csv`` / ``Charades_v1_test.csv``.
        pipeline (list[dict | callable]): Data pipeline.
        data_prefix (dict): ``dict(video=<video dir>)``.
            Defaults to ``dict(video='')``.
        num_classes (int): Number of classes. Defaults to 157.
        filename_tmpl (str): Video file name of an id.
            Defaults to ``'{}.mp4'``.
        label_file (str, optional): ``Charades_v1_classes.txt``; its names
            become ``metainfo['classes']``. Defaults to None.
        kwargs: Further arguments of :class:`RobustVideoDataset`
            (``test_mode``, ``max_refetch``, ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[Dict, Callable]],
                 data_prefix: Dict = dict(video=''),
                 num_classes: int = 157,
                 filename_tmpl: str = '{}.mp4',
                 label_file: Optional[str] = None,
                 **kwargs) -> None:
        self.filename_tmpl = filename_tmpl
        if label_file is not None:
            names = read_class_names(label_file)
            if len(names) != num_classes:
                raise ValueError(f'{label_file}: {len(names)} classes, but '
                                 f'num_classes={num_classes}')
            kwargs['metainfo'] = dict(
                kwargs.get('metainfo') or {}, classes=names)
        super().__init__(
            ann_file,
            pipeline,
            data_prefix=data_prefix,
            num_classes=num_classes,
            **kwargs)

    def _read_rows(self) -> List[Dict]:
        """Parse and validate the CSV into id / actions / duration rows."""
        read_annotation_lines(self.ann_file, 'the Charades CSV')  # exists?
        check_media_root(self, self.ann_file)
        rows, seen = [], []
        # utf-8-sig: a byte-order mark is not part of the first column name
        with open(self.ann_file, newline='', encoding='utf-8-sig') as f:
            reader = csv.DictReader(f)
            missing = {'id', 'actions'} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(
                    f'{self.ann_file}:1: the header lacks column(s) '
                    f'{sorted(missing)}; expected the official Charades CSV '
                    f'header (id,...,actions,length), got '
                    f'{reader.fieldnames}')
            for row in reader:
                where = f'{self.ann_file}:{reader.line_num}'
                vid = (row.get('id') or '').strip()
                if not vid:
                    raise ValueError(f'{where}: empty video id in {row}')
                text = row.get('actions') or ''
                try:
                    actions = parse_actions(text, self.num_classes)
                except ValueError as e:
                    raise ValueError(
                        f'{where}: malformed actions field of video {vid!r}:'
                        f' {text!r} ({e}); expected {_EXPECT}') from None
                try:
                    duration = float(row.get('length') or -1)
                except ValueError:
                    raise ValueError(f'{where}: length of video {vid!r} is '
                                     f'not a number: {row["length"]!r}'
                                     ) from None
                rows.append(dict(video_id=vid, actions=actions,
                                 duration=duration))
                seen.append((vid, reader.line_num))
        check_duplicates(self.ann_file, seen, self.test_mode, 'video id')
        return rows

    def _video_label(self, actions: np.ndarray) -> np.ndarray:
        label = np.zeros(self.num_classes, np.float32)
        label[actions[:, 0].astype(np.int64)] = 1
        return label

    def load_data_list(self) -> List[Dict]:
        """One entry per CSV row (videos without actions included)."""
        data_list = []
        for row in self._read_rows():
            filename = self.filename_tmpl.format(row['video_id'])
            if self.data_prefix.get('video'):
                filename = osp.join(self.data_prefix['video'], filename)
            data_list.append(
                dict(filename=filename,
                     label=self._video_label(row['actions']),
                     num_classes=self.num_classes,
                     **row))
        return data_list

    def get_data_info(self, idx: int) -> Dict:
        """Sample info with ``label`` as a float tensor (multi-hot).

        A float tensor passes ``PackActionInputs`` unchanged (a numpy array
        would be cast to integers).
        """
        info = super().get_data_info(idx)
        info['label'] = torch.as_tensor(info['label'], dtype=torch.float32)
        return info


@DATASETS.register_module()
class CharadesRawframeDataset(CharadesDataset):
    """Charades from extracted frames (``Charades_v1_rgb``).

    The official frames are ``<id>/<id>-000001.jpg`` ... at 24 fps. The
    number of frames of each video is counted at start (a missing folder is
    an error naming it); ``avg_fps`` is set from ``fps`` so that
    :class:`ClipLabelFromIntervals` can place the clip in time. Use it with
    ``SampleFrames`` + ``RawFrameDecode``.

    Args:
        ann_file (str): The Charades CSV.
        pipeline (list[dict | callable]): Data pipeline.
        data_prefix (dict): ``dict(img=<frame root>)``.
            Defaults to ``dict(img='')``.
        filename_tmpl (str): Frame file name; ``{video}`` is replaced by the
            id and ``{:06d}`` by the frame index.
            Defaults to ``'{video}-{:06d}.jpg'``.
        fps (float): Frame rate of the extracted frames. Defaults to 24.
        start_index (int): Index of the first frame file. Defaults to 1.
        kwargs: Further arguments of :class:`CharadesDataset`.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[Dict, Callable]],
                 data_prefix: Dict = dict(img=''),
                 filename_tmpl: str = '{video}-{:06d}.jpg',
                 fps: float = 24.0,
                 start_index: int = 1,
                 **kwargs) -> None:
        self.fps = float(fps)
        super().__init__(
            ann_file,
            pipeline,
            data_prefix=data_prefix,
            filename_tmpl=filename_tmpl,
            start_index=start_index,
            **kwargs)

    def load_data_list(self) -> List[Dict]:
        """One entry per CSV row, with the frame count of its folder."""
        ext = osp.splitext(self.filename_tmpl)[1]
        root = self.data_prefix.get('img') or ''
        data_list = []
        for row in self._read_rows():
            vid = row['video_id']
            frame_dir = osp.join(root, vid)
            if not osp.isdir(frame_dir):
                raise FileNotFoundError(
                    f'{self.ann_file}: frame folder {frame_dir!r} of video '
                    f'{vid!r} does not exist')
            total = sum(1 for n in os.listdir(frame_dir) if n.endswith(ext))
            data_list.append(
                dict(frame_dir=frame_dir,
                     filename=frame_dir,  # named by skip/error messages
                     total_frames=total,
                     filename_tmpl=self.filename_tmpl.replace('{video}', vid),
                     avg_fps=self.fps,
                     label=self._video_label(row['actions']),
                     num_classes=self.num_classes,
                     **row))
        return data_list
