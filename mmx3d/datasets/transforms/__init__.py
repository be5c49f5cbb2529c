# Copyright (c) mmx3d contributors. All rights reserved.
from .clip_label import ClipLabelFromIntervals
from .sampling import PySlowFastSampleFrames
from .shuffle_frames import ShuffleFrames

__all__ = ['ClipLabelFromIntervals', 'PySlowFastSampleFrames', 'ShuffleFrames']
