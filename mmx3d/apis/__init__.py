# Copyright (c) mmx3d contributors. All rights reserved.
from .action_detection import build_ava_detector, detect_actions
from .config_check import check_config
from .deploy import OnnxRecognizer, check_onnx, export_onnx
from .expansion import (
    AXES,
    Expander,
    ExpansionState,
    Launcher,
    Regularisation,
    run_search,
)
from .inference import (
    KINETICS400_LABEL_MAP,
    VideoReadError,
    inference_recognizer,
    init_recognizer,
    read_label_map,
    recognize,
)
from .long_video import (
    LongVideoResult,
    OnnxScorer,
    StreamReport,
    TorchScorer,
    load_scorer,
    recognize_long,
    run_stream,
    sliding_windows,
)
from .proposals import detect_keys, detect_persons, init_person_detector
from .runner import (
    build_runner,
    checkpoint_problem,
    find_resume_checkpoint,
    load_config,
    prepare_cfg,
)

__all__ = ['build_runner', 'check_config', 'find_resume_checkpoint',
           'load_config', 'prepare_cfg', 'KINETICS400_LABEL_MAP',
           'VideoReadError',
           'init_recognizer', 'inference_recognizer', 'read_label_map',
           'recognize', 'build_ava_detector', 'detect_actions',
           'detect_keys', 'detect_persons', 'init_person_detector',
           'export_onnx', 'check_onnx', 'OnnxRecognizer',
           'checkpoint_problem', 'AXES', 'Expander', 'ExpansionState',
           'Launcher', 'Regularisation', 'run_search', 'LongVideoResult',
           'OnnxScorer', 'StreamReport', 'TorchScorer', 'load_scorer',
           'recognize_long', 'run_stream', 'sliding_windows']
