# Copyright (c) mmx3d contributors. All rights reserved.
"""Throughput of a config's training data pipeline (one dataloader
worker)."""
import copy
import os.path as osp
import tempfile
import time
from typing import Dict

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from ..datasets.synthetic import render_video, write_video


def data_throughput(cfg: Config, videos: int = 4, iters: int = 12,
                    size: int = 256, seed: int = 0) -> Dict:
    """Clips/s of ``cfg``'s training pipeline (decode, sample, augment) in
    this process with one thread, on synthetic videos written to a
    temporary directory.

    Torch's and OpenCV's thread counts are restored afterwards.

    Args:
        cfg (Config): The config.
        videos (int): Synthetic videos. Defaults to 4.
        iters (int): Timed pipeline runs (after 2 untimed ones).
            Defaults to 12.
        size (int): Frame height (width 4/3 of it). Defaults to 256.
        seed (int): Seed of the videos. Defaults to 0.

    Returns:
        dict: ``clips_per_s_per_worker``, ``video`` (description),
        ``breakdown_ms`` (transform name -> ms per clip).
    """
    pipeline = cfg.train_dataloader.dataset.pipeline
    clip_len = frame_interval = 1
    for step in pipeline:
        if step['type'].endswith('SampleFrames'):
            clip_len = step['clip_len']
            frame_interval = step.get('frame_interval', 1)
    frames = max(64, clip_len * frame_interval + 16)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmx3d')):
        compose = Compose(copy.deepcopy(pipeline))
    names = [type(t).__name__ for t in compose.transforms]
    threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        with tempfile.TemporaryDirectory(prefix='mmx3d_bench_') as tmp:
            rng = np.random.default_rng(seed)
            paths = []
            for i in range(videos):
                path = osp.join(tmp, f'v{i}.mp4')
                write_video(path, render_video(rng, i % 4, frames, size))
                paths.append(path)
            spent = [0.0] * len(names)

            def one(path):
                results = dict(filename=path, label=0, start_index=0,
                               modality='RGB')
                for k, tr in enumerate(compose.transforms):
                    t0 = time.perf_counter()
                    results = tr(results)
                    spent[k] += time.perf_counter() - t0

            for p in paths[:2]:
                one(p)  # warm-up (decoder initialisation)
            spent[:] = [0.0] * len(names)
            t0 = time.perf_counter()
            for i in range(iters):
                one(paths[i % len(paths)])
            total = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv2_threads)
    return dict(
        clips_per_s_per_worker=iters / total,
        video=f'{frames} frames {size * 4 // 3}x{size} mp4v',
        breakdown_ms={n: 1e3 * s / iters for n, s in zip(names, spent)})
