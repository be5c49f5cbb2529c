# Copyright (c) mmx3d contributors. All rights reserved.
from .runner import build_runner, find_resume_checkpoint, load_config, prepare_cfg

__all__ = ['build_runner', 'find_resume_checkpoint', 'load_config',
           'prepare_cfg']
