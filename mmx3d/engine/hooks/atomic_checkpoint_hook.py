# Copyright (c) mmx3d contributors. All rights reserved.
"""A CheckpointHook whose files are never half-written or non-finite.

The reusable pieces:

* :func:`save_checkpoint_atomic`: one checkpoint through the Runner, written
  to a per-process temporary name, ``fsync``-ed and renamed into place,
  then the ``last_checkpoint`` pointer replaced the same way. Refuses a
  model with NaN/inf values (:class:`NonFiniteCheckpointError`).
* :func:`atomic_write_text`: the same for a small text file.
* :func:`nonfinite_keys`: the state-dict keys holding NaN/inf.
"""
import contextlib
import os
import os.path as osp
import secrets
from typing import Iterable, List, Mapping, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper

from mmx3d.registry import HOOKS


class NonFiniteCheckpointError(RuntimeError):
    """A checkpoint was about to be written from NaN/inf weights."""


def tmp_name(path: str) -> str:
    """A temporary name next to ``path``, unique to this process and call.

    ``<path>.tmp.<pid>.<8 hex digits>``: two processes (or two saves of one
    process) never write the same temporary file, and the name never ends
    in ``.pth``, so no checkpoint search ever takes it.

    Args:
        path (str): The final file name.

    Returns:
        str: The temporary file name.
    """
    return f'{path}.tmp.{os.getpid()}.{secrets.token_hex(4)}'


