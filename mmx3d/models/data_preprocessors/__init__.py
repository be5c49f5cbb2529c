# Copyright (c) mmx3d contributors. All rights reserved.
from .x3d_data_preprocessor import X3DDataPreprocessor, to_channels_last_3d

__all__ = ['X3DDataPreprocessor', 'to_channels_last_3d']
