# Copyright (c) mmx3d contributors. All rights reserved.
"""The glibc ``malloc`` policy of mmx3d's CPU jobs (``env_cfg.cpu_malloc``).

PyTorch's CPU tensors come from ``malloc``. With glibc's defaults, a block
larger than the dynamic mmap threshold (at most 32 MB) is a fresh ``mmap``
for every allocation and freed memory at the top of the heap is returned to
the system: every large activation of a training step (72 MB for X3D-S's
res2 at batch 4) is then page-faulted and zeroed by the kernel again, step
after step. Raising the mmap and trim thresholds keeps that memory in the
heap for the next step, which makes a CPU training step of X3D-S about a
quarter faster (``docs/benchmarks.md``; the numbers are the same, only
their addresses change). This is what the CPU tuning guides of PyTorch and
Intel do with ``MALLOC_*`` variables or a preloaded allocator; here it is
one config entry, applied by :func:`mmx3d.apis.runner.build_runner` in the
process that trains or tests (forked data workers inherit it)::

    env_cfg = dict(cpu_malloc=dict(mmap_threshold=1 << 30,
                                   trim_threshold=(1 << 31) - 1))

``cpu_malloc=None`` leaves the C library's defaults. Outside glibc
(macOS, musl) the entry is logged and ignored.
"""
import ctypes
import platform
from typing import Dict, Mapping, Optional

#: ``mallopt`` parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: the accepted keys of ``env_cfg.cpu_malloc`` and their mallopt parameter
PARAMS = {'mmap_threshold': M_MMAP_THRESHOLD,
          'trim_threshold': M_TRIM_THRESHOLD}
_INT_MAX = (1 << 31) - 1


def glibc_available() -> bool:
    """Whether this process runs on glibc (where ``mallopt`` exists)."""
    return platform.system() == 'Linux' and platform.libc_ver()[0] == 'glibc'


def check_malloc_cfg(cfg: Optional[Mapping], key: str = 'env_cfg.cpu_malloc'
                     ) -> Dict[str, int]:
    """Validate a ``cpu_malloc`` entry.

    Raises:
        KeyError: An unknown key, naming it and the accepted ones.
        ValueError: A value that is not an int in ``1 .. 2**31 - 1``.
    """
    if cfg is None:
        return {}
    if not isinstance(cfg, Mapping):
        raise ValueError(f'{key} must be a dict of {sorted(PARAMS)} or None, '
                         f'got {cfg!r}')
    out = {}
    for name, value in cfg.items():
        if name not in PARAMS:
            raise KeyError(f'{key}.{name} is not a malloc setting; accepted: '
                           f'{", ".join(sorted(PARAMS))}')
        if (isinstance(value, bool) or not isinstance(value, int)
                or not 0 < value <= _INT_MAX):
            raise ValueError(f'{key}.{name} must be a number of bytes in '
                             f'1..{_INT_MAX}, got {value!r}')
        out[name] = value
    return out


def set_malloc_policy(cfg: Optional[Mapping],
                      key: str = 'env_cfg.cpu_malloc') -> Optional[Dict]:
    """Apply ``cfg`` (see the module docstring) with glibc's ``mallopt``.

    Args:
        cfg (dict, optional): ``mmap_threshold`` and/or ``trim_threshold``
            in bytes; None or empty does nothing.
        key (str): The config key, for error messages.

    Returns:
        dict or None: The settings applied, or None where nothing was
        applied (no settings, or not glibc).

    Raises:
        KeyError, ValueError: As :func:`check_malloc_cfg`.
        OSError: If ``mallopt`` refuses a setting.
    """
    settings = check_malloc_cfg(cfg, key)
    if not settings or not glibc_available():
        return None
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    for name, value in settings.items():
        if mallopt(PARAMS[name], value) != 1:
            raise OSError(f'{key}.{name}={value}: glibc mallopt refused it')
    return settings


__all__ = ['PARAMS', 'check_malloc_cfg', 'glibc_available',
           'set_malloc_policy']
