# Copyright (c) mmx3d contributors. All rights reserved.
from .ava_frame_map import (
    MAX_DETS_PER_KEY,
    evaluate_frame_map,
    frame_map,
    tp_fp_single_class,
)

__all__ = [
    'MAX_DETS_PER_KEY', 'evaluate_frame_map', 'frame_map',
    'tp_fp_single_class'
]
