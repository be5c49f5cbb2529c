# Copyright (c) mmx3d contributors. All rights reserved.
from mmx3d.fileio.ava import (
    make_image_key,
    read_csv,
    read_exclusions,
    read_labelmap,
)

from .ava_frame_map import (
    MAX_DETS_PER_KEY,
    evaluate_frame_map,
    frame_map,
    tp_fp_single_class,
)

__all__ = [
    'MAX_DETS_PER_KEY', 'evaluate_frame_map', 'frame_map', 'make_image_key',
    'read_csv', 'read_exclusions', 'read_labelmap', 'tp_fp_single_class'
]
