# Copyright (c) mmx3d contributors. All rights reserved.
from .ava import RobustAVADataset, load_proposals
from .charades import CharadesDataset, CharadesRawframeDataset
from .transforms import *  # noqa: F401,F403
from .video_dataset import RobustVideoDataset, read_annotation_lines

__all__ = [
    'RobustAVADataset', 'load_proposals',
    'RobustVideoDataset', 'read_annotation_lines', 'CharadesDataset',
    'CharadesRawframeDataset'
]
