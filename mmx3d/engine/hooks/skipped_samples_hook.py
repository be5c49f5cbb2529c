# Copyright (c) mmx3d contributors. All rights reserved.
"""Count the files training skipped, over dataloader workers and ranks."""
from typing import Any, Optional

import torch
from mmengine import dist
from mmengine.hooks import Hook

from mmx3d.registry import HOOKS

#: metainfo key set by :class:`mmx3d.datasets.video_dataset.SkipCountMixin`
SKIPPED_KEY = 'num_skipped_files'


def count_skipped(data_batch: Any) -> int:
    """Files skipped to produce the samples of one batch.

    Args:
        data_batch: A batch as the dataloader gives it (a dict with
            ``data_samples``, or a sequence of such samples).

    Returns:
        int: The sum of ``num_skipped_files`` over the batch's data samples
        (0 where a sample has none).
    """
    samples = data_batch.get('data_samples') if isinstance(
        data_batch, dict) else data_batch
    if not isinstance(samples, (list, tuple)):
        return 0
    total = 0
    for sample in samples:
        meta = getattr(sample, 'metainfo', None)
        if isinstance(meta, dict):
            total += int(meta.get(SKIPPED_KEY, 0))
    return total


@HOOKS.register_module()
class SkippedSamplesHook(Hook):
    """Report the unreadable files training skipped in each epoch.

    The robust datasets (``RobustVideoDataset``, ``CharadesDataset``,
    ``RobustAVADataset``) replace a sample they cannot read by another one
    and write the number of replaced samples into the data sample that
    comes out (metainfo ``num_skipped_files``). The count therefore leaves
    dataloader worker processes with the batch. This hook adds it up on
    each rank, sums the ranks (one ``all_reduce`` at the last iteration of
    the epoch; with an iteration-based loop, of each pass over the
    dataloader) and puts ``skipped`` into that iteration's log line (the
    epoch's last line, through ``runner.message_hub`` as the scalar
    ``train/skipped``); with a non-zero count it also logs a warning with
    the epoch's total and the run's total.

    Validation and test never skip: the datasets raise there, naming the
    file.

    Attributes:
        epoch_skipped (int): All ranks' count of the last finished epoch.
        total_skipped (int): All ranks' count of the run so far (since
            this process started).

    Args:
        warn (bool): Log a warning when an epoch skipped files.
            Defaults to True.
    """

    # before LoggerHook (BELOW_NORMAL), which prints the iteration's line
    priority = 'NORMAL'

    def __init__(self, warn: bool = True) -> None:
        self.warn = warn
        self._count = 0
        self.epoch_skipped = 0
        self.total_skipped = 0

    def before_train_epoch(self, runner) -> None:
        """Start the epoch's count; the last epoch's value leaves the log."""
        self._count = 0
        runner.message_hub.log_scalars.pop('train/skipped', None)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        """Add the batch's count; at the epoch's end, sum over ranks."""
        self._count += count_skipped(data_batch)
        # batch_idx counts the epoch's batches (EpochBasedTrainLoop) or all
        # iterations (IterBasedTrainLoop): report once per dataloader pass
        if (batch_idx + 1) % len(runner.train_dataloader) == 0:
            self._report(runner)

    def _report(self, runner) -> None:
        count = torch.tensor([self._count], dtype=torch.int64)
        dist.all_reduce(count, op='sum')  # no-op without a process group
        self.epoch_skipped = int(count.item())
        self.total_skipped += self.epoch_skipped
        self._count = 0
        runner.message_hub.update_scalar('train/skipped',
                                         self.epoch_skipped)
        if self.warn and self.epoch_skipped:
            runner.logger.warning(
                f'SkippedSamplesHook: epoch {runner.epoch + 1}: '
                f'{self.epoch_skipped} unreadable file(s) skipped and '
                f'replaced over all ranks and workers ({self.total_skipped} '
                'in this run); their paths are in the skip messages above')


__all__ = ['SkippedSamplesHook', 'count_skipped', 'SKIPPED_KEY']
