# Copyright (c) mmx3d contributors. All rights reserved.
"""``torch.compile`` for training, validation and testing."""
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmx3d.registry import HOOKS


@HOOKS.register_module()
class CompileHook(Hook):
    """Compile sub-modules of the model with ``torch.compile``.

    MMEngine's own ``compile=True`` config key compiles the whole
    ``train_step`` (optimizer update included, so graphs break) and only for
    training. This hook compiles the named sub-modules in place with
    :meth:`torch.nn.Module.compile`, so the state dict keys (and hence
    checkpoints) are unchanged, and it works for ``tools/test.py`` too::

        custom_hooks = [dict(type='CompileHook')]  # backbone and cls_head
        custom_hooks = [dict(type='CompileHook', mode='max-autotune')]

    The first iterations are slow (compilation, also after the batch shape
    changes). On CPU the inductor backend needs a C++ compiler.

    Args:
        targets (Sequence[str]): Attribute names of the sub-modules to
            compile. Defaults to ``('backbone', 'cls_head')``.
        **compile_kwargs: Arguments of ``torch.compile`` (``backend``,
            ``mode``, ``dynamic``, ``fullgraph``, ``options``).
    """

    priority = 'VERY_LOW'

    def __init__(self,
                 targets: Sequence[str] = ('backbone', 'cls_head'),
                 **compile_kwargs) -> None:
        self.targets = tuple(targets)
        self.compile_kwargs = compile_kwargs
        self._done = False

    def _compile(self, runner) -> None:
        if self._done:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        for name in self.targets:
            module = getattr(model, name, None)
            if module is None:
                raise AttributeError(f'CompileHook: the model has no '
                                     f'sub-module {name!r} to compile')
            module.compile(**self.compile_kwargs)
        self._done = True
        print_log(f'CompileHook: compiled {", ".join(self.targets)} with '
                  f'torch.compile({self.compile_kwargs})', logger='current')

    def before_train(self, runner) -> None:
        self._compile(runner)

    def before_val(self, runner) -> None:
        self._compile(runner)

    def before_test(self, runner) -> None:
        self._compile(runner)
