# Copyright (c) mmx3d contributors. All rights reserved.
"""End-to-end training through the real MMEngine Runner on real decoded
videos: DDP on CPU, kill + resume, bad data, atomic checkpoints, the
schedule. The runs through the Runner are marked ``slow``."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmx3d.apis import build_runner, find_resume_checkpoint
from mmx3d.utils.compat import safe_torch_load
from tests.helpers.paths import subprocess_env
from tests.helpers.tiny import tiny_synthetic_cfg

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.slow
def test_two_process_ddp_gives_identical_parameters(synthetic_data,
                                                    tmp_path):
    work = str(tmp_path / 'ddp')
    os.makedirs(work)
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_port=29611',
        osp.join(ROOT, 'tests/test_apis/_ddp_worker.py'), synthetic_data, work
    ]
    res = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert 'world 2 backend gloo wrapper MMDistributedDataParallel' in \
        res.stdout
    s0 = torch.load(osp.join(work, 'rank0_state.pth'))
    s1 = torch.load(osp.join(work, 'rank1_state.pth'))
    for k in s0:
        torch.testing.assert_close(s0[k], s1[k], msg=k, rtol=0, atol=0)
    # training really changed the weights (4 iterations of 2 x 4 clips)
    from mmx3d.registry import MODELS
    torch.manual_seed(0)
    cfg = tiny_synthetic_cfg(synthetic_data, work)
    init = MODELS.build(cfg.model).state_dict()
    key = 'cls_head.fc_cls.weight'
    assert not torch.allclose(init[key], s0[key])
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))


def _read_scalars(work_dir):
    rows = []
    for root, _, files in os.walk(work_dir):
        for f in files:
            if f == 'scalars.json':
                with open(osp.join(root, f)) as fh:
                    rows += [json.loads(line) for line in fh if line.strip()]
    return rows


@pytest.mark.slow
def test_kill_mid_epoch_then_resume(synthetic_data, tmp_path):
    """SIGKILL in epoch 2, then ``tools/train.py --resume``: training
    continues after the last checkpoint with the scheduled learning rate."""
    work = str(tmp_path / 'resume')
    cfg = tiny_synthetic_cfg(synthetic_data, work, max_epochs=3)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    iters_per_epoch = 4  # 16 videos / batch 4
    cfg.custom_imports = dict(
        imports=['mmx3d', 'tests.helpers.kill_hook'],
        allow_failed_imports=False)
    cfg.custom_hooks.append(
        dict(type='KillOnceHook', at_iter=iters_per_epoch + 2,
             marker=osp.join(str(tmp_path), 'killed')))
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    train = [sys.executable, osp.join(ROOT, 'tools/train.py'), cfg_path,
             '--work-dir', work]
    first = subprocess.run(train, env=subprocess_env(), capture_output=True,
                           text=True, timeout=600, cwd=ROOT)
    assert first.returncode == -9, first.stderr[-3000:]  # SIGKILL
    assert find_resume_checkpoint(work).endswith('epoch_1.pth')
    assert not osp.exists(osp.join(work, 'epoch_2.pth'))

    second = subprocess.run(train + ['--resume'], env=subprocess_env(),
                            capture_output=True, text=True, timeout=600,
                            cwd=ROOT)
    log = second.stdout + second.stderr
    assert second.returncode == 0, log[-3000:]
    assert 'resumed epoch: 1, iter: 4' in log
    ckpt = safe_torch_load(osp.join(work, 'epoch_3.pth'))
    assert ckpt['meta']['iter'] == 3 * iters_per_epoch
    # the learning rates logged after the resume follow the schedule
    base = 1.6 * 4 / 512  # auto_scale_lr: 1 process x batch 4 of 512
    total = 3 * iters_per_epoch
    rows = [r for r in _read_scalars(work) if 'lr' in r and 'step' in r]
    resumed = [r for r in rows if r['step'] > iters_per_epoch + 2]
    assert resumed
    for r in resumed:
        n = r['step'] - 1  # lr used for iteration `step` was set at n
        expect = base * 0.5 * (math.cos(math.pi * n / total) + 1)
        assert r['lr'] == pytest.approx(expect, rel=1e-4), r


@pytest.mark.slow
def test_corrupt_video_is_logged_and_skipped(synthetic_data, tmp_path):
    import shutil
    data = str(tmp_path / 'data')
    shutil.copytree(synthetic_data, data)
    first = open(osp.join(data, 'train_list_videos.txt')).readline().split()[0]
    bad = osp.join(data, 'videos', first)
    with open(bad, 'wb') as f:
        f.write(os.urandom(2048))
    work = str(tmp_path / 'work')
    cfg = tiny_synthetic_cfg(data, work, max_epochs=1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    runner = build_runner(cfg)
    runner.train()
    dataset = runner.train_dataloader.dataset
    assert dataset.num_skipped >= 1
    logs = ''.join(
        open(osp.join(r, f)).read() for r, _, fs in os.walk(work)
        for f in fs if f.endswith('.log'))
    assert f"skipping unreadable video '{bad}'" in logs
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))


@pytest.mark.slow
def test_kill_while_saving_keeps_last_checkpoint(synthetic_data, tmp_path,
                                                 monkeypatch):
    work = str(tmp_path / 'atomic')
    cfg = tiny_synthetic_cfg(synthetic_data, work, max_epochs=2)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    runner = build_runner(cfg)
    import mmengine.runner.checkpoint as ckpt_mod
    real_save = ckpt_mod.torch.save
    calls = []

    def dying_save(obj, f, *a, **k):
        calls.append(1)
        if len(calls) == 2:  # the epoch-2 checkpoint
            f.write(b'partial bytes')
            raise KeyboardInterrupt('killed while saving')
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(ckpt_mod.torch, 'save', dying_save)
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert find_resume_checkpoint(work) == osp.join(work, 'epoch_1.pth')
    assert not osp.exists(osp.join(work, 'epoch_2.pth'))
    safe_torch_load(osp.join(work, 'epoch_1.pth'))


def test_cosine_warmup_schedule_matches_formula(synthetic_data, tmp_path):
    """The base schedule (warm-up multiplied into a half-period cosine)
    evaluated by MMEngine's schedulers at sample iterations."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/schedules/sgd_cosine_256e.py'))
    model = torch.nn.Linear(2, 2)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    epoch_len = 10
    scheds = []
    for s in cfg.param_scheduler:
        s = dict(s)
        s.pop('convert_to_iter_based')
        s['by_epoch'] = False
        s['begin'] *= epoch_len
        s['end'] *= epoch_len
        if 'T_max' in s:
            s['T_max'] *= epoch_len
        scheds.append(PARAM_SCHEDULERS.build(s, default_args=dict(
            optimizer=optim)))
    N, W, f0, base = 256 * epoch_len, 34 * epoch_len, 0.1, 1.6
    samples = {0, 1, 100, W - 1, W, W + 1, 1000, N // 2, N - 1}
    for n in range(N):
        if n in samples:
            # MMEngine's LinearLR reaches its end factor at iteration W - 1
            w = f0 + (1 - f0) * n / (W - 1) if n < W else 1.0
            expect = base * 0.5 * (math.cos(math.pi * n / N) + 1) * w
            assert optim.get_lr()['lr'][0] == pytest.approx(expect,
                                                            rel=1e-6), n
        optim.step()
        for s in scheds:
            s.step()
    assert cfg.optim_wrapper.optimizer.nesterov is True
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0.0
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=1024)