def _fsync_file(path: str) -> None:
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse it
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Args:
        path (str): The file to (re)place.
        text (str): Its new content.
    """
    tmp = tmp_name(path)
    try:
        with open(tmp, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def nonfinite_keys(state_dict: Mapping[str, torch.Tensor]) -> List[str]:
    """The keys of floating-point tensors that hold NaN or inf.

    Args:
        state_dict (Mapping[str, Tensor]): A model state dict (other values
            are ignored).

    Returns:
        list[str]: The offending keys, in the state dict's order.
    """
    bad = []
    for key, value in state_dict.items():
        if (isinstance(value, torch.Tensor) and value.is_floating_point()
                and not bool(torch.isfinite(value).all())):
            bad.append(key)
    return bad


def _format_keys(keys: Iterable[str], limit: int = 5) -> str:
    keys = list(keys)
    shown = ', '.join(keys[:limit])
    more = f' and {len(keys) - limit} more' if len(keys) > limit else ''
    return f'{shown}{more}'


def check_finite_model(runner, filename: str) -> None:
    """Raise if the runner's model holds NaN/inf values.

    Args:
        runner (Runner): The runner whose (unwrapped) model is checked.
        filename (str): The checkpoint about to be written, for the
            message.

    Raises:
        NonFiniteCheckpointError: Naming the checkpoint, the iteration and
            the first offending state-dict keys.
    """
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    bad = nonfinite_keys(model.state_dict())
    if bad:
        raise NonFiniteCheckpointError(
            f'refusing to save checkpoint {filename!r} at iteration '
            f'{runner.iter}: the model holds NaN/inf values in {len(bad)} '
            f'tensor(s): {_format_keys(bad)}. The previous checkpoints are '
            'kept; lower the learning rate or enable gradient clipping '
            '(optim_wrapper.clip_grad) and resume from the last good one.')


def _runner_save_atomic(plain_save, out_dir: str, filename: str, *args,
                        **kwargs) -> None:
    """``plain_save(out_dir, filename, ...)`` through a temporary name.

    ``plain_save`` is ``Runner.save_checkpoint`` (which writes on the main
    process only); the rename happens on the main process too. On any
    error (also ``KeyboardInterrupt``) the temporary file is removed.
    """
    final = osp.join(out_dir, filename)
    tmp = osp.basename(tmp_name(final))
    tmp_path = osp.join(out_dir, tmp)
    try:
        plain_save(out_dir, tmp, *args, **kwargs)
        if is_main_process():
            _fsync_file(tmp_path)
            os.replace(tmp_path, final)
            _fsync_dir(out_dir)
    finally:
        if is_main_process() and osp.exists(tmp_path):
            os.remove(tmp_path)


@contextlib.contextmanager
def _atomic_saves(runner):
    """Within the block, ``runner.save_checkpoint`` writes through
    :func:`_runner_save_atomic` (an instance attribute over the bound
    method, removed on exit; nested blocks keep the outer one)."""
    if 'save_checkpoint' in vars(runner):
        yield
        return
    plain_save = runner.save_checkpoint
    runner.save_checkpoint = lambda *a, **k: _runner_save_atomic(
        plain_save, *a, **k)
    try:
        yield
    finally:
        del runner.save_checkpoint  # back to the bound method


def save_checkpoint_atomic(runner,
                           filename: str,
                           out_dir: Optional[str] = None,
                           update_pointer: bool = True,
                           **kwargs) -> str:
    """Save a Runner checkpoint atomically, refusing non-finite weights.

    The file is written by ``runner.save_checkpoint`` under a temporary
    name unique to this process (:func:`tmp_name`), ``fsync``-ed and renamed
    into place with ``os.replace``; then, with ``update_pointer``, the
    work dir's ``last_checkpoint`` pointer is replaced the same way. A
    process killed at any moment leaves either the complete new file or
    none (plus an ignored ``*.tmp.*`` file), never a truncated ``.pth``.
    Call it on every rank (``Runner.save_checkpoint`` gathers on all ranks
    and writes on rank 0). The preemption hook saves ``iter_N.pth`` with it.

    Args:
        runner (Runner): The runner to save.
        filename (str): File name, e.g. ``'iter_1200.pth'``.
        out_dir (str, optional): Directory. Defaults to None (the runner's
            work dir).
        update_pointer (bool): Point ``last_checkpoint`` at the new file.
            Defaults to True.
        **kwargs: Arguments of ``Runner.save_checkpoint`` (``meta``,
            ``save_optimizer``, ``by_epoch``, ...).

    Returns:
        str: The path of the saved checkpoint.

    Raises:
        NonFiniteCheckpointError: If the model holds NaN/inf values; nothing
            is written then.
    """
    out_dir = runner.work_dir if out_dir is None else out_dir
    path = osp.join(out_dir, filename)
    check_finite_model(runner, path)
    _runner_save_atomic(runner.save_checkpoint, out_dir, filename, **kwargs)
    if update_pointer and is_main_process():
        runner.message_hub.update_info('last_ckpt', path)
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), path)
    return path


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's :class:`~mmengine.hooks.CheckpointHook` with atomic writes
    and a refusal to save non-finite weights.

    What it adds to MMEngine's hook:

    * Every checkpoint (``epoch_N.pth``/``iter_N.pth`` and ``best_*.pth``)
      is written under a temporary name unique to the process
      (``<name>.tmp.<pid>.<random>``), ``fsync``-ed and renamed into place
      with ``os.replace``: a process killed while saving never leaves a
      half-written checkpoint, and two processes never share a temporary
      file.
    * A new best checkpoint is complete before the previous best is
      removed (MMEngine removes the old best first), so a kill during the
      save keeps the old best.
    * A model holding NaN/inf values is never saved nor promoted to best:
      :class:`NonFiniteCheckpointError` names the checkpoint and the
      offending keys; the files on disk and ``last_checkpoint`` are left
      untouched.
    * ``last_checkpoint``: MMEngine rewrites it in place with a plain
      ``open(..., 'w')``; this hook then writes it once more through a
      temporary file, ``fsync`` and ``os.replace``, so it is durable once
      the hook returns. A kill during MMEngine's in-place write can still
      leave the pointer empty; the checkpoint it should name is complete by
      then, and :func:`mmx3d.apis.find_resume_checkpoint` falls back to the
      newest complete ``epoch_N.pth``/``iter_N.pth``.

    Arguments are those of ``CheckpointHook``; only local directories take
    the atomic path (other backends keep the plain behaviour, the finite
    check applies to all).
    """

    def _local(self) -> bool:
        return self.file_backend.name == 'LocalBackend'

    def _save_checkpoint_with_step(self, runner, step, meta):
        check_finite_model(runner, self.filename_tmpl.format(step))
        if not self._local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        with _atomic_saves(runner):
            super()._save_checkpoint_with_step(runner, step, meta)
        if is_main_process():
            # the parent wrote the pointer in place; write it again through
            # a temporary file so that it is on disk when this returns
            atomic_write_text(
                osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best:
            return
        check_finite_model(runner, 'best checkpoint')
        if not self._local():
            return super()._save_best_checkpoint(runner, metrics)
        # Hide the previous best paths from the parent, so that it does not
        # remove them before the new best is written; remove them after.
        single = len(self.key_indicators) == 1
        old = ({None: self.best_ckpt_path} if single else dict(
            self.best_ckpt_path_dict))
        hub = runner.message_hub
        saved_info = {k: v for k, v in hub.runtime_info.items()
                      if k.startswith(('best_score', 'best_ckpt'))}
        if single:
            self.best_ckpt_path = None
        else:
            self.best_ckpt_path_dict = {k: None for k in old}
        try:
            with _atomic_saves(runner):
                super()._save_best_checkpoint(runner, metrics)
        finally:
            self._settle_best(runner, old, saved_info)

    def _settle_best(self, runner, old: dict, saved_info: dict) -> None:
        """After a best save (complete or interrupted): remove each previous
        best that a complete new one replaced; keep (and point back to) the
        previous best where no new file was written."""
        single = len(self.key_indicators) == 1
        new = ({None: self.best_ckpt_path} if single else dict(
            self.best_ckpt_path_dict))
        for key, old_path in old.items():
            new_path = new.get(key)
            written = new_path is not None and (
                osp.isfile(new_path) or not is_main_process())
            if written:
                if (old_path and old_path != new_path and is_main_process()
                        and osp.isfile(old_path)):
                    os.remove(old_path)
                    runner.logger.info(
                        f'The previous best checkpoint {old_path} is '
                        'removed')
                continue
            if new_path is not None:  # interrupted: the old best stays
                suffix = '' if key is None else f'_{key}'
                for name in (f'best_score{suffix}', f'best_ckpt{suffix}'):
                    if name in saved_info:
                        runner.message_hub.update_info(name,
                                                       saved_info[name])
            new[key] = old_path
        if single:
            self.best_ckpt_path = new[None]
        else:
            self.best_ckpt_path_dict = new
