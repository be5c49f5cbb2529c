# Copyright (c) mmx3d contributors. All rights reserved.
"""A CheckpointHook whose files are never half-written."""
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from mmx3d.registry import HOOKS


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = f'{path}.tmp.{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's :class:`~mmengine.hooks.CheckpointHook` with atomic writes.

    Each checkpoint is first written to ``<name>.tmp`` and renamed into place
    (``os.replace`` is atomic on POSIX), so a process killed while saving
    never leaves a half-written ``epoch_N.pth``/``iter_N.pth``: the previous
    checkpoints stay intact and the new one appears complete or not at all.

    ``last_checkpoint`` is *not* replaced atomically by MMEngine: after the
    rename, ``CheckpointHook`` rewrites it in place with a plain
    ``open(..., 'w')``. This hook then writes it once more through a
    temporary file, ``fsync`` and ``os.replace``, so it is durable once the
    hook returns. A kill during MMEngine's in-place write can still leave
    the pointer empty or truncated; the checkpoint it should name is complete
    by then, and :func:`mmx3d.apis.find_resume_checkpoint` falls back to the
    newest ``epoch_N.pth``/``iter_N.pth`` when the pointer does not name an
    existing file.

    Arguments are those of ``CheckpointHook``; only local directories take
    the atomic path (other backends keep the plain behaviour).
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        local = self.file_backend.name == 'LocalBackend'
        if not local:
            return super()._save_checkpoint_with_step(runner, step, meta)
        plain_save = runner.save_checkpoint

        def atomic_save(out_dir, filename, *args, **kwargs):
            tmp_name = filename + '.tmp'
            plain_save(out_dir, tmp_name, *args, **kwargs)
            if is_main_process():
                os.replace(osp.join(out_dir, tmp_name),
                           osp.join(out_dir, filename))

        runner.save_checkpoint = atomic_save
        try:
            super()._save_checkpoint_with_step(runner, step, meta)
        finally:
            del runner.save_checkpoint  # back to the bound method
        if is_main_process():
            # the parent wrote the pointer in place; write it again through
            # a temporary file so that it is on disk when this returns
            atomic_write_text(
                osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
