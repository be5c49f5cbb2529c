# Copyright (c) mmx3d contributors. All rights reserved.
"""PreemptionHook and ResumableEpochBasedTrainLoop on a toy model through
MMEngine's real Runner (in-process, a second each): SIGTERM/SIGUSR1 ->
iteration checkpoint + exit 75, resume in the middle of an epoch exactly
as an uninterrupted run, the sampler seed kept, a timed-out collective
named. The multi-process runs are in tests/test_tools/
test_dist_reliability.py."""
import glob
import os
import os.path as osp
import signal
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import BatchSampler, DataLoader, Dataset

from mmx3d.engine import ResumableEpochBasedTrainLoop, skip_batches
from mmx3d.engine.hooks import PREEMPTION_EXIT_CODE, PreemptionHook
from mmx3d.engine.runner import loops as loops_mod
from mmx3d.engine.runner.loops import (
    CollectiveTimeoutError,
    is_collective_timeout,
)
from mmx3d.utils.compat import safe_torch_load
from tests.helpers.fault_hooks import SignalOnceHook
from tests.helpers.tiny import ROOT

NUM_SAMPLES, BATCH, EPOCHS = 16, 2, 2
PER_EPOCH = NUM_SAMPLES // BATCH  # 8 iterations per epoch, 16 in all


class _Toy(Dataset):

    def __len__(self):
        return NUM_SAMPLES

    def __getitem__(self, i):
        return dict(inputs=torch.full((3, ), float(i)), idx=i)


class _Linear(BaseModel):

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(3, 1)

    def forward(self, inputs, idx=None, data_samples=None, mode='loss'):
        x = torch.stack(inputs) / NUM_SAMPLES
        return dict(loss=((self.fc(x) - 1)**2).mean())


class _Record(Hook):
    """(iter, epoch, batch_idx, sample indices, lr) of every iteration."""

    def __init__(self):
        self.rows = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.rows.append((runner.iter + 1, runner.epoch, batch_idx,
                          tuple(data_batch['idx']),
                          runner.optim_wrapper.get_lr()['lr'][0]))


def _runner(work_dir, hooks, seed=0, resume=False, loader=None, **kwargs):
    return Runner(
        model=_Linear(),
        work_dir=work_dir,
        train_dataloader=dict(
            dict(dataset=_Toy(), batch_size=BATCH, num_workers=0,
                 sampler=dict(type='DefaultSampler', shuffle=True)),
            **(loader or {})),
        train_cfg=dict(type='ResumableEpochBasedTrainLoop',
                       max_epochs=EPOCHS),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1,
                                          momentum=0.9)),
        param_scheduler=dict(type='CosineAnnealingLR', by_epoch=False,
                             T_max=EPOCHS * PER_EPOCH),
        default_hooks=dict(
            checkpoint=dict(type='AtomicCheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=hooks,
        randomness=dict(seed=seed),
        resume=resume,
        default_scope='mmx3d',
        experiment_name=f'{osp.basename(work_dir)}_{resume}_{seed}',
        log_level='INFO',
        **kwargs)


def _uninterrupted(tmp_path):
    record = _Record()
    runner = _runner(str(tmp_path / 'ref'), [record])
    runner.train()
    return record.rows, runner.model.fc.weight.detach().clone()


def _preempted(tmp_path, at_iter, signum=signal.SIGTERM):
    work = str(tmp_path / f'pre{at_iter}')
    record = _Record()
    hooks = [PreemptionHook(), record,
             SignalOnceHook(at_iter, signum, osp.join(work, 'sent'))]
    with pytest.raises(SystemExit) as exit_info:
        _runner(work, hooks).train()
    return work, record.rows, exit_info.value.code


def test_sigusr1_saves_an_iteration_checkpoint_and_exits_75(tmp_path):
    before = signal.getsignal(signal.SIGUSR1)
    work, rows, code = _preempted(tmp_path, 11, signal.SIGUSR1)
    assert code == PREEMPTION_EXIT_CODE == 75
    assert [r[0] for r in rows] == list(range(1, 12))  # stopped after 11
    path = osp.join(work, 'iter_11.pth')
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip() == path
    ckpt = safe_torch_load(path)
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == 11
    assert ckpt['meta']['preemption'] == dict(
        signal='SIGUSR1', batches_done_in_epoch=3, batches_in_epoch=8)
    assert {'state_dict', 'optimizer', 'param_schedulers',
            'message_hub'} <= set(ckpt)
    assert not glob.glob(osp.join(work, '*.tmp*'))
    # epoch 1's regular checkpoint is still there, the handler is back
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    assert signal.getsignal(signal.SIGUSR1) == before
    logs = ''.join(open(p).read() for p in glob.glob(
        osp.join(work, '*', '*.log')))
    assert 'preempted by SIGUSR1 (this rank) after batch 3 of 8 of epoch 2' \
        in logs


@pytest.mark.parametrize('at_iter', [3, 8, 16])
def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path,
                                                            at_iter):
    """SIGTERM after iteration 3 (mid-epoch 1), 8 (end of epoch 1) or 16
    (the last), then resume: the remaining iterations see the same batches,
    in the same order, with the same learning rates, and the weights end
    equal to an uninterrupted run's. The resumed runner gets another seed:
    the loop puts the interrupted run's sampler seed back."""
    ref_rows, ref_weight = _uninterrupted(tmp_path)
    work, rows, code = _preempted(tmp_path, at_iter)
    assert code == 75
    assert rows == ref_rows[:at_iter]
    record = _Record()
    runner = _runner(work, [PreemptionHook(), record], seed=123,
                     resume=True)
    runner.train()
    assert runner.iter == EPOCHS * PER_EPOCH
    assert record.rows == ref_rows[at_iter:]
    torch.testing.assert_close(runner.model.fc.weight, ref_weight,
                               rtol=0, atol=0)
    assert osp.isfile(osp.join(work, f'epoch_{EPOCHS}.pth'))


