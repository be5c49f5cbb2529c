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
    (``os.replace`` is atomic on POSIX), and ``last_checkpoint`` is replaced
    the same way after the rename, so a process killed while saving leaves
    the previous checkpoint and pointer intact. Arguments are those of
    ``CheckpointHook``; only local directories are supported for the atomic
    path (other backends fall back to the plain behaviour).
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
            # the parent wrote the pointer in place; rewrite it atomically
            atomic_write_text(
                osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
