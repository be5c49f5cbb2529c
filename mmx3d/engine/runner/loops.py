# Copyright (c) mmx3d contributors. All rights reserved.
"""An epoch-based training loop that resumes exactly where it stopped."""
import contextlib
import logging
import os.path as osp
import re
from typing import Iterator, Optional

from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler, DataLoader, Sampler

from mmx3d.registry import LOOPS

#: Key of the training sampler's shuffle seed in the message hub, and so
#: in every checkpoint's ``message_hub.runtime_info``.
SAMPLER_SEED_KEY = 'train_sampler_seed'

_TIMEOUT = re.compile(r'timed out|timeout', re.IGNORECASE)


class _SkipSampler(Sampler):
    """The indices of ``sampler`` after its first ``skip`` ones.

    ``len()`` is that of ``sampler`` so that ``len(dataloader)`` keeps
    meaning "batches in an epoch" for the hooks (log positions, end of
    epoch) while the resumed epoch runs.
    """

    def __init__(self, sampler: Sampler, skip: int) -> None:
        self.sampler = sampler
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        indices = iter(self.sampler)
        for _ in range(self.skip):
            next(indices, None)
        return indices

    def __len__(self) -> int:
        return len(self.sampler)


@contextlib.contextmanager
def skip_batches(dataloader: DataLoader, num_batches: int):
    """Within the block, iterating ``dataloader`` starts at batch
    ``num_batches`` of the epoch, without loading the batches before it.

    With PyTorch's :class:`~torch.utils.data.BatchSampler` (what MMEngine
    builds unless the config names a ``batch_sampler``) the sampler's first
    ``num_batches * batch_size`` indices are dropped before any sample is
    read; with another batch sampler, whose batches need not be
    consecutive indices, the first ``num_batches`` batches are read and
    dropped (exact, slower).

    Args:
        dataloader (DataLoader): The training dataloader; its sampler must
            give the same order as in the interrupted run (same seed and
            epoch, which :class:`ResumableEpochBasedTrainLoop` ensures).
        num_batches (int): Batches of the epoch already trained.

    Yields:
        Iterator: An iterator over the remaining batches of the epoch.
    """
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    if num_batches <= 0:
        yield iter(dataloader)
    elif type(batch_sampler) is BatchSampler:
        sampler = batch_sampler.sampler
        batch_sampler.sampler = _SkipSampler(
            sampler, num_batches * batch_sampler.batch_size)
        try:
            yield iter(dataloader)
        finally:
            batch_sampler.sampler = sampler
    else:
        print_log(
            f'resuming mid-epoch: reading and dropping {num_batches} '
            f'batches ({type(batch_sampler).__name__} batches cannot be '
            'skipped by index)', logger='current')
        batches = iter(dataloader)
        for _ in range(num_batches):
            next(batches)
        yield batches


