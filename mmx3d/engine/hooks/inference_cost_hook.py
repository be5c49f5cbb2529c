# Copyright (c) mmx3d contributors. All rights reserved.
"""Report the per-video inference cost of a multi-view test."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmx3d.registry import HOOKS
from mmx3d.utils.complexity import (
    clip_shape_from_cfg,
    recognizer_complexity,
    views_from_cfg,
)


@HOOKS.register_module()
class InferenceCostHook(Hook):
    """Log views x per-view GFLOPs of the test pipeline and add
    ``gflops_per_view``, ``views`` and ``gflops_per_video`` to the test
    metrics, so accuracy/cost curves (supplementary Fig. A.1) can be drawn
    from test logs (see ``tools/analysis/plot_accuracy_cost.py``).

    Models without a classification head (the AVA detector) and pipelines
    without ``SampleFrames`` and a crop are skipped with a log line.
    """

    def before_test(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if getattr(model, 'cls_head', None) is None:
            print_log('InferenceCostHook: not a recognizer, no cost reported',
                      logger='current')
            return
        try:
            shape = clip_shape_from_cfg(runner.cfg, 'test')
        except ValueError as e:
            print_log(f'InferenceCostHook: {e}; no cost reported',
                      logger='current')
            return
        self.views = views_from_cfg(runner.cfg, 'test')
        self.gflops_per_view = recognizer_complexity(model, shape)['gflops']
        print_log(
            f'Inference cost: {self.views} views x '
            f'{self.gflops_per_view:.3f} GFLOPs ({shape[0]}x{shape[1]}x'
            f'{shape[2]}) = {self.views * self.gflops_per_view:.2f} GFLOPs '
            'per video', logger='current')

    def after_test_epoch(self, runner, metrics=None) -> None:
        if metrics is not None and hasattr(self, 'views'):
            metrics['views'] = self.views
            metrics['gflops_per_view'] = round(self.gflops_per_view, 4)
            metrics['gflops_per_video'] = round(
                self.views * self.gflops_per_view, 3)
