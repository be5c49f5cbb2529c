# Copyright (c) mmx3d contributors. All rights reserved.
"""Faults a cluster inflicts on tools/dist_train.sh and tools/slurm_train.sh,
injected for real: SIGTERM to one rank mid-epoch, SIGKILL of one rank,
SIGSTOP of one rank, two torchrun "nodes" on localhost, Slurm preemption
(with stub ``srun``/``scontrol``). The launches (2 CPU processes, 4 for the
two nodes, X3D shrunk to seconds of work) are marked ``slow``."""
import glob
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import threading
import time

import pytest

from mmx3d.utils.compat import safe_torch_load
from tests.helpers.tiny import ROOT, tiny_synthetic_cfg

DIST_TRAIN = osp.join(ROOT, 'tools', 'dist_train.sh')
SLURM_TRAIN = osp.join(ROOT, 'tools', 'slurm_train.sh')
ITERS_PER_EPOCH = 4  # 16 videos / (2 processes x 2 clips)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _cfg(data, work, tmp_path, name, hooks=(), max_epochs=2,
         batch_size=2):
    """The tiny synthetic config (no validation) with the test hooks."""
    cfg = tiny_synthetic_cfg(data, work, max_epochs=max_epochs,
                             batch_size=batch_size)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    # what configs/_base_ ships (set here too while it does not yet)
    if cfg.train_cfg.type == 'EpochBasedTrainLoop':
        cfg.train_cfg.type = 'ResumableEpochBasedTrainLoop'
    cfg.default_hooks.setdefault('preemption', dict(type='PreemptionHook'))
    cfg.custom_imports = dict(
        imports=['mmx3d', 'tests.helpers.fault_hooks'],
        allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.custom_hooks) + list(hooks)
    path = str(tmp_path / f'{name}.py')
    cfg.dump(path)
    return path


_LAUNCHES = []


@pytest.fixture(autouse=True)
def _no_process_left():
    """A failed test leaves no rank running."""
    yield
    while _LAUNCHES:
        _LAUNCHES.pop().kill()


class _Launch:
    """A launcher command in its own session; every output line is kept
    with the time it arrived."""

    def __init__(self, cmd, env=None):
        full_env = dict(os.environ, OMP_NUM_THREADS='1',
                        PYTHONPATH=ROOT + os.pathsep +
                        os.environ.get('PYTHONPATH', ''))
        full_env.update(env or {})
        self.lines = []
        self.start = time.time()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _LAUNCHES.append(self)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.time(), line))

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self._reader.join(5)
            pytest.fail(f'still running after {timeout} s:\n{self.tail()}')
        self._reader.join(10)
        self.end = time.time()
        return rc

    def kill(self):
        """SIGKILL the launcher's session and every descendant (torchrun
        puts each rank in a session of its own, out of reach of
        ``killpg``; an orphaned torchrun stays in the launcher's)."""
        table = subprocess.run(['ps', '-eo', 'pid=,ppid=,sid='],
                               capture_output=True, text=True).stdout
        rows = [tuple(map(int, line.split())) for line in table.splitlines()]
        todo = [pid for pid, _, sid in rows if sid == self.proc.pid]
        pids = set()
        while todo:
            pid = todo.pop()
            pids.add(pid)
            todo += [p for p, ppid, _ in rows
                     if ppid == pid and p not in pids]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    @property
    def text(self):
        return ''.join(line for _, line in self.lines)

    def first(self, needle):
        """Arrival time of the first line holding ``needle``."""
        return next(t for t, line in self.lines if needle in line)

    def tail(self, n=4000):
        return self.text[-n:]


def _dist_train(cfg_path, work, env=None, gpus=2):
    env = dict(env or {})
    env.setdefault('PORT', str(_free_port()))
    return _Launch(['bash', DIST_TRAIN, cfg_path, str(gpus), '--work-dir',
                    work], env)


