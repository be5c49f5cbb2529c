# Copyright (c) mmx3d contributors. All rights reserved.
from .inference import (
    KINETICS400_LABEL_MAP,
    VideoReadError,
    inference_recognizer,
    init_recognizer,
    read_label_map,
    recognize,
)
from .runner import (
    build_runner,
    find_resume_checkpoint,
    load_config,
    prepare_cfg,
)

__all__ = ['build_runner', 'find_resume_checkpoint', 'load_config',
           'prepare_cfg', 'KINETICS400_LABEL_MAP', 'VideoReadError',
           'init_recognizer', 'inference_recognizer', 'read_label_map',
           'recognize']