class _SignalingToy(_Toy):
    """Loading sample 8 (batch 5) in a DataLoader worker takes a second;
    half-way, the worker sends SIGUSR1 to itself and to the training
    process, which is waiting for that batch (Slurm's ``--signal=USR1@90``
    signals every process of the job step)."""

    def __getitem__(self, i):
        if i == 8 and torch.utils.data.get_worker_info() is not None:
            time.sleep(0.5)
            os.kill(os.getppid(), signal.SIGUSR1)
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.5)
        return super().__getitem__(i)


def test_sigusr1_to_every_process_spares_the_dataloader_workers(tmp_path):
    """The handlers are installed before the DataLoader workers fork, so a
    worker signalled with the training process keeps loading (SIGUSR1's
    default action would kill it, and the waiting training process with
    it); the batch being waited for is trained and iter_5.pth written."""
    work = str(tmp_path / 'w')
    runner = _runner(work, [PreemptionHook()], loader=dict(
        dataset=_SignalingToy(), num_workers=1, persistent_workers=True,
        sampler=dict(type='DefaultSampler', shuffle=False)))
    with pytest.raises(SystemExit) as info:
        runner.train()
    assert info.value.code == 75
    ckpt = safe_torch_load(osp.join(work, 'iter_5.pth'))
    assert ckpt['meta']['iter'] == 5
    assert ckpt['meta']['preemption']['signal'] == 'SIGUSR1'