def _scalars(work):
    rows = []
    for path in sorted(glob.glob(osp.join(work, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if 'lr' in r and 'step' in r]


@pytest.mark.slow
def test_sigterm_mid_epoch_then_the_same_command_continues(synthetic_data,
                                                           tmp_path):
    """SIGTERM to rank 1 after iteration 6 (batch 2 of 4 of epoch 2): every
    rank finishes it, iter_6.pth is written, dist_train.sh exits 75; the
    same command then trains iterations 7 and 8 only, with the lrs of an
    uninterrupted run, and ends at iteration 8."""
    from mmx3d.apis import build_runner, load_config

    work = str(tmp_path / 'work')
    marker = str(tmp_path / 'sent')
    cfg_path = _cfg(synthetic_data, work, tmp_path, 'term', hooks=[
        dict(type='SignalOnceHook', at_iter=6, signum=int(signal.SIGTERM),
             rank=1, marker=marker)
    ])
    first = _dist_train(cfg_path, work)
    assert first.wait(300) == 75, first.tail()
    assert 'dist_train.sh: preempted; checkpoint' in first.text
    assert 'preempted by SIGTERM (another rank) after batch 2 of 4 of ' \
        'epoch 2, iteration 6' in first.text
    path = osp.join(work, 'iter_6.pth')
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip() == path
    ckpt = safe_torch_load(path)  # complete: loads with all its parts
    assert ckpt['meta']['iter'] == 6 and ckpt['meta']['epoch'] == 1
    assert ckpt['meta']['preemption'] == dict(
        signal='SIGTERM', batches_done_in_epoch=2, batches_in_epoch=4)
    assert {'state_dict', 'optimizer', 'param_schedulers'} <= set(ckpt)
    assert not glob.glob(osp.join(work, '*.tmp*'))
    print(f'\nSIGTERM -> exit 75: {first.end - float(open(marker).read()):.1f}'
          ' s')

    second = _dist_train(cfg_path, work)  # the same command
    assert second.wait(300) == 0, second.tail()
    assert 'resuming epoch 2 after its first 2 of 4 batches' in second.text
    final = safe_torch_load(osp.join(work, 'epoch_2.pth'))
    assert final['meta']['iter'] == 2 * ITERS_PER_EPOCH

    # an uninterrupted run of the schedule: 1 process x 4 clips (the same
    # total batch, so the same auto-scaled lr and 4 iterations per epoch)
    ref_work = str(tmp_path / 'ref')
    ref_cfg = load_config(_cfg(synthetic_data, ref_work, tmp_path, 'ref',
                               batch_size=4))
    build_runner(ref_cfg).train()
    ref = {r['step']: r['lr'] for r in _scalars(ref_work)}
    rows = _scalars(work)
    assert sorted(r['step'] for r in rows) == list(range(1, 9))  # no repeat
    assert sorted(ref) == list(range(1, 9))
    for r in rows:
        assert r['lr'] == pytest.approx(ref[r['step']], rel=1e-12), r


@pytest.mark.slow
def test_sigusr1_to_the_launcher_checkpoints_every_rank(synthetic_data,
                                                        tmp_path):
    """SIGUSR1 to dist_train.sh itself (what Slurm's --signal or a
    container stop delivers): passed on through torchrun to every rank,
    which save iter_2.pth and stop; the script exits 75."""
    work = str(tmp_path / 'work')
    marker = str(tmp_path / 'at_iter_2')
    cfg_path = _cfg(synthetic_data, work, tmp_path, 'usr1', max_epochs=1,
                    hooks=[dict(type='WaitForSignalHook', at_iter=2,
                                marker=marker)])
    run = _dist_train(cfg_path, work)
    deadline = time.time() + 240
    while not osp.exists(marker) and run.proc.poll() is None and \
            time.time() < deadline:
        time.sleep(0.1)
    assert osp.exists(marker), run.tail()
    sent = time.time()
    run.proc.send_signal(signal.SIGUSR1)
    assert run.wait(120) == 75, run.tail()
    assert 'preempted by SIGUSR1 (this rank) after batch 2 of 4 of epoch 1' \
        in run.text
    ckpt = safe_torch_load(osp.join(work, 'iter_2.pth'))
    assert ckpt['meta']['preemption']['signal'] == 'SIGUSR1'
    assert ckpt['meta']['iter'] == 2
    print(f'\nSIGUSR1 to dist_train.sh -> exit 75: {run.end - sent:.1f} s')


@pytest.mark.slow
def test_sigkill_of_one_rank_restarts_the_group(synthetic_data, tmp_path):
    """SIGKILL of rank 1 in epoch 2 with MAX_RESTARTS=1: torchrun restarts
    both ranks, they resume from epoch_1.pth and finish, exit 0."""
    work = str(tmp_path / 'work')
    marker = str(tmp_path / 'killed')
    cfg_path = _cfg(synthetic_data, work, tmp_path, 'kill', hooks=[
        dict(type='SignalOnceHook', at_iter=6, signum=int(signal.SIGKILL),
             rank=1, marker=marker)
    ])
    run = _dist_train(cfg_path, work, env=dict(MAX_RESTARTS='1'))
    assert run.wait(300) == 0, run.tail()
    killed = float(open(marker).read())
    assert 'exitcode: -9' in run.text
    resumed = run.first(f'resuming from {osp.join(work, "epoch_1.pth")}')
    final = safe_torch_load(osp.join(work, 'epoch_2.pth'))
    assert final['meta']['iter'] == 2 * ITERS_PER_EPOCH
    print(f'\nSIGKILL -> restarted group resumed: {resumed - killed:.1f} s, '
          f'-> done: {run.end - killed:.1f} s')


@pytest.mark.slow
def test_frozen_rank_ends_the_job_with_a_clear_message(synthetic_data,
                                                       tmp_path):
    """SIGSTOP of rank 1 with MMX3D_DIST_TIMEOUT=8: rank 0 says within the
    timeout (+ slack) that a rank is frozen, and the job ends (torchrun
    SIGKILLs the stopped rank 30 s later) instead of waiting 30 min."""
    work = str(tmp_path / 'work')
    marker = str(tmp_path / 'stopped')
    cfg_path = _cfg(synthetic_data, work, tmp_path, 'stop', hooks=[
        dict(type='SignalOnceHook', at_iter=3, signum=int(signal.SIGSTOP),
             rank=1, marker=marker)
    ])
    run = _dist_train(cfg_path, work, env=dict(
        MAX_RESTARTS='0', MMX3D_DIST_TIMEOUT='8'))
    rc = run.wait(150)
    assert rc != 0
    stopped = float(open(marker).read())
    said = run.first('another rank is frozen, stopped or unreachable')
    assert 'did not complete within 8 s (env_cfg.dist_cfg.timeout)' in \
        run.text
    assert 8 <= said - stopped < 8 + 10, said - stopped
    assert run.end - stopped < 8 + 30 + 20
    print(f'\nSIGSTOP -> message: {said - stopped:.1f} s, -> job ended: '
          f'{run.end - stopped:.1f} s')


@pytest.mark.slow
def test_two_nodes_on_localhost_train_four_identical_ranks(synthetic_data,
                                                           tmp_path):
    """NNODES=2, NODE_RANK=0|1, MASTER_ADDR=127.0.0.1: two dist_train.sh
    "nodes" of 2 processes train one model on 4 ranks; all 4 end with
    identical parameters, equal to the saved checkpoint's, and changed by
    training."""
    import hashlib
    work = str(tmp_path / 'work')
    cfg_path = _cfg(synthetic_data, work, tmp_path, 'nodes', max_epochs=1,
                    batch_size=1, hooks=[
                        dict(type='ParamDigestHook', out_dir=str(tmp_path))
                    ])
    port = str(_free_port())
    nodes = [
        _dist_train(cfg_path, work, env=dict(
            NNODES='2', NODE_RANK=str(rank), MASTER_ADDR='127.0.0.1',
            PORT=port))
        for rank in (0, 1)
    ]
    for node in nodes:
        assert node.wait(300) == 0, node.tail()
    dumps = [json.load(open(str(tmp_path / f'rank{r}_params.json')))
             for r in range(4)]
    assert [d['world_size'] for d in dumps] == [4] * 4
    assert [d['iter'] for d in dumps] == [ITERS_PER_EPOCH] * 4
    for d in dumps[1:]:
        assert d['params'] == dumps[0]['params'], d['rank']
    saved = safe_torch_load(osp.join(work, 'epoch_1.pth'))['state_dict']
    for key, value in saved.items():
        digest = hashlib.sha256(
            value.contiguous().numpy().tobytes()).hexdigest()
        assert dumps[0]['params'][key] == digest, key
    assert dumps[0]['params'] != dumps[0]['initial']


def _stubs(tmp_path, srun_body):
    """``srun`` and ``scontrol`` stubs that record their arguments."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    log = tmp_path / 'calls'
    (bin_dir / 'srun').write_text(
        '#!/usr/bin/env bash\n'
        f'printf "%s\\n" "$@" > {log}.srun\n' + srun_body)
    (bin_dir / 'scontrol').write_text(
        '#!/usr/bin/env bash\n'
        f'echo "$@" >> {log}.scontrol\n')
    for name in ('srun', 'scontrol'):
        os.chmod(bin_dir / name, 0o755)
    return str(bin_dir), str(log)


@pytest.mark.parametrize(
    'srun_rc, job_id, restarts, requeued',
    [(75, '4242', None, True), (75, '4242', '19', True),
     (75, '4242', '20', False), (75, None, None, False),
     (0, '4242', None, False), (1, '4242', None, False)])
def test_slurm_train_requeues_on_preemption(tmp_path, srun_rc, job_id,
                                            restarts, requeued):
    """The script asks for SIGUSR1 90 s before the end, passes train.py's
    status on, and requeues its batch job (at most MAX_REQUEUES=20 times)
    exactly when the ranks exit 75 after a preemption checkpoint."""
    bin_dir, log = _stubs(tmp_path, f'exit {srun_rc}\n')
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('SLURM_')}
    env['PATH'] = bin_dir + os.pathsep + env['PATH']
    if job_id:
        env['SLURM_JOB_ID'] = job_id
    if restarts:
        env['SLURM_RESTART_COUNT'] = restarts
    res = subprocess.run(
        ['bash', SLURM_TRAIN, 'gpu', 'x3d', 'cfg.py', 'work', '--amp'],
        env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == srun_rc, res.stderr
    args = open(log + '.srun').read().split('\n')
    assert '--signal=USR1@90' in args and '--kill-on-bad-exit=1' in args
    assert args[args.index('python'):-1] == [
        'python', '-u', osp.join(ROOT, 'tools', 'train.py'), 'cfg.py',
        '--launcher=slurm', '--work-dir', 'work', '--amp']
    calls = open(log + '.scontrol').read() if osp.exists(
        log + '.scontrol') else ''
    assert calls == ('requeue 4242\n' if requeued else '')


def test_slurm_train_survives_the_preemption_signal(tmp_path):
    """A preemption signals the batch shell too: it waits for srun (whose
    ranks checkpoint) and still requeues."""
    bin_dir, log = _stubs(tmp_path, 'kill -TERM $PPID\nsleep 1\nexit 75\n')
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ['PATH'],
               SLURM_JOB_ID='77', PREEMPT_SIGNAL='')
    res = subprocess.run(['bash', SLURM_TRAIN, 'gpu', 'x3d', 'cfg.py'],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 75, res.stderr
    assert 'got SIGTERM, waiting for the ranks' in res.stderr
    assert open(log + '.scontrol').read() == 'requeue 77\n'
    assert not any(a.startswith('--signal')
                   for a in open(log + '.srun').read().split('\n'))
