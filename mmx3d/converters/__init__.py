# Copyright (c) mmx3d contributors. All rights reserved.
"""Checkpoint formats: PySlowFast, PyTorchVideo and MMAction2 X3D weights to
mmx3d and back, detected from the keys, checked key by key."""
from .checkpoint import (
    FORMATS,
    convert_checkpoint,
    detect_format,
    export_pyslowfast,
    export_pytorchvideo,
    extract_state_dict,
    load_any_checkpoint,
    save_checkpoint,
    to_mmx3d,
)
from .keymaps import KEYMAPS, MMACTION2, PYSLOWFAST, PYTORCHVIDEO, KeyMap
from .loading import (
    ConvertCheckpointHook,
    X3DPretrainedInit,
    load_x3d_checkpoint,
    match_state_dict,
)
from .validate import check_state_dict, describe_state_dict, reference_shapes

__all__ = [
    'FORMATS', 'KEYMAPS', 'KeyMap', 'PYSLOWFAST', 'PYTORCHVIDEO', 'MMACTION2',
    'load_any_checkpoint', 'extract_state_dict', 'detect_format',
    'to_mmx3d', 'convert_checkpoint', 'export_pyslowfast',
    'export_pytorchvideo', 'save_checkpoint', 'load_x3d_checkpoint',
    'match_state_dict', 'X3DPretrainedInit', 'ConvertCheckpointHook',
    'check_state_dict', 'describe_state_dict', 'reference_shapes'
]