def is_collective_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a timed-out collective (gloo's "Timed out
    waiting ... for recv", NCCL's watchdog "collective operation
    timeout"), not a DataLoader's own timeout."""
    text = str(error)
    return (isinstance(error, RuntimeError) and bool(_TIMEOUT.search(text))
            and 'DataLoader' not in text)


def _process_group_timeout() -> Optional[float]:
    """The default process group's collective timeout in seconds, None
    if unknown (reads a private torch attribute, hence the fallback)."""
    try:
        from torch.distributed import distributed_c10d as c10d
        group = c10d._get_default_group()
        backend = group._get_backend(c10d._get_pg_default_device(group))
        return backend.options._timeout.total_seconds()
    except Exception:  # noqa: BLE001 - not initialised, or torch moved it
        return None


class CollectiveTimeoutError(RuntimeError):
    """A collective operation of distributed training timed out."""


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """MMEngine's :class:`~mmengine.runner.EpochBasedTrainLoop` that resumes
    in the middle of an epoch and names a frozen rank.

    What it adds:

    * **Mid-epoch resume.** MMEngine restores ``epoch`` and ``iter`` from a
      checkpoint but restarts the epoch from its first batch, so an
      iteration checkpoint (e.g. the one :class:`PreemptionHook` writes on
      SIGTERM) would train the epoch's first batches twice and end
      ``iter mod len(dataloader)`` iterations late. This loop skips the
      ``iter - epoch * len(dataloader)`` batches already trained (by index,
      see :func:`skip_batches`), so the run ends at the same iteration
      with the same learning rates as an uninterrupted one; hooks see the
      true ``batch_idx``.
    * **Same order after a resume.** The resumed epoch must visit the
      samples in the interrupted run's order. MMEngine seeds the sampler
      with the new run's seed before the checkpoint is loaded; this loop
      keeps the sampler's seed in the message hub (saved in every
      checkpoint under ``train_sampler_seed``) and puts it back on resume.
    * **A frozen rank named.** A collective that times out (a rank stopped,
      frozen or unreachable for ``env_cfg.dist_cfg.timeout`` seconds) ends
      training with a :class:`CollectiveTimeoutError` that says so, gives
      the timeout and the last complete checkpoint, instead of the
      backend's bare "Timed out waiting 1800000ms for recv".

    Arguments are those of ``EpochBasedTrainLoop``.
    """

    def run(self):
        """Launch training (see the class docstring)."""
        self._restore_sampler_seed()
        try:
            return super().run()
        except RuntimeError as e:
            if get_dist_info()[1] > 1 and is_collective_timeout(e):
                message = self._timeout_message(e)
                self.runner.logger.error(message)
                raise CollectiveTimeoutError(message) from e
            raise

    def run_epoch(self) -> None:
        """Iterate over the rest of the epoch: all of it, or after the
        batches an iteration checkpoint had already trained."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done = self._batches_done()
        with skip_batches(self.dataloader, done) as batches:
            for idx, data_batch in enumerate(batches, start=done):
                self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _batches_done(self) -> int:
        """Batches of the current epoch trained before a resume (0 at the
        start of an epoch)."""
        length = len(self.dataloader)
        done = self._iter - self._epoch * length
        if done == 0:
            return 0
        if not 0 < done <= length:
            print_log(
                f'resumed at iteration {self._iter} of epoch {self._epoch}, '
                f'which is not inside this epoch of {length} batches (was '
                'the checkpoint written with another number of processes '
                'or batch size?); the epoch starts from its first batch',
                logger='current', level=logging.WARNING)
            return 0
        print_log(
            f'resuming epoch {self._epoch + 1} after its first {done} of '
            f'{length} batches', logger='current')
        return done

    def _restore_sampler_seed(self) -> None:
        sampler = getattr(self.dataloader, 'sampler', None)
        if not hasattr(sampler, 'seed'):
            return
        hub = self.runner.message_hub
        saved: Optional[int] = hub.get_info(SAMPLER_SEED_KEY)
        if saved is not None and self._iter > 0 and saved != sampler.seed:
            print_log(
                f'resume: training sampler seed {sampler.seed} -> {saved} '
                '(the interrupted run\'s), so that the data order is the same',
                logger='current')
            sampler.seed = saved
        hub.update_info(SAMPLER_SEED_KEY, sampler.seed)

    def _timeout_message(self, error: BaseException) -> str:
        rank, world_size = get_dist_info()
        timeout = _process_group_timeout()
        if timeout is None:
            cfg = self.runner.cfg
            timeout = cfg.get('env_cfg', {}).get('dist_cfg',
                                                 {}).get('timeout')
        limit = (f'{timeout:g} s (env_cfg.dist_cfg.timeout)'
                 if timeout else "torch's default timeout (30 min)")
        pointer = osp.join(self.runner.work_dir, 'last_checkpoint')
        last = 'none'
        if osp.isfile(pointer):
            with open(pointer) as f:
                last = f.read().strip() or 'none'
        return (
            f'rank {rank} of {world_size}: a collective operation did not '
            f'complete within {limit} at epoch {self._epoch + 1}, iteration '
            f'{self._iter + 1}: another rank is frozen, stopped or '
            'unreachable. Training stops (tools/dist_train.sh: MMX3D_DIST_'
            'TIMEOUT sets the timeout, MAX_RESTARTS restarts the group from '
            f'the last complete checkpoint). Last checkpoint: {last}. '
            f'Backend error: {error}')


__all__ = ['ResumableEpochBasedTrainLoop', 'CollectiveTimeoutError',
           'is_collective_timeout', 'skip_batches', 'SAMPLER_SEED_KEY']