def test_handlers_restored_and_no_exit_without_signal(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    class _Probe(Hook):

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            seen.append(signal.getsignal(signal.SIGTERM))

    hook = PreemptionHook()
    runner = _runner(str(tmp_path / 'w'), [hook, _Probe()])
    runner.train()
    assert runner.iter == EPOCHS * PER_EPOCH
    assert seen and all(h == hook._handle for h in seen)
    assert signal.getsignal(signal.SIGTERM) == before
    assert not glob.glob(str(tmp_path / 'w' / 'iter_*.pth'))


def test_hook_arguments_are_checked():
    with pytest.raises(ValueError, match="'SIGKILL' cannot be handled"):
        PreemptionHook(signals=('SIGTERM', 'SIGKILL'))
    with pytest.raises(ValueError, match="'SIGTREM' cannot be handled"):
        PreemptionHook(signals=('SIGTREM', ))
    with pytest.raises(ValueError, match='interval must be >= 1'):
        PreemptionHook(interval=0)


def _loader(batch_sampler_cls=BatchSampler):
    sampler = DefaultSampler(list(range(11)), shuffle=True, seed=3)
    sampler.set_epoch(2)
    return DataLoader(list(range(11)), batch_sampler=batch_sampler_cls(
        sampler, 3, drop_last=False))


def test_skip_batches_by_index_and_by_reading():
    full = [b.tolist() for b in _loader()]
    assert len(full) == 4
    loader = _loader()
    sampler = loader.batch_sampler.sampler
    with skip_batches(loader, 2) as batches:
        assert len(loader) == 4  # hooks keep seeing the epoch's length
        assert [b.tolist() for b in batches] == full[2:]
    assert loader.batch_sampler.sampler is sampler
    with skip_batches(loader, 0) as batches:
        assert [b.tolist() for b in batches] == full

    class _Custom(BatchSampler):
        pass

    reads = []
    loader = _loader(_Custom)
    loader.collate_fn = lambda b: reads.append(b) or torch.tensor(b)
    with skip_batches(loader, 3) as batches:
        assert [b.tolist() for b in batches] == full[3:]
    assert len(reads) == 4  # read and dropped, not skipped by index


def test_is_collective_timeout():
    assert is_collective_timeout(RuntimeError(
        '[../gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting '
        '8000ms for recv operation to complete'))
    assert is_collective_timeout(RuntimeError(
        '[Rank 0] Watchdog caught collective operation timeout: '
        'WorkNCCL(SeqNum=5, OpType=ALLREDUCE) ran for 1800000 milliseconds'))
    assert not is_collective_timeout(RuntimeError(
        'DataLoader timed out after 60 seconds'))
    assert not is_collective_timeout(RuntimeError('Connection closed by '
                                                  'peer'))
    assert not is_collective_timeout(ValueError('timeout'))


def test_timed_out_collective_is_named(tmp_path, monkeypatch):
    """A gloo timeout inside training (here raised by the model on a
    pretend 2-rank world) becomes a CollectiveTimeoutError that says a rank
    is frozen, the timeout and the last checkpoint; other errors pass."""
    runner = _runner(str(tmp_path / 't'), [],
                     cfg=dict(env_cfg=dict(dist_cfg=dict(timeout=7))))
    gloo = ('[gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting '
            '7000ms for recv operation to complete')

    def frozen_peer(*args, **kwargs):
        raise RuntimeError(gloo)

    monkeypatch.setattr(runner.model, 'train_step', frozen_peer)
    monkeypatch.setattr(loops_mod, 'get_dist_info', lambda: (0, 2))
    with pytest.raises(CollectiveTimeoutError) as info:
        runner.train()
    text = str(info.value)
    assert 'rank 0 of 2' in text and 'another rank is frozen' in text
    assert 'within 7 s (env_cfg.dist_cfg.timeout)' in text
    assert 'Last checkpoint: none' in text and gloo in text

    runner = _runner(str(tmp_path / 'u'), [])
    monkeypatch.setattr(runner.model, 'train_step', lambda *a, **k: (
        _ for _ in ()).throw(RuntimeError('shape mismatch')))
    with pytest.raises(RuntimeError, match='^shape mismatch$'):
        runner.train()


def test_loop_is_registered_in_the_mmx3d_scope():
    from mmx3d.registry import LOOPS
    assert LOOPS.get('ResumableEpochBasedTrainLoop') is \
        ResumableEpochBasedTrainLoop


def test_shipped_epoch_configs_use_the_loop_and_the_hook():
    """Every shipped config with an epoch-based schedule trains with
    ResumableEpochBasedTrainLoop, and every config has a PreemptionHook."""
    paths = sorted(glob.glob(osp.join(ROOT, 'configs', 'x3d', '*.py')))
    assert paths
    for path in paths:
        cfg = Config.fromfile(path)
        assert cfg.train_cfg.type in ('ResumableEpochBasedTrainLoop',
                                      'IterBasedTrainLoop'), path
        hooks = list(cfg.default_hooks.values()) + list(
            cfg.get('custom_hooks') or [])
        assert any(h and h.get('type') == 'PreemptionHook'
                   for h in hooks), path

