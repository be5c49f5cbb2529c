# Copyright (c) mmx3d contributors. All rights reserved.
"""Read data pickles (AVA proposal files) without running code from them.

A pickle names the callables that rebuild its objects; ``pickle.load``
imports and calls whatever the file names, so a proposal file downloaded
from anywhere could run ``os.system``. :func:`load_data_pickle` reads with
an unpickler whose ``find_class`` admits exactly what numpy arrays, numpy
scalars and plain containers need, in the pickle protocols 0-5 that numpy
1.x and 2.x write:

=====================================  =====================================
global                                 why
=====================================  =====================================
``numpy.ndarray``, ``numpy.dtype``     array and dtype reconstruction
``numpy[._]core.multiarray``           ``_reconstruct`` (arrays, protocols
                                       0-4), ``scalar`` (numpy scalars)
``numpy[._]core.numeric._frombuffer``  arrays, protocol 5
``_codecs.encode`` (latin-1 only)      raw bytes in protocols 0-2
``builtins.bytes``                     empty bytes in protocols 0-2
``collections.OrderedDict``            ordered dicts
=====================================  =====================================

Dicts, lists, tuples, strings and numbers need no global at all. Anything
else (``os.system``, ``builtins.eval``, a class of any package) is refused
before it is imported, with the file named.
"""
import codecs
import io
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Any, Callable, Dict, Tuple

import numpy as np

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asks for a global outside the allow-list."""


def _latin1_encode(text: str, encoding: str = 'latin1') -> bytes:
    """``_codecs.encode`` as protocols 0-2 use it for ``bytes``: latin-1
    only, so a pickle cannot reach any other codec."""
    if codecs.lookup(encoding).name != 'iso8859-1':
        raise UnsafePickleError(
            f'_codecs.encode with encoding {encoding!r}; only latin-1 (how '
            'pickle protocols 0-2 store bytes) is allowed')
    return codecs.encode(text, 'latin1')


def _allowed_globals() -> Dict[Tuple[str, str], Callable]:
    allowed = {
        ('numpy', 'ndarray'): np.ndarray,
        ('numpy', 'dtype'): np.dtype,
        ('_codecs', 'encode'): _latin1_encode,
        ('collections', 'OrderedDict'): OrderedDict,
        # empty bytes in protocols 0-2 (Python 2's name, then Python 3's)
        ('__builtin__', 'bytes'): bytes,
        ('builtins', 'bytes'): bytes,
    }
    for module in ('numpy.core', 'numpy._core'):
        allowed[(f'{module}.multiarray', '_reconstruct')] = \
            _multiarray._reconstruct
        allowed[(f'{module}.multiarray', 'scalar')] = _multiarray.scalar
        allowed[(f'{module}.numeric', '_frombuffer')] = _numeric._frombuffer
    return allowed


#: (module, name) -> object: everything :class:`DataUnpickler` admits
ALLOWED_GLOBALS = _allowed_globals()


class DataUnpickler(pickle.Unpickler):
    """Unpickler for numpy arrays, numpy scalars and plain containers.

    Args:
        file: Binary file object.
        source (str): Name of the file, for errors. Defaults to
            ``'<pickle>'``.
    """

    def __init__(self, file, source: str = '<pickle>') -> None:
        # latin-1: numpy arrays written by Python 2 decode to bytes intact
        super().__init__(file, encoding='latin1')
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed global; raise for any other."""
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f'{self.source}: refused to unpickle: the file asks for '
                f'{module}.{name}, which is not part of a data pickle '
                '(allowed: numpy arrays and scalars, dict, list, tuple, str, '
                'numbers). Loading it could run code from the file; if it '
                'is a proposal file you trust, convert it to CSV or .npz.'
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids (torch storages) are no data pickle either."""
        raise UnsafePickleError(
            f'{self.source}: refused to unpickle: persistent id {pid!r} '
            '(a torch file?); expected a plain data pickle')


def load_data_pickle(path: str) -> Any:
    """Read a pickle of numpy arrays and plain containers, safely.

    Args:
        path (str): The file.

    Returns:
        Any: What the file holds (dicts, lists, tuples, numbers, strings,
        numpy arrays and scalars).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        UnsafePickleError: If the file asks for any other global (nothing
            from it has run then); the message names the file and the
            global.
        ValueError: If the file is not a readable pickle (naming it).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'pickle file {path!r} does not exist')
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return DataUnpickler(io.BytesIO(data), source=path).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # noqa: BLE001 - truncated/garbage files
        raise ValueError(f'{path}: not a readable pickle ({type(e).__name__}'
                         f': {e})') from None


__all__ = ['ALLOWED_GLOBALS', 'DataUnpickler', 'UnsafePickleError',
           'load_data_pickle']
