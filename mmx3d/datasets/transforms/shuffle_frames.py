# Copyright (c) mmx3d contributors. All rights reserved.
"""Temporal-order ablation."""
import numpy as np
from mmcv.transforms import BaseTransform

from mmx3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ShuffleFrames(BaseTransform):
    """Randomly permute the frames inside each sampled clip.

    Place it right after ``SampleFrames``: it permutes ``frame_inds`` clip by
    clip, so every clip keeps its frames but loses their order. Used by the
    ablation configs to show that a task needs temporal information.

    Required keys: ``frame_inds``, ``clip_len``, ``num_clips``.
    Modified keys: ``frame_inds``.

    Args:
        seed (int, optional): Seed for a reproducible permutation per call
            sequence. Defaults to None.
    """

    def __init__(self, seed=None) -> None:
        self.rng = np.random.default_rng(seed)

    def transform(self, results: dict) -> dict:
        inds = np.asarray(results['frame_inds'])
        clip_len = results['clip_len']
        clips = inds.reshape(-1, clip_len).copy()
        for clip in clips:
            self.rng.shuffle(clip)
        results['frame_inds'] = clips.reshape(inds.shape)
        return results
