# Copyright (c) mmx3d contributors. All rights reserved.
"""File readers shared by datasets, evaluation and tools."""
from .ava import (
    make_image_key,
    read_csv,
    read_exclusions,
    read_labelmap,
)
from .safe_pickle import (
    ALLOWED_GLOBALS,
    DataUnpickler,
    UnsafePickleError,
    load_data_pickle,
)

__all__ = ['make_image_key', 'read_csv', 'read_exclusions', 'read_labelmap',
           'ALLOWED_GLOBALS', 'DataUnpickler', 'UnsafePickleError',
           'load_data_pickle']
