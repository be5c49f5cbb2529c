# Copyright (c) mmx3d contributors. All rights reserved.
from .video_dataset import RobustVideoDataset, read_annotation_lines

__all__ = ['RobustVideoDataset', 'read_annotation_lines']
