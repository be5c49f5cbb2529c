# Copyright (c) mmx3d contributors. All rights reserved.
"""Helpers for the data structures passed between datasets, models and
evaluation (MMAction2's ``ActionDataSample`` is used as is)."""
from .label import to_multi_hot

__all__ = ['to_multi_hot']
