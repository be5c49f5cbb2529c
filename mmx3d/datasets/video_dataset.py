# Copyright (c) mmx3d contributors. All rights reserved.
"""Kinetics-style video dataset that survives bad files."""
import os.path as osp
from typing import List

from mmaction.datasets import VideoDataset
from mmengine.logging import print_log

from mmx3d.registry import DATASETS


def read_annotation_lines(ann_file: str, what: str) -> List[str]:
    """Lines of an annotation file; a clear error if it is missing.

    Args:
        ann_file (str): Path of the file.
        what (str): What the file should contain (for the message).

    Raises:
        FileNotFoundError: naming the file and what was expected.
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'annotation file {ann_file!r} does not exist (expected {what})')
    with open(ann_file) as f:
        return f.read().splitlines()


@DATASETS.register_module()
class RobustVideoDataset(VideoDataset):
    """MMAction2's ``VideoDataset`` with strict annotations and skip-on-error.

    What it adds:

    * The list file is validated at start: a missing file, or a line that is
      not ``path label`` (``path label label ...`` with ``multi_class``)
      with integer labels in ``[0, num_classes)``, raises at once with the
      file, the line number and the offending text. In test mode a line
      with a path only is an unlabelled video (label -1).
    * In training, a video that cannot be decoded (corrupt, truncated,
      missing) is logged with its path and replaced by another random sample;
      MMEngine's ``max_refetch`` bounds the retries. The number of skipped
      files of the process is kept in :attr:`num_skipped` and repeated in
      each skip message. In test mode such a video is an error naming the file,
      since skipping it would silently change the metric.

    Args:
        max_refetch (int): Retries before giving up. Defaults to 10.
        kwargs: Arguments of ``mmaction.datasets.VideoDataset``.
    """

    def __init__(self, *args, max_refetch: int = 10, **kwargs) -> None:
        self.num_skipped = 0
        super().__init__(*args, max_refetch=max_refetch, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse and validate the list file."""
        expect = ('"<video path> <label>" lines' if not self.multi_class else
                  '"<video path> <label> [<label> ...]" lines')
        lines = read_annotation_lines(self.ann_file, expect)
        data_list = []
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line:
                continue
            fields = line.split(self.delimiter)
            where = f'{self.ann_file}:{lineno}'
            if len(fields) < 2 or (not self.multi_class and len(fields) > 2):
                if len(fields) == 1 and self.test_mode:
                    labels = [-1]  # inference list without labels
                else:
                    raise ValueError(f'{where}: expected {expect}, got '
                                     f'{raw!r}')
            else:
                try:
                    labels = [int(x) for x in fields[1:]]
                except ValueError:
                    raise ValueError(f'{where}: labels must be integers, got '
                                     f'{raw!r}') from None
                bad = [
                    x for x in labels
                    if x < 0 or (self.num_classes is not None
                                 and x >= self.num_classes)
                ]
                if bad:
                    raise ValueError(f'{where}: label {bad[0]} is out of '
                                     f'range [0, {self.num_classes}) in '
                                     f'{raw!r}')
            filename = fields[0]
            if self.data_prefix.get('video'):
                filename = osp.join(self.data_prefix['video'], filename)
            label = labels if self.multi_class else labels[0]
            data_list.append(dict(filename=filename, label=label))
        return data_list

    def prepare_data(self, idx: int):
        """Run the pipeline; log and skip (train) or name (test) bad files."""
        try:
            return super().prepare_data(idx)
        except Exception as e:  # noqa: BLE001 - decoders raise anything
            path = self.get_data_info(idx).get('filename', f'#{idx}')
            if self.test_mode:
                raise RuntimeError(
                    f'cannot read video {path!r} ({type(e).__name__}: {e})'
                ) from e
            self.num_skipped += 1
            print_log(
                f'RobustVideoDataset: skipping unreadable video {path!r} '
                f'({type(e).__name__}: {e}); {self.num_skipped} file(s) '
                'skipped so far in this process',
                logger='current',
                level=30)
            return None
