# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d registries: children of MMAction2's, so that with
``default_scope='mmx3d'`` every MMAction2 (and, via its parents, MMEngine)
module resolves too, and mmx3d names never shadow MMAction2's."""
from mmaction.registry import DATA_SAMPLERS as MMACTION_DATA_SAMPLERS
from mmaction.registry import DATASETS as MMACTION_DATASETS
from mmaction.registry import EVALUATOR as MMACTION_EVALUATOR
from mmaction.registry import HOOKS as MMACTION_HOOKS
from mmaction.registry import INFERENCERS as MMACTION_INFERENCERS
from mmaction.registry import LOOPS as MMACTION_LOOPS
from mmaction.registry import METRICS as MMACTION_METRICS
from mmaction.registry import MODEL_WRAPPERS as MMACTION_MODEL_WRAPPERS
from mmaction.registry import MODELS as MMACTION_MODELS
from mmaction.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMACTION_OPTIM_WRAPPER_CONSTRUCTORS
from mmaction.registry import OPTIM_WRAPPERS as MMACTION_OPTIM_WRAPPERS
from mmaction.registry import OPTIMIZERS as MMACTION_OPTIMIZERS
from mmaction.registry import PARAM_SCHEDULERS as MMACTION_PARAM_SCHEDULERS
from mmaction.registry import RUNNERS as MMACTION_RUNNERS
from mmaction.registry import TRANSFORMS as MMACTION_TRANSFORMS
from mmaction.registry import VISUALIZERS as MMACTION_VISUALIZERS
from mmaction.registry import VISBACKENDS as MMACTION_VISBACKENDS
from mmaction.registry import WEIGHT_INITIALIZERS as MMACTION_WEIGHT_INIT
from mmengine.registry import Registry

RUNNERS = Registry('runner', parent=MMACTION_RUNNERS, scope='mmx3d')
LOOPS = Registry('loop', parent=MMACTION_LOOPS, scope='mmx3d',
                 locations=['mmx3d.engine'])
HOOKS = Registry('hook', parent=MMACTION_HOOKS, scope='mmx3d',
                 locations=['mmx3d.engine'])
DATASETS = Registry('dataset', parent=MMACTION_DATASETS, scope='mmx3d',
                    locations=['mmx3d.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMACTION_DATA_SAMPLERS,
                         scope='mmx3d', locations=['mmx3d.datasets'])
TRANSFORMS = Registry('transform', parent=MMACTION_TRANSFORMS,
                      scope='mmx3d', locations=['mmx3d.datasets'])
MODELS = Registry('model', parent=MMACTION_MODELS, scope='mmx3d',
                  locations=['mmx3d.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMACTION_MODEL_WRAPPERS,
                          scope='mmx3d', locations=['mmx3d.models'])
WEIGHT_INITIALIZERS = Registry('weight initializer',
                               parent=MMACTION_WEIGHT_INIT, scope='mmx3d',
                               locations=['mmx3d.models'])
OPTIMIZERS = Registry('optimizer', parent=MMACTION_OPTIMIZERS,
                      scope='mmx3d', locations=['mmx3d.engine'])
OPTIM_WRAPPERS = Registry('optim wrapper', parent=MMACTION_OPTIM_WRAPPERS,
                          scope='mmx3d', locations=['mmx3d.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMACTION_OPTIM_WRAPPER_CONSTRUCTORS, scope='mmx3d',
    locations=['mmx3d.engine'])
PARAM_SCHEDULERS = Registry('parameter scheduler',
                            parent=MMACTION_PARAM_SCHEDULERS, scope='mmx3d',
                            locations=['mmx3d.engine'])
METRICS = Registry('metric', parent=MMACTION_METRICS, scope='mmx3d',
                   locations=['mmx3d.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMACTION_EVALUATOR, scope='mmx3d',
                     locations=['mmx3d.evaluation'])
VISUALIZERS = Registry('visualizer', parent=MMACTION_VISUALIZERS,
                       scope='mmx3d')
VISBACKENDS = Registry('vis_backend', parent=MMACTION_VISBACKENDS,
                       scope='mmx3d')
INFERENCERS = Registry('inferencer', parent=MMACTION_INFERENCERS,
                       scope='mmx3d', locations=['mmx3d.apis'])
