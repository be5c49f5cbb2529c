# Copyright (c) mmx3d contributors. All rights reserved.
from .clip_label import ClipLabelFromIntervals

__all__ = ['ClipLabelFromIntervals']
