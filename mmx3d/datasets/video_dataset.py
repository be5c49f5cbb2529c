# Copyright (c) mmx3d contributors. All rights reserved.
"""Kinetics-style video dataset that survives bad files."""
import os.path as osp
from typing import Any, Dict, List, Sequence, Tuple

from mmaction.datasets import VideoDataset
from mmengine.logging import print_log

from mmx3d.registry import DATASETS

#: metainfo key of a data sample: files skipped to produce it (training)
SKIPPED_KEY = 'num_skipped_files'


def read_annotation_lines(ann_file: str, what: str) -> List[str]:
    """Lines of an annotation file; a clear error if it is missing.

    The file is read as UTF-8 with an optional byte-order mark (as Excel
    and Notepad write it), which is not part of the first line.

    Args:
        ann_file (str): Path of the file.
        what (str): What the file should contain (for the message).

    Returns:
        list[str]: The lines, without line ends.

    Raises:
        FileNotFoundError: naming the file and what was expected.
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'annotation file {ann_file!r} does not exist (expected {what})')
    with open(ann_file, encoding='utf-8-sig') as f:
        return f.read().splitlines()


def check_duplicates(ann_file: str,
                     entries: Sequence[Tuple[str, int]],
                     error: bool,
                     what: str = 'entry',
                     note: str = 'each copy is sampled in training') -> int:
    """Report entries listed more than once in an annotation file.

    A duplicated video is counted twice by a metric and drawn twice as
    often in training, so the video datasets make it an error in test mode
    (val/test lists) and a warning in training.

    Args:
        ann_file (str): The file, for the message.
        entries (Sequence[tuple[str, int]]): ``(key, line number)`` of
            every entry in file order.
        error (bool): Raise instead of warning.
        what (str): What a key is (``'video'``, ``'row'``), for the
            message. Defaults to ``'entry'``.
        note (str): What happens to duplicates when only warned about.
            Defaults to ``'each copy is sampled in training'``.

    Returns:
        int: The number of repeated entries (0 if none).

    Raises:
        ValueError: If ``error``, naming the file, the count and the first
            duplicates with their line numbers.
    """
    first: Dict[str, int] = {}
    repeats = []
    for key, lineno in entries:
        if key in first:
            repeats.append((key, first[key], lineno))
        else:
            first[key] = lineno
    if not repeats:
        return 0
    shown = '; '.join(f'{key!r} at {ann_file}:{lineno} (first at line '
                      f'{orig})' for key, orig, lineno in repeats[:5])
    more = f' and {len(repeats) - 5} more' if len(repeats) > 5 else ''
    msg = (f'{ann_file}: {len(repeats)} duplicated {what}(s): '
           f'{shown}{more}')
    if error:
        raise ValueError(f'{msg}; a duplicate is scored twice, remove it '
                         'from the val/test list')
    print_log(f'{msg} ({note})', logger='current', level=30)
    return len(repeats)


def check_media_root(dataset: Any, ann_file: str) -> None:
    """Fail at start when ``data_prefix.video`` / ``data_prefix.img`` is
    set but is not a directory (instead of skipping every sample).

    Args:
        dataset: A dataset with a ``data_prefix`` dict.
        ann_file (str): The annotation file, for the message.

    Raises:
        FileNotFoundError: naming the key, the directory and the list.
    """
    for key in ('video', 'img'):
        root = (dataset.data_prefix or {}).get(key)
        if root and not osp.isdir(root):
            raise FileNotFoundError(
                f'data_prefix.{key} = {root!r} is not a directory (the '
                f'media root of {ann_file}); check data_root/data_prefix')


class SkipCountMixin:
    """``BaseDataset.__getitem__`` that tells how many files it skipped.

    MMEngine's refetch loop replaces a sample whose ``prepare_data`` gave
    None by a random other one. This loop does the same and, in training,
    writes the number of replaced samples into the returned data sample's
    metainfo (``num_skipped_files``) when it is not 0. The count travels
    with the batch out of dataloader workers and DDP ranks, where
    :class:`mmx3d.engine.hooks.SkippedSamplesHook` adds it up per epoch.
    In test mode nothing is replaced: ``prepare_data`` raises.
    """

    def __getitem__(self, idx: int) -> Any:
        if not self._fully_initialized:
            self.full_init()
        if self.test_mode:
            data = self.prepare_data(idx)
            if data is None:
                raise RuntimeError(f'{type(self).__name__}: sample {idx} '
                                   'gave no data in test mode')
            return data
        first = idx
        for skipped in range(self.max_refetch + 1):
            data = self.prepare_data(idx)
            if data is not None:
                if skipped:
                    _mark_skipped(data, skipped)
                return data
            idx = self._rand_another()
        raise RuntimeError(
            f'{type(self).__name__}: sample {first} and {self.max_refetch} '
            'random replacements could not be read (see the skip messages '
            'above); is the data there?')


def _mark_skipped(data: Any, count: int) -> None:
    sample = data.get('data_samples') if isinstance(data, dict) else None
    if hasattr(sample, 'set_metainfo'):
        sample.set_metainfo({SKIPPED_KEY: count})


def _split_line(line: str, delimiter: str) -> List[str]:
    """Fields of a list-file line; see :class:`RobustVideoDataset`."""
    if delimiter != ' ':
        return [f.strip() for f in line.split(delimiter)]
    if '\t' in line:
        path, rest = line.split('\t', 1)
        return [path.strip()] + rest.split()
    return line.split()


@DATASETS.register_module()
class RobustVideoDataset(SkipCountMixin, VideoDataset):
    """MMAction2's ``VideoDataset`` with strict annotations and skip-on-error.

    What it adds:

    * The list file is validated at start: a missing file, or a line that is
      not ``path label`` (``path label label ...`` with ``multi_class``)
      with integer labels in ``[0, num_classes)``, raises at once with the
      file, the line number and the offending text. A line with a path and
      no label is an error too (in val/test it would be scored as wrong);
      ``allow_unlabelled=True`` in test mode reads it as label -1, to
      predict (``tools/test.py --dump``) for an unlabelled list.
    * Separators: with the default ``delimiter=' '``, a line with a tab is
      ``path<TAB>label [label ...]`` (the path may contain spaces);
      otherwise fields are split on any run of spaces or tabs (the path
      may not contain spaces). Another ``delimiter`` splits on exactly it.
      The file may start with a UTF-8 byte-order mark.
    * A path listed twice is reported with the line numbers: an error in
      test mode (it would be scored twice), a warning in training.
    * ``data_prefix.video`` that is not a directory fails at construction.
    * In training, a video that cannot be decoded (corrupt, truncated,
      missing) is logged with its path and replaced by another random sample;
      ``max_refetch`` bounds the retries. The number of skipped files of the
      process is kept in :attr:`num_skipped` and repeated in each skip
      message; each returned sample carries the number of files skipped to
      produce it (``num_skipped_files`` in its metainfo, see
      :class:`SkipCountMixin`), which ``SkippedSamplesHook`` sums over
      workers and ranks per epoch. In test mode such a video is an error
      naming the file, since skipping it would silently change the metric.

    Args:
        max_refetch (int): Retries before giving up. Defaults to 10.
        allow_unlabelled (bool): Test mode: a line without a label is an
            unlabelled video (label -1) instead of an error.
            Defaults to False.
        kwargs: Arguments of ``mmaction.datasets.VideoDataset``.
    """

    def __init__(self, *args, max_refetch: int = 10,
                 allow_unlabelled: bool = False, **kwargs) -> None:
        self.num_skipped = 0
        self.allow_unlabelled = allow_unlabelled
        super().__init__(*args, max_refetch=max_refetch, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse and validate the list file."""
        expect = ('"<video path> <label>" lines' if not self.multi_class else
                  '"<video path> <label> [<label> ...]" lines')
        lines = read_annotation_lines(self.ann_file, expect)
        check_media_root(self, self.ann_file)
        data_list, seen = [], []
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line:
                continue
            fields = _split_line(line, self.delimiter)
            where = f'{self.ann_file}:{lineno}'
            if len(fields) == 1:
                if not (self.test_mode and self.allow_unlabelled):
                    raise ValueError(
                        f'{where}: no label after the path in {raw!r}; '
                        f'expected {expect} (a list without labels can only '
                        'be predicted: test mode with allow_unlabelled=True)')
                labels = [-1]  # inference list without labels
            elif not self.multi_class and len(fields) > 2:
                hint = ('; a path with spaces needs a tab between path and '
                        'label' if self.delimiter == ' ' else '')
                raise ValueError(f'{where}: expected {expect}, got '
                                 f'{raw!r}{hint}')
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
            seen.append((filename, lineno))
            if self.data_prefix.get('video'):
                filename = osp.join(self.data_prefix['video'], filename)
            label = labels if self.multi_class else labels[0]
            data_list.append(dict(filename=filename, label=label))
        check_duplicates(self.ann_file, seen, self.test_mode, 'video')
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
