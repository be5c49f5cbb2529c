# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d/engine/hooks/invalid_loss_hook.py: a NaN/inf loss or gradient
stops training with a message (or is skipped up to ``max_skips``) and
never reaches the weights or a checkpoint."""
import glob
import os.path as osp
import types

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import OptimWrapper

import tests.helpers.kill_hook  # noqa: F401 - registers NaNLossHook
from mmx3d.apis import build_runner, find_resume_checkpoint
from mmx3d.engine.hooks import (
    InvalidLossError,
    InvalidLossHook,
    nonfinite_keys,
)
from mmx3d.utils.compat import safe_torch_load
from tests.helpers.tiny import tiny_synthetic_cfg

# --- the hook alone, on a two-layer model and a stand-in runner ----------


class _Net(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 2)
        self.bn = torch.nn.BatchNorm1d(2)

    def forward(self, x):
        return self.bn(self.fc(x))


def _runner(tmp_path, lr=0.1):
    torch.manual_seed(0)
    model = _Net()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=lr))
    return types.SimpleNamespace(
        model=model, optim_wrapper=wrapper, iter=4, epoch=1,
        work_dir=str(tmp_path),
        message_hub=MessageHub.get_instance(f'invalid_loss_{id(model)}'),
        logger=MMLogger.get_instance(f'invalid_loss_{id(model)}'))


def _iteration(hook, runner, x, scale=1.0):
    """One training iteration as MMEngine's train step runs it."""
    hook.before_train_iter(runner, 0)
    loss = runner.model(x).pow(2).mean() * scale
    runner.optim_wrapper.update_params(loss)
    hook.after_train_iter(runner, 0, outputs=dict(loss=loss.detach(),
                                                  loss_cls=loss.detach()))
    runner.iter += 1  # the loop counts after the hooks


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_nan_gradient_is_not_stepped_and_stops(tmp_path):
    runner = _runner(tmp_path)
    hook = InvalidLossHook()
    hook.before_train(runner)
    x = torch.randn(4, 2)
    _iteration(hook, runner, x)  # a good one
    before = _state(runner.model)
    runner.message_hub.update_info('last_ckpt', '/w/epoch_1.pth')
    with pytest.raises(InvalidLossError) as e:
        _iteration(hook, runner, x, scale=float('nan'))
    msg = str(e.value)
    assert 'non-finite loss and gradient at iteration 6 (epoch 2, batch 1)' \
        in msg
    assert 'loss=nan, loss_cls=nan' in msg and 'gradient norm nan' in msg
    assert 'Last good checkpoint: /w/epoch_1.pth' in msg
    after = runner.model.state_dict()
    for k, v in before.items():  # weights and BN statistics untouched
        torch.testing.assert_close(after[k], v, rtol=0, atol=0, msg=k)
    hook.after_train(runner)
    assert 'step' not in vars(runner.optim_wrapper)  # unwrapped again


def test_max_skips_then_stop(tmp_path):
    runner = _runner(tmp_path)
    hook = InvalidLossHook(max_skips=1)
    hook.before_train(runner)
    x = torch.randn(4, 2)
    before = _state(runner.model)
    _iteration(hook, runner, x, scale=float('inf'))  # skipped
    assert hook.num_skipped == 1
    assert not nonfinite_keys(runner.model.state_dict())
    for k, v in before.items():
        torch.testing.assert_close(runner.model.state_dict()[k], v, rtol=0,
                                   atol=0, msg=k)
    _iteration(hook, runner, x)  # good steps go on and change the weights
    assert not torch.equal(runner.model.fc.weight, before['fc.weight'])
    with pytest.raises(InvalidLossError,
                       match=r'1 bad iteration\(s\) skipped before '
                       r'\(max_skips=1\).*Last good checkpoint: none saved'):
        _iteration(hook, runner, x, scale=float('nan'))


def test_weights_overflowing_after_a_finite_step_stop_at_once(tmp_path):
    runner = _runner(tmp_path, lr=3e38)  # finite, but w - lr * g is not
    hook = InvalidLossHook(max_skips=5)
    hook.before_train(runner)
    with pytest.raises(InvalidLossError,
                       match='non-finite weights after the optimizer step '
                       'at iteration 5.*cannot be undone'):
        _iteration(hook, runner, torch.randn(4, 2), scale=10.0)


def test_max_skips_must_be_a_non_negative_int():
    with pytest.raises(ValueError, match='max_skips must be an integer >= 0'):
        InvalidLossHook(max_skips=-1)


# --- the shipped hooks in a real Runner (slow: a few seconds each) -------


def _tiny(synthetic_data, work, **kwargs):
    cfg = tiny_synthetic_cfg(synthetic_data, work, **kwargs)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    return cfg


def _checkpoints_are_finite(work):
    for path in glob.glob(osp.join(work, '*.pth')):
        assert not nonfinite_keys(safe_torch_load(path)['state_dict']), path


@pytest.mark.slow
def test_nan_loss_stops_training_naming_the_last_checkpoint(
        synthetic_data, tmp_path):
    work = str(tmp_path / 'work')
    cfg = _tiny(synthetic_data, work, max_epochs=3)
    cfg.custom_hooks.append(dict(type='NaNLossHook', at_iters=[6]))
    runner = build_runner(cfg)
    with pytest.raises(InvalidLossError) as e:
        runner.train()
    msg = str(e.value)
    assert 'at iteration 6 (epoch 2, batch 2)' in msg
    assert 'loss_cls=nan' in msg
    assert f'Last good checkpoint: {osp.join(work, "epoch_1.pth")}' in msg
    model = runner.model
    assert not nonfinite_keys(model.state_dict())
    assert sorted(osp.basename(p) for p in glob.glob(
        osp.join(work, '*.pth'))) == ['epoch_1.pth']
    _checkpoints_are_finite(work)
    assert find_resume_checkpoint(work) == osp.join(work, 'epoch_1.pth')


@pytest.mark.slow
def test_max_skips_trains_through_bad_steps(synthetic_data, tmp_path):
    work = str(tmp_path / 'work')
    cfg = _tiny(synthetic_data, work, max_epochs=2)
    cfg.default_hooks.invalid_loss.max_skips = 2
    cfg.custom_hooks.append(dict(type='NaNLossHook', at_iters=[2, 5]))
    runner = build_runner(cfg)
    runner.train()
    hook = [h for h in runner.hooks if isinstance(h, InvalidLossHook)][0]
    assert hook.num_skipped == 2
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    _checkpoints_are_finite(work)


@pytest.mark.slow
def test_lr_1e6_probe_stops_before_any_nan_is_saved(synthetic_data,
                                                    tmp_path):
    """The issue's probe: ``--cfg-options optim_wrapper.optimizer.lr=1e6``
    used to train to the end with NaN weights as latest and best."""
    work = str(tmp_path / 'work')
    cfg = tiny_synthetic_cfg(synthetic_data, work, max_epochs=2)
    cfg.train_cfg.val_interval = 1
    cfg.optim_wrapper.optimizer.lr = 1e6
    runner = build_runner(cfg)
    with pytest.raises(InvalidLossError, match='non-finite .* at iteration'):
        runner.train()
    assert not nonfinite_keys(runner.model.state_dict())
    _checkpoints_are_finite(work)
    pointer = osp.join(work, 'last_checkpoint')
    if osp.isfile(pointer):
        assert not nonfinite_keys(
            safe_torch_load(open(pointer).read().strip())['state_dict'])
