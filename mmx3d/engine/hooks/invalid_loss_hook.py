# Copyright (c) mmx3d contributors. All rights reserved.
"""Stop (or skip a few steps) on a non-finite loss or gradient."""
import math
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmx3d.engine.hooks.atomic_checkpoint_hook import nonfinite_keys
from mmx3d.registry import HOOKS


class InvalidLossError(RuntimeError):
    """Training produced a non-finite loss, gradient or weight."""


def _grad_norm(optim_wrapper: OptimWrapper) -> float:
    """The 2-norm of all gradients of the wrapper's parameters."""
    norms = [
        torch.linalg.vector_norm(p.grad.detach().float())
        for group in optim_wrapper.optimizer.param_groups
        for p in group['params'] if p.grad is not None
    ]
    if not norms:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(norms)))


@HOOKS.register_module()
class InvalidLossHook(Hook):
    """Stop training on a NaN/inf loss, gradient or weight, with a message.

    MMDetection's ``CheckInvalidLossHook`` asserts, every ``interval``
    iterations and after the optimizer step, that the total loss is finite.
    This hook checks every iteration, *before* the step can write NaN into
    the weights, and says what happened:

    * The loss terms (every ``loss*`` entry the model returns) after each
      iteration, and the gradient norm before each optimizer step: the
      hook wraps ``step`` of the runner's ``OptimWrapper`` instance for the
      duration of training (restored in ``after_train``). With a
      non-finite gradient norm that step is not taken (the gradients are
      zeroed as usual) and the BN running statistics of the iteration are
      restored, so the model stays as it was before the bad batch.
      ``AmpOptimWrapper``'s loss scaler already skips steps with inf/NaN
      (scaled) gradients, so with it only the loss is checked.
    * With ``check_weights``, the parameters after each step: a finite
      gradient can still overflow a weight (a huge learning rate). That
      step cannot be undone, so training stops at once.
    * A bad iteration is skipped (the step not taken; or taken, when only
      a loss term without gradient was NaN and the gradients were finite)
      while fewer than ``max_skips`` have been skipped in this run (a
      warning each time); then
      :class:`InvalidLossError` stops training, naming the iteration, the
      loss terms and their values, the gradient norm and the last good
      checkpoint. No checkpoint is written from the bad state (and
      :class:`~mmx3d.engine.hooks.AtomicCheckpointHook` refuses NaN/inf
      weights anyway).

    In distributed training every rank takes the same decision (the flags
    are summed over ranks each iteration).

    Args:
        max_skips (int): Bad iterations to skip before stopping, counted
            over the run (not persisted across a resume). Defaults to 0.
        check_weights (bool): Check the parameters after each step.
            Defaults to True.
    """

    priority = 'ABOVE_NORMAL'  # before CheckpointHook/LoggerHook

    def __init__(self, max_skips: int = 0, check_weights: bool = True) -> None:
        if not isinstance(max_skips, int) or max_skips < 0:
            raise ValueError('InvalidLossHook: max_skips must be an integer '
                             f'>= 0, got {max_skips!r}')
        self.max_skips = max_skips
        self.check_weights = check_weights
        self.num_skipped = 0
        self._wrapped: Optional[OptimWrapper] = None
        self._buffers: Dict[str, torch.Tensor] = {}
        self._bad: Dict[str, float] = {}

    @staticmethod
    def _model(runner) -> torch.nn.Module:
        return runner.model.module if is_model_wrapper(
            runner.model) else runner.model

    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        if (isinstance(wrapper, OptimWrapper)
                and not isinstance(wrapper, AmpOptimWrapper)):
            self._wrap(wrapper, runner)
        elif not isinstance(wrapper, AmpOptimWrapper):
            runner.logger.warning(
                f'InvalidLossHook: {type(wrapper).__name__} is not an '
                'OptimWrapper; only the loss terms and the weights are '
                'checked, after the step')

    def _wrap(self, wrapper: OptimWrapper, runner) -> None:
        plain_step = wrapper.step
        model = self._model(runner)

        def guarded_step(**kwargs):
            norm = _grad_norm(wrapper)
            if not math.isfinite(norm):
                self._bad['grad_norm'] = norm
                return  # update_params zeroes the gradients next
            plain_step(**kwargs)
            if self.check_weights:
                named = list(model.named_parameters())
                finite = torch.stack(
                    [torch.isfinite(p.detach()).all() for _, p in named])
                if not bool(finite.all()):  # one device sync per step
                    bad = [n for (n, _), ok in zip(named, finite.tolist())
                           if not ok]
                    self._bad['weights'] = float(len(bad))
                    self._bad_weights = bad

        wrapper.step = guarded_step
        self._wrapped = wrapper

    def after_train(self, runner) -> None:
        if self._wrapped is not None:
            del self._wrapped.step  # back to the bound method
            self._wrapped = None

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._bad = {}
        # BN running statistics (and counters) before this batch
        self._buffers = {
            name: buf.detach().clone()
            for name, buf in self._model(runner).named_buffers()
        }

    def _last_good_checkpoint(self, runner) -> str:
        path = runner.message_hub.get_info('last_ckpt')
        if not path:
            pointer = osp.join(runner.work_dir, 'last_checkpoint')
            if osp.isfile(pointer):
                with open(pointer) as f:
                    path = f.read().strip()
        return path or 'none saved yet'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        terms = {}
        for key, value in (outputs or {}).items():
            if key.startswith('loss'):
                terms[key] = float(value.detach().float().mean() if
                                   isinstance(value, torch.Tensor) else value)
        loss_bad = not all(math.isfinite(v) for v in terms.values())
        # gradients (hence the step decision) agree across DDP ranks; the
        # loss terms are per rank: sum the flags so every rank decides alike
        flags = torch.tensor([float(loss_bad), float('grad_norm' in self._bad),
                              float('weights' in self._bad)])
        if get_world_size() > 1:
            all_reduce(flags, op='sum')
        if not flags.any():
            return
        where = (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, '
                 f'batch {batch_idx + 1})')
        values = ', '.join(f'{k}={v:.6g}' for k, v in terms.items())
        detail = f'loss terms: {values or "none returned"}'
        if 'grad_norm' in self._bad:
            detail += f'; gradient norm {self._bad["grad_norm"]}'
        if flags[2]:
            bad = getattr(self, '_bad_weights', [])
            raise InvalidLossError(
                f'non-finite weights after the optimizer step at {where} '
                f'({detail}; e.g. {", ".join(bad[:5]) or "on another rank"})'
                '; the step cannot be undone. Last good checkpoint: '
                f'{self._last_good_checkpoint(runner)}. Lower the learning '
                'rate or clip gradients (optim_wrapper.clip_grad).')
        model = self._model(runner)
        skipped = bool(flags[1])
        if skipped or nonfinite_keys(dict(model.named_buffers())):
            # undo this batch's BN statistics
            with torch.no_grad():
                for name, buf in model.named_buffers():
                    if name in self._buffers:
                        buf.copy_(self._buffers[name])
        what = ('the optimizer step was not taken' if skipped else
                'the gradients were finite, the step was taken')
        kind = {(True, False): 'loss', (False, True): 'gradient'}.get(
            (bool(flags[0]), skipped), 'loss and gradient')
        if self.num_skipped < self.max_skips:
            self.num_skipped += 1
            runner.logger.warning(
                f'InvalidLossHook: non-finite {kind} at {where}, '
                f'{detail}: {what}; bad iteration {self.num_skipped} of '
                f'max_skips={self.max_skips}, training goes on')
            return
        raise InvalidLossError(
            f'non-finite {kind} at {where}: {detail}; {what}. '
            f'{self.num_skipped} bad iteration(s) skipped before '
            f'(max_skips={self.max_skips}); no checkpoint was written from '
            'this state. Last good checkpoint: '
            f'{self._last_good_checkpoint(runner)}. Lower the learning '
            'rate or clip gradients (optim_wrapper.clip_grad), or raise '
            'default_hooks.invalid_loss.max_skips.')
