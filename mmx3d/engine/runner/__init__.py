# Copyright (c) mmx3d contributors. All rights reserved.
from .loops import (
    SAMPLER_SEED_KEY,
    CollectiveTimeoutError,
    ResumableEpochBasedTrainLoop,
    is_collective_timeout,
    skip_batches,
)

__all__ = ['ResumableEpochBasedTrainLoop', 'CollectiveTimeoutError',
           'is_collective_timeout', 'skip_batches', 'SAMPLER_SEED_KEY']
