# Copyright (c) mmx3d contributors. All rights reserved.
"""Readers of the AVA annotation files: label map, excluded timestamps and
box CSVs.

They sit below both :mod:`mmx3d.datasets` (which checks the files a dataset
is given) and :mod:`mmx3d.evaluation` (which scores with them), so neither
imports the other. Each error names the file, the line and what was
expected.
"""
import csv
import heapq
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Set, Tuple

#: ``video_id,timestamp`` -> boxes ``[y1, x1, y2, x2]``
Boxes = Dict[str, List[List[float]]]


def make_image_key(video_id: str, timestamp) -> str:
    """The ``video_id,timestamp`` key, timestamp as 4 digits (``'a,0902'``).
    """
    return f'{video_id},{int(timestamp):04d}'


def _open_text(path: str, what: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist')
    # utf-8-sig: a byte-order mark (Excel, Notepad) is not part of row 1
    return open(path, newline='', encoding='utf-8-sig')


def read_labelmap(path: str) -> Tuple[List[dict], Set[int]]:
    """Read an AVA label map (``.pbtxt``) without protocol buffers.

    Accepts both the ``id:`` and the ActivityNet ``label_id:`` spelling::

        item {
          name: "bend/bow (at the waist)"
          id: 1
        }

    Args:
        path (str): The label map file.

    Returns:
        tuple[list[dict], set[int]]: Categories ``{'id', 'name'}`` in file
        order and the set of their ids.

    Raises:
        ValueError: naming the file and line of an item without a name, a
            non-integer or repeated id, or a file without items.
    """
    categories, ids = [], set()
    name = None
    with _open_text(path, 'label map') as f:
        for lineno, line in enumerate(f, 1):
            s = line.strip()
            if s.startswith('name:'):
                parts = s.split('"')
                if len(parts) < 3:
                    raise ValueError(f'{path}:{lineno}: expected name: '
                                     f'"..." , got {s!r}')
                name = parts[1]
            elif s.startswith('id:') or s.startswith('label_id:'):
                try:
                    class_id = int(s.split(':', 1)[1])
                except ValueError:
                    raise ValueError(f'{path}:{lineno}: expected an integer '
                                     f'id, got {s!r}') from None
                if name is None:
                    raise ValueError(f'{path}:{lineno}: id {class_id} has no '
                                     'name: line before it')
                if class_id in ids:
                    raise ValueError(f'{path}:{lineno}: id {class_id} '
                                     'appears twice')
                categories.append(dict(id=class_id, name=name))
                ids.add(class_id)
                name = None
    if not categories:
        raise ValueError(f'{path}: no "item {{ name: ... id: ... }}" '
                         'entries (expected an AVA label map .pbtxt)')
    return categories, ids


def read_exclusions(path: Optional[str]) -> Set[str]:
    """Read an excluded-timestamps CSV (``video_id,timestamp`` rows).

    Args:
        path (str, optional): The file; None gives an empty set.

    Returns:
        set[str]: The excluded ``video_id,timestamp`` keys.

    Raises:
        ValueError: naming the file and line of a malformed row.
    """
    excluded = set()
    if path is None:
        return excluded
    with _open_text(path, 'excluded-timestamps file') as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) != 2:
                raise ValueError(f'{path}:{lineno}: expected '
                                 f'"video_id,timestamp", got {row}')
            try:
                excluded.add(make_image_key(row[0], row[1]))
            except ValueError:
                raise ValueError(f'{path}:{lineno}: timestamp must be an '
                                 f'integer, got {row[1]!r}') from None
    return excluded


def read_csv(path: str,
             class_whitelist: Optional[Set[int]] = None,
             capacity: int = 0) -> Tuple[Boxes, Dict, Dict]:
    """Read AVA boxes, as the official evaluator does.

    Rows are ``video_id,timestamp,x1,y1,x2,y2,action_id[,score]``; for
    ground truth the 8th column is the person id and, as upstream, is
    read as the "score" that orders the rows of a key.

    Args:
        path (str): The CSV file.
        class_whitelist (set[int], optional): Keep only these actions.
            Defaults to None (all).
        capacity (int): Keep at most this many highest-scoring rows per
            key (all classes together); 0 keeps all. Defaults to 0.

    Returns:
        tuple[dict, dict, dict]: Per key (in order of first appearance):
        boxes ``[y1, x1, y2, x2]``, action ids and scores, sorted by
        descending score.

    Raises:
        ValueError: naming the file and line of a malformed row.
    """
    entries = OrderedDict()
    with _open_text(path, 'AVA csv file') as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) not in (7, 8):
                raise ValueError(
                    f'{path}:{lineno}: expected 7 or 8 columns '
                    '(video_id,timestamp,x1,y1,x2,y2,action_id[,score]), '
                    f'got {len(row)}: {row}')
            try:
                key = make_image_key(row[0], row[1])
                x1, y1, x2, y2 = (float(v) for v in row[2:6])
                action_id = int(row[6])
                score = float(row[7]) if len(row) == 8 else 1.0
            except ValueError as e:
                raise ValueError(f'{path}:{lineno}: {e} in {row}') from None
            if class_whitelist and action_id not in class_whitelist:
                continue
            heap = entries.setdefault(key, [])
            item = (score, action_id, y1, x1, y2, x2)
            if capacity < 1 or len(heap) < capacity:
                heapq.heappush(heap, item)
            elif score > heap[0][0]:
                heapq.heapreplace(heap, item)
    boxes, labels, scores = OrderedDict(), OrderedDict(), OrderedDict()
    for key, heap in entries.items():
        entry = sorted(heap, key=lambda tup: -tup[0])
        boxes[key] = [list(e[2:]) for e in entry]
        labels[key] = [e[1] for e in entry]
        scores[key] = [e[0] for e in entry]
    return boxes, labels, scores
