# Copyright (c) mmx3d contributors. All rights reserved.
"""Skipped files counted per epoch over dataloader workers and ranks."""
import multiprocessing
import os
import os.path as osp
import re
import shutil
import socket

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.logging import MessageHub, MMLogger

from mmx3d.apis import build_runner
from mmx3d.datasets import RobustVideoDataset
from mmx3d.engine.hooks import SkippedSamplesHook
from mmx3d.engine.hooks.skipped_samples_hook import count_skipped
from tests.helpers.tiny import tiny_synthetic_cfg


def _sample(skipped=None):
    sample = ActionDataSample()
    if skipped is not None:
        sample.set_metainfo(dict(num_skipped_files=skipped))
    return sample


def test_count_skipped_sums_the_batch():
    batch = dict(inputs=[torch.zeros(1)] * 3,
                 data_samples=[_sample(2), _sample(), _sample(1)])
    assert count_skipped(batch) == 3
    assert count_skipped(dict(inputs=[])) == 0


def _corrupt_copy(synthetic_data, tmp_path, n):
    data = str(tmp_path / 'data')
    shutil.copytree(synthetic_data, data)
    with open(osp.join(data, 'train_list_videos.txt')) as f:
        names = [line.split()[0] for line in f][:n]
    for name in names:
        with open(osp.join(data, 'videos', name), 'wb') as f:
            f.write(os.urandom(2048))
    return data, names


def test_dataset_marks_the_replacing_sample(synthetic_data, tmp_path):
    data, (bad, ) = _corrupt_copy(synthetic_data, tmp_path, 1)
    pipeline = [
        dict(type='DecordInit'),
        dict(type='SampleFrames', clip_len=2, frame_interval=1),
        dict(type='DecordDecode'),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]
    ds = RobustVideoDataset(
        ann_file=osp.join(data, 'train_list_videos.txt'), pipeline=pipeline,
        data_prefix=dict(video=osp.join(data, 'videos')))
    out = ds[0]  # the corrupt one: replaced by a random readable video
    assert ds.num_skipped >= 1
    assert out['data_samples'].metainfo['num_skipped_files'] == \
        ds.num_skipped
    assert 'num_skipped_files' not in ds[1]['data_samples'].metainfo


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class _Runner:
    """What the hook uses of a Runner."""

    def __init__(self, rank):
        self.message_hub = MessageHub.get_instance(f'skip_test_{rank}')
        self.logger = MMLogger.get_instance(f'skip_test_{rank}')
        self.train_dataloader = [None, None]  # 2 iterations per epoch
        self.epoch = 0


def _rank(rank, port, queue):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    hook, runner = SkippedSamplesHook(), _Runner(rank)
    hook.before_train_epoch(runner)
    # rank 0 skipped 1 + 2 files, rank 1 skipped 4
    batches = ([[_sample(1)], [_sample(), _sample(2)]] if rank == 0 else
               [[_sample(4)], [_sample()]])
    for i, samples in enumerate(batches):
        hook.after_train_iter(runner, i, dict(data_samples=samples))
    queue.put((rank, hook.epoch_skipped,
               runner.message_hub.get_scalar('train/skipped').current()))
    dist.destroy_process_group()


def test_counts_are_summed_over_ranks():
    ctx = multiprocessing.get_context('fork')
    queue, port = ctx.Queue(), _free_port()
    procs = [ctx.Process(target=_rank, args=(r, port, queue))
             for r in range(2)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == [(0, 7, 7), (1, 7, 7)]


@pytest.mark.slow
def test_epoch_log_line_counts_skips_of_all_workers(synthetic_data,
                                                     tmp_path):
    """A real Runner, 2 dataloader workers, 2 corrupt videos of 16: each
    epoch's last log line says how many files the workers skipped."""
    data, bad = _corrupt_copy(synthetic_data, tmp_path, 2)
    work = str(tmp_path / 'work')
    cfg = tiny_synthetic_cfg(data, work, max_epochs=2)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    cfg.train_dataloader.num_workers = 2
    cfg.custom_hooks.append(dict(type='SkippedSamplesHook'))
    cfg.randomness = dict(seed=0)
    runner = build_runner(cfg)
    runner.train()
    log = ''.join(
        open(osp.join(r, f)).read() for r, _, fs in os.walk(work)
        for f in fs if f.endswith('.log'))
    # the messages of each epoch end at its last iteration's line
    epochs = re.split(r'.*Epoch\(train\) \[\d\]\[4/4\].*\n', log)
    ends = re.findall(r'Epoch\(train\) \[(\d)\]\[4/4\].*', log)
    assert ends == ['1', '2']
    totals = []
    for e, chunk in enumerate(epochs[:2], 1):
        skips = re.findall(r"skipping unreadable video '(.*?)'", chunk)
        assert set(skips) == {osp.join(data, 'videos', b) for b in bad}
        line = re.search(rf'Epoch\(train\) \[{e}\]\[4/4\].*', log).group()
        assert f'skipped: {len(skips)}' in line, line
        totals.append(len(skips))
        # lines before the epoch's end carry no stale count
        assert 'skipped' not in re.search(
            rf'Epoch\(train\) \[{e}\]\[3/4\].*', log).group()
    hook = [h for h in runner.hooks if isinstance(h, SkippedSamplesHook)][0]
    assert hook.total_skipped == sum(totals)
