# Copyright (c) mmx3d contributors. All rights reserved.
"""AVA v2.1/v2.2 dataset with strict input checks and logged skips."""
import csv
import os.path as osp
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmaction.datasets import AVADataset
from mmengine.logging import print_log

from mmx3d.fileio.ava import make_image_key, read_exclusions, read_labelmap
from mmx3d.fileio.safe_pickle import load_data_pickle
from mmx3d.registry import DATASETS

from .video_dataset import SkipCountMixin, check_duplicates, check_media_root

#: key frames of AVA: once per second in [902, 1798]
AVA_VALID_TIMESTAMPS = (902, 1798)


def _is_unit_box(box: np.ndarray) -> bool:
    return bool(
        np.all(np.isfinite(box)) and box.min() >= 0 and box.max() <= 1
        and box[0] < box[2] and box[1] < box[3])


def load_proposals(path: str) -> Dict[str, np.ndarray]:
    """Read a person-proposal file and check every entry.

    Three formats are accepted:

    * MMAction2's pickle (``.pkl``): ``{'video_id,0902': array (N, 5)}``
      rows ``x1, y1, x2, y2, score`` (or (N, 4) without scores),
      normalised. It is read with
      :func:`mmx3d.fileio.load_data_pickle`, which admits numpy arrays and
      plain containers only: a pickle that would run code is refused
      before anything from it runs.
    * numpy ``.npz`` (no pickle at all: read with ``allow_pickle=False``),
      one array per key, e.g. ``np.savez(path, **proposals)``.
    * CSV rows ``video_id,timestamp,x1,y1,x2,y2,score``.

    Args:
        path (str): ``.pkl``, ``.npz`` or ``.csv`` file.

    Returns:
        dict[str, np.ndarray]: ``video_id,%04d`` -> (N, 5) float32, rows
        sorted by descending score (score 1 where the file has none).

    Raises:
        FileNotFoundError: if the file does not exist.
        mmx3d.fileio.UnsafePickleError: naming the file and the global a
            ``.pkl`` asks for that is not part of a proposal file.
        ValueError: naming the file and the key or line of a malformed
            entry (wrong shape, box outside [0, 1] or empty, bad key).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'proposal file {path!r} does not exist')
    out: Dict[str, np.ndarray] = {}
    if path.endswith('.csv'):
        rows = defaultdict(list)
        with open(path, newline='', encoding='utf-8-sig') as f:
            for lineno, row in enumerate(csv.reader(f), 1):
                if not row:
                    continue
                where = f'{path}:{lineno}'
                if len(row) != 7:
                    raise ValueError(f'{where}: expected video_id,timestamp,'
                                     f'x1,y1,x2,y2,score, got {row}')
                try:
                    key = make_image_key(row[0], row[1])
                    vals = [float(v) for v in row[2:]]
                except ValueError as e:
                    raise ValueError(f'{where}: {e} in {row}') from None
                if not _is_unit_box(np.array(vals[:4])):
                    raise ValueError(f'{where}: box must satisfy 0 <= x1 < '
                                     f'x2 <= 1, 0 <= y1 < y2 <= 1, got {row}')
                rows[key].append(vals)
        raw = {k: np.array(v, dtype=np.float32) for k, v in rows.items()}
    elif path.endswith('.npz'):
        try:
            with np.load(path, allow_pickle=False) as npz:
                raw = {k: npz[k] for k in npz.files}
        except ValueError as e:  # object arrays need pickle: refused
            raise ValueError(f'{path}: cannot read without pickle ({e}); '
                             'expected float arrays (N, 4) or (N, 5)'
                             ) from None
    else:
        raw = load_data_pickle(path)
        if not isinstance(raw, dict):
            raise ValueError(f'{path}: expected a dict '
                             "{'video_id,timestamp': array (N, 5)}, got "
                             f'{type(raw).__name__}')
    for key, arr in raw.items():
        where = f'{path}: key {key!r}'
        parts = str(key).split(',')
        if len(parts) != 2 or not parts[1].isdigit():
            raise ValueError(f'{where}: keys must be "video_id,timestamp"')
        arr = np.asarray(arr, dtype=np.float32)
        if arr.size == 0:
            arr = arr.reshape(0, 5)
        if arr.ndim != 2 or arr.shape[1] not in (4, 5):
            raise ValueError(f'{where}: expected an (N, 4) or (N, 5) array, '
                             f'got shape {arr.shape}')
        if arr.shape[1] == 4:
            arr = np.concatenate([arr, np.ones((len(arr), 1), np.float32)],
                                 axis=1)
        boxes = arr[:, :4]
        bad = ~(np.isfinite(boxes).all(1) & (boxes.min(1) >= 0)
                & (boxes.max(1) <= 1) & (boxes[:, 0] < boxes[:, 2])
                & (boxes[:, 1] < boxes[:, 3]))
        if bad.any():
            raise ValueError(f'{where}: box {boxes[bad][0].tolist()} is not '
                             'a normalised box (0 <= x1 < x2 <= 1, 0 <= y1 '
                             '< y2 <= 1)')
        out[make_image_key(*parts)] = arr[np.argsort(-arr[:, 4],
                                                     kind='stable')]
    return out


@DATASETS.register_module()
class RobustAVADataset(SkipCountMixin, AVADataset):
    """MMAction2's ``AVADataset`` with strict files, logged skips and the
    reference's proposal rules.

    What it adds:

    * Every input file is checked at start; a malformed annotation,
      proposal, exclusion or label-map entry raises at once with the file,
      the line (or proposal key) and what was expected: 8 columns
      ``video_id,timestamp,x1,y1,x2,y2,action_id,person_id``, an integer
      timestamp inside ``valid_timestamps`` (902..1798 for AVA), a box with
      ``0 <= x1 < x2 <= 1`` and ``0 <= y1 < y2 <= 1``, an action id in
      ``[1, num_classes)``.
    * The annotation CSV may start with a UTF-8 byte-order mark. A row
      repeated exactly is logged with its line numbers (a warning in both
      modes: the dataset merges it into one box, and the official
      evaluator reads the file as it is).
    * A media root (``data_prefix.img``) that is not a directory fails at
      construction. Missing media of one video (a frame folder or video
      that does not exist) is logged and its key frames are skipped; in
      training, a clip that fails to decode is logged and replaced by
      another one, and the sample carries the count (``num_skipped_files``,
      :class:`SkipCountMixin`) for ``SkippedSamplesHook``.
    * Proposals: pickle (read without running code), ``.npz`` or CSV;
      only those scoring at least
      ``person_det_score_thr`` (0.8 in the reference) are kept, with no
      fall-back to lower-scoring boxes. A training key frame without
      proposals trains on its ground-truth boxes alone (they are always
      added as proposals); a test key frame without proposals is skipped
      (logged), so its ground truth counts as missed, as the official
      evaluator would count it.
    * In test mode, key frames that have proposals but no ground truth are
      inferred as well (``include_proposal_only_keys``): the official
      protocol counts detections there as false positives.
    * Exclusions are looked up in a set (upstream compares every pair).

    Args:
        ann_file (str): Annotation CSV.
        pipeline (list): Data transforms.
        exclude_file (str, optional): Excluded-timestamps CSV.
        label_file (str, optional): Label map, checked when given.
        proposal_file (str, optional): Proposals (``.pkl``, ``.npz`` or
            ``.csv``, see :func:`load_proposals`).
        person_det_score_thr (float): Minimum proposal score kept.
            Defaults to 0.8.
        valid_timestamps (tuple[int, int]): Allowed key-frame timestamps
            (inclusive). Defaults to (902, 1798).
        include_proposal_only_keys (bool): Test mode: also infer key
            frames with proposals and no ground truth. Defaults to True.
        max_refetch (int): Retries after a clip fails to decode.
            Defaults to 10.
        kwargs: Further arguments of MMAction2's ``AVADataset``
            (``filename_tmpl``, ``start_index``, ``timestamp_start`` = time
            of the first frame (900), ``fps`` (30), ``num_classes``,
            ``custom_classes``, ``data_prefix``, ``test_mode`` ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List,
                 exclude_file: Optional[str] = None,
                 label_file: Optional[str] = None,
                 proposal_file: Optional[str] = None,
                 person_det_score_thr: float = 0.8,
                 valid_timestamps: Tuple[int, int] = AVA_VALID_TIMESTAMPS,
                 include_proposal_only_keys: bool = True,
                 max_refetch: int = 10,
                 **kwargs) -> None:
        self.valid_timestamps = tuple(valid_timestamps)
        self.include_proposal_only_keys = include_proposal_only_keys
        self.num_skipped = 0
        if label_file is not None:
            read_labelmap(label_file)  # raises on a malformed file
        if not 0 <= person_det_score_thr <= 1:
            raise ValueError('person_det_score_thr must be in [0, 1], got '
                             f'{person_det_score_thr}')
        self._all_proposals = None
        if proposal_file is not None:
            self._all_proposals = load_proposals(proposal_file)
        self._det_thr = person_det_score_thr
        super().__init__(
            ann_file,
            pipeline,
            exclude_file=exclude_file,
            label_file=label_file,
            proposal_file=None,  # loaded and checked above
            person_det_score_thr=person_det_score_thr,
            max_refetch=max_refetch,
            **kwargs)
        self.proposal_file = proposal_file
        self.proposals = self._all_proposals

    # ------------------------------------------------------------- parsing
    def _check_row(self, row: Sequence[str], where: str) -> dict:
        if len(row) != 8:
            raise ValueError(
                f'{where}: expected 8 columns video_id,timestamp,x1,y1,x2,'
                f'y2,action_id,person_id, got {len(row)}: {row}')
        video_id = row[0].strip()
        if not video_id:
            raise ValueError(f'{where}: empty video_id in {row}')
        try:
            timestamp = int(row[1])
        except ValueError:
            raise ValueError(f'{where}: timestamp must be an integer, got '
                             f'{row[1]!r}') from None
        lo, hi = self.valid_timestamps
        if not lo <= timestamp <= hi:
            raise ValueError(f'{where}: timestamp {timestamp} outside the '
                             f'valid key-frame range [{lo}, {hi}]')
        try:
            box = np.array([float(v) for v in row[2:6]])
            action_id = int(row[6])
            entity_id = int(row[7])
        except ValueError as e:
            raise ValueError(f'{where}: {e} in {row}') from None
        if not _is_unit_box(box):
            raise ValueError(f'{where}: box {box.tolist()} must satisfy '
                             '0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1')
        if self.custom_classes is None and not \
                1 <= action_id < self.num_classes:
            raise ValueError(f'{where}: action_id {action_id} outside '
                             f'[1, {self.num_classes})')
        return dict(
            video_id=video_id,
            timestamp=timestamp,
            entity_box=box,
            label=action_id,
            entity_id=entity_id)

    def _media_path(self, video_id: str) -> str:
        prefix = self.data_prefix.get('img') or ''
        return osp.join(prefix, video_id) if prefix else video_id

    def _make_info(self, img_key: str, records: List[dict]) -> dict:
        video_id, timestamp = img_key.split(',')
        if records:
            bboxes, labels, entity_ids = self.parse_img_record(records)
        else:
            bboxes = np.zeros((0, 4))
            labels = np.zeros((0, self.num_classes), np.float32)
            entity_ids = np.zeros(0, np.int64)
        shot_info = (0, (self.timestamp_end - self.timestamp_start) *
                     self._FPS) if self.use_frames else None
        info = dict(
            frame_dir=self._media_path(video_id),
            video_id=video_id,
            timestamp=int(timestamp),
            img_key=img_key,
            shot_info=shot_info,
            fps=self._FPS,
            ann=dict(gt_bboxes=bboxes, gt_labels=labels,
                     entity_ids=entity_ids))
        if not self.use_frames:
            info['filename'] = info.pop('frame_dir')
        return info

    def load_data_list(self) -> List[dict]:
        """Parse and check the annotation CSV (see the class docstring)."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'annotation file {self.ann_file!r} does not exist (expected '
                'AVA rows video_id,timestamp,x1,y1,x2,y2,action_id,'
                'person_id)')
        check_media_root(self, self.ann_file)
        by_key: Dict[str, List[dict]] = OrderedDict()
        seen = []
        with open(self.ann_file, newline='', encoding='utf-8-sig') as f:
            for lineno, row in enumerate(csv.reader(f), 1):
                if not row or not ''.join(row).strip():
                    continue
                rec = self._check_row(row, f'{self.ann_file}:{lineno}')
                seen.append((','.join(v.strip() for v in row), lineno))
                if self.custom_classes is not None:
                    if rec['label'] not in self.custom_classes:
                        continue
                    rec['label'] = self.custom_classes.index(rec['label'])
                key = make_image_key(rec['video_id'], rec['timestamp'])
                by_key.setdefault(key, []).append(rec)
        check_duplicates(
            self.ann_file, seen, False, 'row',
            note='merged into one box here; the metric reads the file as '
            'the official evaluator does')
        if self.test_mode and self.include_proposal_only_keys and \
                self._all_proposals is not None:
            videos = {k.split(',')[0] for k in by_key}
            lo, hi = self.valid_timestamps
            for key in self._all_proposals:
                vid, ts = key.split(',')
                if key not in by_key and vid in videos and \
                        lo <= int(ts) <= hi:
                    by_key[key] = []
        return [self._make_info(k, v) for k, v in by_key.items()]

    def _kept_proposals(self, img_key: str) -> np.ndarray:
        props = self._all_proposals.get(img_key)
        if props is None:
            return np.zeros((0, 5), np.float32)
        props = props[props[:, 4] >= self._det_thr]
        return props[:self.num_max_proposals]

    def filter_data(self) -> List[dict]:
        """Drop excluded keys, missing media and (test) keys without
        proposals; log what was dropped."""
        excluded = read_exclusions(self.exclude_file)
        data = [d for d in self.data_list if d['img_key'] not in excluded]
        n_excluded = len(self.data_list) - len(data)

        media = {d.get('frame_dir', d.get('filename')) for d in data}
        check = osp.isdir if self.use_frames else osp.isfile
        missing = sorted(p for p in media if not check(p))
        if missing:
            data = [
                d for d in data
                if d.get('frame_dir', d.get('filename')) not in missing
            ]
            shown = ', '.join(repr(p) for p in missing[:5])
            more = f' and {len(missing) - 5} more' if len(missing) > 5 else ''
            print_log(
                f'RobustAVADataset: {len(missing)} missing '
                f'{"frame folder" if self.use_frames else "video"}(s) '
                f'skipped: {shown}{more}',
                logger='current',
                level=30)
        n_missing = sum(
            1 for d in self.data_list
            if d.get('frame_dir', d.get('filename')) in missing)

        no_props = 0
        if self._all_proposals is not None:
            kept = []
            for d in data:
                if len(self._kept_proposals(d['img_key'])) == 0:
                    no_props += 1
                    if self.test_mode:
                        continue
                kept.append(d)
            data = kept
            if no_props:
                what = ('skipped (no detections; their ground truth counts '
                        'as missed)' if self.test_mode else
                        'trained on ground-truth boxes only')
                print_log(
                    f'RobustAVADataset: {no_props} key frame(s) have no '
                    f'proposal scoring >= {self._det_thr}: {what}',
                    logger='current',
                    level=30)
        print_log(
            f'RobustAVADataset: {len(data)} of {len(self.data_list)} key '
            f'frames used ({n_excluded} excluded, {n_missing} with missing '
            f'media, {no_props} without proposals) from {self.ann_file}',
            logger='current')
        return data

    # ------------------------------------------------------------- samples
    def get_data_info(self, idx: int) -> dict:
        """Key-frame info with the kept proposals and their scores."""
        proposals = self._all_proposals
        self.proposals = None  # the parent must not apply its own rules
        try:
            info = super().get_data_info(idx)
        finally:
            self.proposals = proposals
        if proposals is not None:
            props = self._kept_proposals(info['img_key'])
            info['proposals'] = props[:, :4].copy()
            info['scores'] = props[:, 4].copy()
        return info

    def prepare_data(self, idx: int):
        """Run the pipeline; log and skip (train) or name (test) failures."""
        try:
            return super().prepare_data(idx)
        except Exception as e:  # noqa: BLE001 - decoders raise anything
            info = self.get_data_info(idx)
            what = f'{info["img_key"]} ({info.get("frame_dir", "")})'
            if self.test_mode:
                raise RuntimeError(f'cannot load key frame {what}: '
                                   f'{type(e).__name__}: {e}') from e
            self.num_skipped += 1
            print_log(
                f'RobustAVADataset: skipping key frame {what} '
                f'({type(e).__name__}: {e}); {self.num_skipped} skipped so '
                'far in this process',
                logger='current',
                level=30)
            return None
