# Copyright (c) mmx3d contributors. All rights reserved.
"""Clip-level multi-label targets from temporal action intervals."""
from typing import Dict, Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmx3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ClipLabelFromIntervals(BaseTransform):
    """Multi-hot target of the classes whose intervals overlap the clip.

    Place it right after ``SampleFrames``: the clip's time span is only known
    once the frame indices are drawn. A frame of index ``i`` (counted from
    ``start_index``) is at ``t = i / fps`` seconds; a clip spans
    ``[t0, t1]`` = the times of its first and last sampled frame. An action
    ``[s, e]`` overlaps the clip iff ``s <= t1 and e >= t0`` (touching
    counts), evaluated with a tolerance ``eps`` so that times written with
    two decimals match frame times exactly. With several clips per sample
    (``num_clips > 1``) the target is the union over the clips.

    Required keys: ``frame_inds``, ``actions`` ((K, 3) rows
    ``class, start, end`` in seconds), ``avg_fps`` (set by ``DecordInit`` or
    the rawframe dataset) unless ``fps`` is given, ``num_classes`` unless
    given here; optional ``start_index``, ``clip_len``, ``num_clips``.

    Modified keys: ``label`` (float tensor (num_classes,), multi-hot).

    Args:
        num_classes (int, optional): Length of the target. Defaults to
            ``results['num_classes']``.
        fps (float, optional): Frame rate that overrides ``avg_fps``.
            Defaults to None.
        eps (float): Tolerance in seconds. Defaults to 1e-6.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 fps: Optional[float] = None,
                 eps: float = 1e-6) -> None:
        self.num_classes = num_classes
        self.fps = fps
        self.eps = eps

    def transform(self, results: Dict) -> Dict:
        """Set ``results['label']`` from the clip span and the intervals."""
        fps = self.fps or results.get('avg_fps')
        if not fps:
            raise KeyError('ClipLabelFromIntervals needs the frame rate: '
                           'put it after DecordInit/SampleFrames (which set '
                           '"avg_fps") or give fps=...')
        num_classes = self.num_classes or results.get('num_classes')
        if not num_classes:
            raise KeyError('ClipLabelFromIntervals needs num_classes (as an '
                           'argument or in the sample info)')
        inds = np.asarray(results['frame_inds'], np.float64).reshape(-1)
        inds = inds - results.get('start_index', 0)
        clip_len = results.get('clip_len')
        if clip_len and inds.size % clip_len == 0:
            inds = inds.reshape(-1, clip_len)
        else:
            inds = inds.reshape(1, -1)
        t0 = inds.min(axis=1) / fps  # (num_clips,)
        t1 = inds.max(axis=1) / fps
        actions = np.asarray(results['actions'], np.float64).reshape(-1, 3)
        start, end = actions[:, 1:2], actions[:, 2:3]  # (K, 1)
        hit = ((start <= t1[None] + self.eps) &
               (end >= t0[None] - self.eps)).any(axis=1)
        label = torch.zeros(num_classes, dtype=torch.float32)
        label[torch.as_tensor(actions[hit, 0], dtype=torch.long)] = 1
        results['label'] = label
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'fps={self.fps}, eps={self.eps})')
