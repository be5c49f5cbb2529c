# Copyright (c) mmx3d contributors. All rights reserved.
from .atomic_checkpoint_hook import AtomicCheckpointHook, atomic_write_text
from .compile_hook import CompileHook
from .fuse_bn_hook import FuseBNHook
from .inference_cost_hook import InferenceCostHook
from .precise_bn_hook import PreciseBNHook, update_bn_stats
from .skipped_samples_hook import SkippedSamplesHook  # noqa: F401

__all__ = ['AtomicCheckpointHook', 'atomic_write_text', 'CompileHook',
           'FuseBNHook', 'InferenceCostHook',
           'PreciseBNHook', 'update_bn_stats']
