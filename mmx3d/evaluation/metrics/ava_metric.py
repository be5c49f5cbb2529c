# Copyright (c) mmx3d contributors. All rights reserved.
"""AVA frame-level mAP for MMEngine's evaluator."""
import logging
import os
import os.path as osp
import tempfile
from typing import Any, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MessageHub, MMLogger, print_log

from mmx3d.fileio.ava import make_image_key
from mmx3d.registry import METRICS

from ..functional.ava_frame_map import MAX_DETS_PER_KEY, evaluate_frame_map


def current_log_dir() -> Optional[str]:
    """The directory of the current MMEngine log file, if any.

    The Runner logs to ``<work_dir>/<timestamp>/<timestamp>.log``, so this is
    the run's folder inside the work dir.
    """
    try:
        logger = MMLogger.get_current_instance()
    except Exception:  # noqa: BLE001 - no logger yet
        return None
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            return osp.dirname(handler.baseFilename)
    return None


@METRICS.register_module()
class AVAFrameMAP(BaseMetric):
    """The official AVA frame-mAP@0.5, with the result file it is made from.

    Every validation writes the detections in the official CSV format
    (``video_id,timestamp,x1,y1,x2,y2,action_id,score``, one row per box
    and action with score >= ``action_thr``) into the run's folder of the
    work dir, then evaluates that file with
    :func:`~mmx3d.evaluation.functional.evaluate_frame_map`: the
    ActivityNet protocol rule for rule (label-map classes only, excluded
    keys skipped for ground truth and detections, 50 rows per key,
    detections on key frames without ground truth counted as false
    positives). The per-class AP table goes to the log.

    What it changes from MMAction2's ``AVAMetric``: that protocol instead
    of ``ava_eval``'s three deviations, and no temporary CSV in the current
    directory.

    Args:
        ann_file (str): Ground-truth CSV of the evaluated split.
        label_file (str): Label map of the evaluated classes.
        exclude_file (str, optional): Excluded-timestamps CSV.
            Defaults to None.
        num_classes (int): Score columns of the model, background slot 0
            included. Defaults to 81.
        custom_classes (list[int], optional): Action id of score column
            ``j`` is ``custom_classes[j - 1]`` (as in ``AVADataset``);
            None: column ``j`` is action ``j``. Defaults to None.
        action_thr (float): Rows below this score are not written.
            Defaults to 0.002.
        iou_thr (float): Matching IoU. Defaults to 0.5.
        max_dets_per_key (int): Official per-key cap. Defaults to 50.
        out_dir (str, optional): Where to write the CSV. Defaults to the
            Runner's log folder (``<work_dir>/<timestamp>``), else a new
            temporary folder.
        return_per_class (bool): Also return ``AP_<id>`` per class.
            Defaults to False.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to ``'ava'``.
    """
    default_prefix: Optional[str] = 'ava'

    def __init__(self,
                 ann_file: str,
                 label_file: str,
                 exclude_file: Optional[str] = None,
                 num_classes: int = 81,
                 custom_classes: Optional[List[int]] = None,
                 action_thr: float = 0.002,
                 iou_thr: float = 0.5,
                 max_dets_per_key: int = MAX_DETS_PER_KEY,
                 out_dir: Optional[str] = None,
                 return_per_class: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        for name, path in (('ann_file', ann_file), ('label_file',
                                                    label_file),
                           ('exclude_file', exclude_file)):
            if path is not None and not osp.isfile(path):
                raise FileNotFoundError(f'AVAFrameMAP: {name} {path!r} '
                                        'does not exist')
        if custom_classes is not None and \
                len(custom_classes) != num_classes - 1:
            raise ValueError(f'AVAFrameMAP: {len(custom_classes)} '
                             f'custom_classes for num_classes={num_classes} '
                             '(expected num_classes - 1)')
        self.ann_file = ann_file
        self.label_file = label_file
        self.exclude_file = exclude_file
        self.num_classes = num_classes
        self.custom_classes = custom_classes
        self.action_thr = action_thr
        self.iou_thr = iou_thr
        self.max_dets_per_key = max_dets_per_key
        self.out_dir = out_dir
        self.return_per_class = return_per_class

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep each key frame's boxes and per-class scores."""
        for sample in data_samples:
            pred = sample['pred_instances']
            bboxes = pred['bboxes']
            scores = pred['scores']
            bboxes = bboxes.detach().cpu().numpy() if hasattr(
                bboxes, 'detach') else np.asarray(bboxes)
            scores = scores.detach().cpu().numpy() if hasattr(
                scores, 'detach') else np.asarray(scores)
            bboxes = bboxes.reshape(-1, 4).astype(np.float64)
            scores = scores.reshape(len(bboxes), -1) if len(bboxes) else \
                np.zeros((0, self.num_classes))
            self.results.append(
                dict(
                    video_id=sample['video_id'],
                    timestamp=int(sample['timestamp']),
                    bboxes=bboxes,
                    scores=scores))

    def action_id(self, column: int) -> int:
        """The AVA action id of score column ``column`` (>= 1)."""
        if self.custom_classes is not None:
            return int(self.custom_classes[column - 1])
        return column

    def write_csv(self, results: List[dict], path: str) -> int:
        """Write results in the official format; returns the row count."""
        rows = 0
        with open(path, 'w') as f:
            for res in results:
                key = make_image_key(res['video_id'], res['timestamp'])
                for box, score in zip(res['bboxes'], res['scores']):
                    x1, y1, x2, y2 = np.clip(box, 0, 1)
                    for col in range(1, score.shape[0]):
                        if score[col] < self.action_thr:
                            continue
                        f.write(f'{key},{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f},'
                                f'{self.action_id(col)},{score[col]:.6f}\n')
                        rows += 1
        return rows

    def _result_path(self) -> str:
        out_dir = self.out_dir or current_log_dir()
        if out_dir is None:
            out_dir = tempfile.mkdtemp(prefix='mmx3d_ava_')
        os.makedirs(out_dir, exist_ok=True)
        # during training: named by the training iterations done so far
        it = MessageHub.get_current_instance().get_info('iter')
        name = 'ava_detections' + (f'_iter{it + 1}' if it is not None else '')
        return osp.join(out_dir, f'{name}.csv')

    def compute_metrics(self, results: list) -> dict:
        """Write the result CSV, evaluate it and log per-class AP."""
        path = self._result_path()
        rows = self.write_csv(results, path)
        res = evaluate_frame_map(
            self.ann_file,
            path,
            self.label_file,
            self.exclude_file,
            iou_thr=self.iou_thr,
            max_dets_per_key=self.max_dets_per_key)
        lines = [
            f'AVA frame-mAP@{self.iou_thr}: {res["mAP"]:.4f} over '
            f'{sum(n > 0 for *_, n in res["per_class"])} classes with '
            f'ground truth ({len(results)} key frames, {rows} rows written '
            f'to {path})', f'{"id":>4} {"#gt":>6} {"AP":>7}  action'
        ]
        for cid, name, ap, n in res['per_class']:
            ap_s = f'{ap:7.4f}' if n > 0 else '    n/a'
            lines.append(f'{cid:>4} {n:>6} {ap_s}  {name}')
        print_log('\n'.join(lines), logger='current')
        out = {f'frame_mAP@{self.iou_thr}': res['mAP']}
        if self.return_per_class:
            for cid, _, ap, n in res['per_class']:
                if n > 0:
                    out[f'AP_{cid}'] = ap
        return out
