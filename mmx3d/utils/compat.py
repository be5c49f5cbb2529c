# Copyright (c) mmx3d contributors. All rights reserved.
"""Work-arounds for known defects of the dependency stack.

Each one is narrow, idempotent and documented in ``docs/faq.md``:

* :func:`patch_mmaction_drn`: the mmaction2 1.2.0 wheel and sdist lack
  ``mmaction/models/localizers/drn/``, so ``import mmaction.models`` fails.
  A finder placed *last* on ``sys.meta_path`` serves a stub for exactly these
  two module names, only when the real package cannot be found; every other
  import error surfaces unchanged.
* :func:`allow_mmengine_checkpoint_globals`: torch >= 2.6 loads with
  ``weights_only=True``; MMEngine 0.10.7 calls ``torch.load`` without the
  argument, so checkpoints written by its Runner (message-hub history
  buffers, numpy scalars in ``meta``) fail to load. Instead of turning
  ``weights_only`` off, the few MMEngine/numpy types those files hold are
  added to torch's allow-list; arbitrary pickled objects are still refused.
* :func:`patch_cpu_launcher`: MMEngine's ``pytorch`` launcher calls
  ``torch.cuda.set_device``, which a CPU-only torch cannot do. Without CUDA
  the call becomes a no-op, so torchrun + gloo + DDP work on CPU.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

_DRN_MODULES = ('mmaction.models.localizers.drn',
                'mmaction.models.localizers.drn.drn')


class _MissingDRN:
    """Placeholder for MMAction2's DRN localizer absent from its wheel."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            'mmaction2 1.2.0 from PyPI ships without '
            'mmaction/models/localizers/drn; DRN is unavailable. Install '
            'mmaction2 from source to use it (mmx3d does not need it).')


class _DRNStubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _DRN_MODULES:
            return None
        # Only stand in when no other finder can provide the real module.
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            try:
                spec = finder.find_spec(fullname, path, target)
            except Exception:  # noqa: BLE001 - a broken finder is not ours
                spec = None
            if spec is not None:
                return None
        return importlib.machinery.ModuleSpec(
            fullname, self, is_package=fullname == _DRN_MODULES[0])

    def create_module(self, spec):
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        module.__path__ = [] if module.__name__ == _DRN_MODULES[0] else None
        if module.__path__ is None:
            del module.__path__
        module.DRN = _MissingDRN
        module.__mmx3d_stub__ = True


def patch_mmaction_drn() -> None:
    """Install the DRN stub finder (last on ``sys.meta_path``) once."""
    if not any(isinstance(f, _DRNStubFinder) for f in sys.meta_path):
        sys.meta_path.append(_DRNStubFinder())


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list the types MMEngine Runner checkpoints contain."""
    import numpy as np
    import torch
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return
    from mmengine.logging.history_buffer import HistoryBuffer
    safe = [HistoryBuffer, np.ndarray, np.dtype]
    try:  # numpy >= 1.25 / 2.x
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - older numpy
        from numpy.core.multiarray import _reconstruct, scalar
    safe += [_reconstruct, scalar]
    # numpy scalar/dtype classes (np.float64, np.dtypes.Float64DType, ...)
    safe += [type(np.dtype(t)) for t in ('f2', 'f4', 'f8', 'i1', 'i2', 'i4',
                                          'i8', 'u1', 'b1')]
    safe += [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
             np.int64, np.uint8, np.bool_]
    torch.serialization.add_safe_globals(safe)


def patch_cpu_launcher() -> None:
    """Make ``torch.cuda.set_device`` a no-op on hosts without CUDA."""
    import torch
    if torch.cuda.is_available() or getattr(torch.cuda.set_device,
                                            '_mmx3d_noop', False):
        return

    def _set_device(device):  # noqa: ARG001 - signature of the original
        return None

    _set_device._mmx3d_noop = True
    torch.cuda.set_device = _set_device
