# Copyright (c) mmx3d contributors. All rights reserved.
"""Point shipped configs at test data."""


def redirect(obj, old, new):
    """Replace the ``old`` path prefix by ``new`` in every string of a
    (nested) config dict or list."""
    if isinstance(obj, dict):
        return {k: redirect(v, old, new) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redirect(v, old, new) for v in obj)
    if isinstance(obj, str) and obj.startswith(old):
        return new + obj[len(old):]
    return obj


def subprocess_env() -> dict:
    """The environment for a tool run in a subprocess: the repository on
    ``PYTHONPATH`` (for ``tests.helpers`` hooks in ``custom_imports``) and
    one thread per process."""
    import os
    import os.path as osp
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    env = dict(os.environ)
    env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
    env['OMP_NUM_THREADS'] = '1'
    return env
