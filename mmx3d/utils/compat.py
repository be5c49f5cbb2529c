# Copyright (c) mmx3d contributors. All rights reserved.
"""Work-arounds for known defects of the dependency stack.

Each one is narrow, idempotent, documented in ``docs/faq.md``, logs one
line on the ``mmx3d`` logger (standard :mod:`logging`, level INFO) when it
is applied, and is tested in ``tests/test_utils/test_compat.py``. The DRN
stub, the allow-list and the loader replacement are applied by
``import mmx3d``, because MMAction2's modules and every checkpoint load need
them; the launcher patch only where a CPU launch needs it.

* :func:`patch_mmaction_drn`: the mmaction2 1.2.0 wheel and sdist lack
  ``mmaction/models/localizers/drn/``, so ``import mmaction.models`` fails.
  A finder placed *last* on ``sys.meta_path`` serves a stub for exactly these
  two module names, only when the real package cannot be found; every other
  import error surfaces unchanged.
* :func:`allow_mmengine_checkpoint_globals` and :func:`safe_torch_load`:
  torch >= 2.6 loads with ``weights_only=True``; MMEngine 0.10.7 calls
  ``torch.load`` without the argument, so checkpoints written by its Runner
  (message-hub history buffers, numpy scalars in ``meta``) fail to load.
  ``weights_only`` is *not* turned off. The few MMEngine/numpy types those
  files hold are added to torch's allow-list, and MMEngine's local-file
  checkpoint loader is replaced by :func:`safe_torch_load`, which reads with
  ``weights_only=True`` and, only for the one construct torch's unpickler
  cannot express (``getattr(HistoryBuffer, 'min')``, how a history buffer
  pickles its statistics methods), falls back to a restricted unpickler
  that admits exactly torch's weights-only allow-list (with the types
  added above) plus a ``getattr`` limited to those HistoryBuffer methods.
  Arbitrary pickled objects are still refused in both paths.
* :func:`cpu_launcher_patch`: MMEngine's ``pytorch`` launcher calls
  ``torch.cuda.set_device``, which a CPU-only torch cannot do. A context
  manager: inside it, and only without CUDA, the call is a no-op, so
  torchrun + gloo + DDP work on CPU. :func:`mmx3d.apis.build_runner` enters
  it around the Runner's construction (where MMEngine initialises the
  distributed environment) when a launcher is used on a host without CUDA.

Private APIs relied on (``tests/test_utils/test_compat.py`` fails with a
clear message if they move): ``_get_allowed_globals`` of
``torch._weights_only_unpickler`` and MMEngine's
``CheckpointLoader._schemes``.
"""
import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os.path as osp
import pickle
import sys
import types

logger = logging.getLogger('mmx3d')

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
        logger.info('mmx3d: stub finder for the missing '
                    'mmaction.models.localizers.drn appended to '
                    'sys.meta_path')


def allow_mmengine_checkpoint_globals() -> None:
    """Add the types MMEngine Runner checkpoints contain to torch's
    weights-only allow-list (``torch.serialization.add_safe_globals``)."""
    import numpy as np
    import torch
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
    have = set(map(id, torch.serialization.get_safe_globals()))
    new = [obj for obj in safe if id(obj) not in have]
    if new:
        torch.serialization.add_safe_globals(new)
        logger.info('mmx3d: %d MMEngine/numpy types added to torch\'s '
                    'weights-only allow-list', len(new))


@contextlib.contextmanager
def cpu_launcher_patch():
    """Within the block, ``torch.cuda.set_device`` is a no-op (no CUDA only).

    Nested use keeps the outer patch; on exit (also on an error) the
    original function is back. With CUDA it changes nothing.
    """
    import torch
    if torch.cuda.is_available() or getattr(torch.cuda.set_device,
                                            '_mmx3d_noop', False):
        yield
        return
    original = torch.cuda.set_device

    def _set_device(device):  # noqa: ARG001 - signature of the original
        return None

    _set_device._mmx3d_noop = True
    torch.cuda.set_device = _set_device
    logger.info('mmx3d: torch.cuda.set_device is a no-op while the '
                'distributed environment is set up on a host without CUDA')
    try:
        yield
    finally:
        torch.cuda.set_device = original


_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def _restricted_getattr(obj, name):
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only '
        f'HistoryBuffer.{_HISTORY_BUFFER_METHODS} are allowed')


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits torch's weights-only globals, user safe globals and the
    restricted getattr above; anything else raises."""

    def find_class(self, module, name):
        import torch
        from torch._weights_only_unpickler import _get_allowed_globals
        if name == 'getattr' and module in ('builtins', '__builtin__'):
            return _restricted_getattr
        key = f'{module}.{name}'
        allowed = _get_allowed_globals()
        if key in allowed:
            return allowed[key]
        for obj in torch.serialization.get_safe_globals():
            obj = obj[0] if isinstance(obj, tuple) else obj
            if f'{obj.__module__}.{obj.__qualname__}' == key:
                return obj
        raise pickle.UnpicklingError(
            f'checkpoint global {key} is not allowed (mmx3d loads '
            'checkpoints without executing arbitrary pickled code)')


_restricted_pickle = types.SimpleNamespace(
    __name__='mmx3d_restricted_pickle',
    Unpickler=_RestrictedUnpickler,
    load=lambda f, **kw: _RestrictedUnpickler(f, **kw).load())


def safe_torch_load(filename, map_location=None):
    """``torch.load`` that never unpickles arbitrary objects.

    Tries ``weights_only=True``; if the file holds MMEngine history buffers
    (``getattr`` in the pickle), re-reads it with the restricted unpickler.

    Args:
        filename (str): Local file.
        map_location: As for :func:`torch.load`.

    Returns:
        The loaded object.
    """
    import torch
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename!r} can not be found.')
    try:
        return torch.load(filename, map_location=map_location,
                          weights_only=True)
    except pickle.UnpicklingError as e:
        if 'getattr' not in str(e):
            raise pickle.UnpicklingError(
                f'{filename}: refused to unpickle: {e}') from None
    return torch.load(filename, map_location=map_location,
                      weights_only=False, pickle_module=_restricted_pickle)


def patch_mmengine_local_loader() -> None:
    """Make MMEngine read local checkpoints with :func:`safe_torch_load`."""
    from mmengine.runner.checkpoint import CheckpointLoader
    if getattr(CheckpointLoader._schemes.get(''), '_mmx3d', False):
        return

    def load_from_local(filename, map_location):
        return safe_torch_load(filename, map_location)

    load_from_local._mmx3d = True
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
    logger.info('mmx3d: MMEngine\'s local checkpoint loader replaced by '
                'mmx3d.utils.compat.safe_torch_load')
