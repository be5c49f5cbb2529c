# Copyright (c) mmx3d contributors. All rights reserved.
from .ava_metric import AVAFrameMAP
from .charades_map import CharadesMAP

__all__ = ['AVAFrameMAP', 'CharadesMAP']
