# Copyright (c) mmx3d contributors. All rights reserved.
from .bbox_head import X3DBBoxHead
from .roi_extractor import X3DRoIExtractor
from .roi_head import X3DRoIHead

__all__ = ['X3DBBoxHead', 'X3DRoIExtractor', 'X3DRoIHead']
