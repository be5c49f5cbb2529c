# Copyright (c) mmx3d contributors. All rights reserved.
from .atomic_checkpoint_hook import (
    AtomicCheckpointHook,
    NonFiniteCheckpointError,
    atomic_write_text,
    nonfinite_keys,
    save_checkpoint_atomic,
)
from .compile_hook import CompileHook
from .fuse_bn_hook import FuseBNHook
from .inference_cost_hook import InferenceCostHook
from .invalid_loss_hook import InvalidLossError, InvalidLossHook
from .precise_bn_hook import PreciseBNHook, update_bn_stats
from .preemption_hook import (
    PREEMPT_FILE_ENV,
    PREEMPTION_EXIT_CODE,
    PreemptionHook,
)
from .skipped_samples_hook import SkippedSamplesHook
from .work_dir_lock_hook import (
    WorkDirLock,
    WorkDirLockedError,
    WorkDirLockHook,
)

__all__ = ['AtomicCheckpointHook', 'atomic_write_text', 'CompileHook',
           'FuseBNHook', 'InferenceCostHook',
           'PreciseBNHook', 'update_bn_stats']
__all__ += ['NonFiniteCheckpointError', 'nonfinite_keys',
            'save_checkpoint_atomic', 'InvalidLossError', 'InvalidLossHook',
            'WorkDirLock', 'WorkDirLockedError', 'WorkDirLockHook',
            'PreemptionHook', 'PREEMPTION_EXIT_CODE', 'PREEMPT_FILE_ENV',
            'SkippedSamplesHook']
