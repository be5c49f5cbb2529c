# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d registries: children of MMAction2's, so that with
``default_scope='mmx3d'`` every MMAction2 (and, via its parents, MMEngine)
module resolves too.

mmx3d's class names never repeat MMAction2's (``X3DBackbone``,
``X3DClsHead``, ...), with one deliberate exception: ``Pretrained`` in
:data:`WEIGHT_INITIALIZERS` is :class:`mmx3d.converters.X3DPretrainedInit`,
which shadows MMEngine's ``PretrainedInit`` in the ``mmx3d`` scope so that
``init_cfg=dict(type='Pretrained', ...)`` also reads PySlowFast,
PyTorchVideo and MMAction2 X3D files; ``'mmengine.Pretrained'`` still
reaches the original.

``locations`` name the packages whose import registers modules into a
registry (MMEngine imports them when building from the ``mmx3d`` scope);
registries nothing of mmx3d's is registered into have none.
"""
import mmaction.registry as mma
from mmengine.registry import Registry

RUNNERS = Registry('runner', parent=mma.RUNNERS, scope='mmx3d')
LOOPS = Registry('loop', parent=mma.LOOPS, scope='mmx3d',
                 locations=['mmx3d.engine'])
HOOKS = Registry('hook', parent=mma.HOOKS, scope='mmx3d',
                 locations=['mmx3d.engine', 'mmx3d.converters'])
DATASETS = Registry('dataset', parent=mma.DATASETS, scope='mmx3d',
                    locations=['mmx3d.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=mma.DATA_SAMPLERS,
                         scope='mmx3d')
TRANSFORMS = Registry('transform', parent=mma.TRANSFORMS,
                      scope='mmx3d', locations=['mmx3d.datasets'])
MODELS = Registry('model', parent=mma.MODELS, scope='mmx3d',
                  locations=['mmx3d.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=mma.MODEL_WRAPPERS,
                          scope='mmx3d')
WEIGHT_INITIALIZERS = Registry('weight initializer',
                               parent=mma.WEIGHT_INITIALIZERS, scope='mmx3d',
                               locations=['mmx3d.converters'])
OPTIMIZERS = Registry('optimizer', parent=mma.OPTIMIZERS, scope='mmx3d')
OPTIM_WRAPPERS = Registry('optim wrapper', parent=mma.OPTIM_WRAPPERS,
                          scope='mmx3d')
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=mma.OPTIM_WRAPPER_CONSTRUCTORS, scope='mmx3d')
PARAM_SCHEDULERS = Registry('parameter scheduler',
                            parent=mma.PARAM_SCHEDULERS, scope='mmx3d')
METRICS = Registry('metric', parent=mma.METRICS, scope='mmx3d',
                   locations=['mmx3d.evaluation'])
EVALUATOR = Registry('evaluator', parent=mma.EVALUATOR, scope='mmx3d')
VISUALIZERS = Registry('visualizer', parent=mma.VISUALIZERS,
                       scope='mmx3d')
VISBACKENDS = Registry('vis_backend', parent=mma.VISBACKENDS,
                       scope='mmx3d')
INFERENCERS = Registry('inferencer', parent=mma.INFERENCERS,
                       scope='mmx3d')
