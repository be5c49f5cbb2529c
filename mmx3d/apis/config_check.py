# Copyright (c) mmx3d contributors. All rights reserved.
"""Catch misspelled config keys before a run starts.

MMEngine passes a config dict's keys to the class its ``type`` names, so a
misspelled argument usually fails, but only when that part is built (a test
loop after days of training), and some sections are read with ``.get`` and
ignore what they do not know: ``auto_scale_lr=dict(enabled=False)`` leaves
the learning rate scaled. :func:`check_config` compares every key of the
sections below with what its reader accepts, before anything is built:

* ``model`` (and every nested dict with a ``type``): the constructor
  arguments of the registered class (``inspect.signature``), following
  ``**kwargs`` up the MRO to the class that consumes them; anything if a
  class takes ``**kwargs`` for itself;
* ``*_dataloader``: ``torch.utils.data.DataLoader`` arguments plus what
  MMEngine's Runner takes out (``sampler``, ``collate_fn``, ...);
  ``dataset``, its ``pipeline`` steps and the ``sampler`` by their classes;
* ``default_hooks``, ``custom_hooks``: the hook classes;
* ``auto_scale_lr``: exactly ``enable`` and ``base_batch_size``;
* ``train_cfg``, ``val_cfg``, ``test_cfg``: the loop class (``type``, or
  MMEngine's default loops: ``by_epoch`` selects the epoch- or
  iteration-based training loop);
* ``optim_wrapper``: the wrapper class plus ``constructor`` and
  ``paramwise_cfg`` (MMEngine's default constructor's keys); ``optimizer``
  by its class;
* ``param_scheduler``: the scheduler classes plus ``convert_to_iter_based``;
* ``val_evaluator``, ``test_evaluator``: the metric classes.

A ``type`` that no registry knows is left to MMEngine (which names it when
it builds); only keys are checked here.
"""
import difflib
import inspect
from typing import Any, Iterable, List, Optional, Set, Tuple

import torch
from mmengine.config import Config

#: keys every typed config dict may carry (MMEngine's registry build)
_ALWAYS = frozenset({'type', '_scope_'})
#: ``any key`` marker of a class that consumes ``**kwargs`` itself
_ANY = None
#: keys MMEngine's Runner takes out of a dataloader config
_DATALOADER_EXTRA = frozenset({
    'dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn',
    'num_batch_per_epoch', 'persistent_workers',
    'disable_subprocess_warning'
})
#: keys of MMEngine's ``DefaultOptimWrapperConstructor.paramwise_cfg``
PARAMWISE_KEYS = frozenset({
    'custom_keys', 'bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult',
    'dwconv_decay_mult', 'flat_decay_mult', 'bypass_duplicate',
    'dcn_offset_lr_mult'
})
#: ``auto_scale_lr`` keys MMEngine's Runner reads
AUTO_SCALE_LR_KEYS = frozenset({'enable', 'base_batch_size'})
#: arguments the builders fill in, never written in a config
_FILLED_IN = frozenset({
    'self', 'runner', 'dataloader', 'evaluator', 'optimizer', 'params',
    'model', 'dataset', 'param_name'
})
#: norm layer keys MMCV's ``build_norm_layer`` reads itself
_NORM_EXTRA = frozenset({'requires_grad'})
#: nested keys whose dicts live in MMDetection's/MMAction2's TASK_UTILS
_TASK_UTIL_KEYS = frozenset({'assigner', 'sampler', 'bbox_coder',
                             'prior_generator'})




def _closed_kwargs() -> Set[type]:
    """Classes whose ``**kwargs`` accept nothing a config could add."""
    from mmengine.hooks import CheckpointHook
    # its **kwargs go to Runner.save_checkpoint, whose every argument the
    # hook already passes itself: any extra key fails at the first save
    return {CheckpointHook}


class ConfigKeyError(ValueError):
    """A config section holds a key its reader does not accept."""


def accepted_keys(cls: type) -> Optional[Set[str]]:
    """Constructor keyword arguments of ``cls``.

    Walks the MRO while each ``__init__`` passes ``**kwargs`` on to its
    parent, and stops at the first one that does not. A chain that ends in
    ``object.__init__`` with ``**kwargs`` still open means a class uses
    them itself: every key is accepted (a class without any ``__init__``
    of its own accepts none). ``torch.nn.Module`` ends a chain
    (it rejects unknown keys), and so does ``CheckpointHook`` (its
    ``**kwargs`` go to ``Runner.save_checkpoint``, whose arguments it
    already passes).

    Args:
        cls (type): The class (or a function, for function-built types).

    Returns:
        set[str] or None: The accepted names, or None for any.
    """
    if not inspect.isclass(cls):
        try:
            params = inspect.signature(cls).parameters.values()
        except (TypeError, ValueError):
            return _ANY
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return _ANY
        return {p.name for p in params} - _FILLED_IN
    names: Set[str] = set()
    closed = _closed_kwargs()
    seen_init = False
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        if klass is object:
            # no __init__ of its own: object's takes nothing; **kwargs
            # that reach it are used by a class itself: anything goes
            return names - _FILLED_IN if not seen_init else _ANY
        seen_init = True
        try:
            params = list(inspect.signature(init).parameters.values())
        except (TypeError, ValueError):
            return _ANY
        names.update(p.name for p in params
                     if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if klass is torch.nn.Module or klass in closed or not any(
                p.kind is p.VAR_KEYWORD for p in params):
            break
    return names - _FILLED_IN


def _registries():
    from mmaction.registry import TASK_UTILS as MMA_TASK_UTILS

    from mmx3d import registry as r
    task_utils = [MMA_TASK_UTILS]
    try:
        from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
        task_utils.append(MMDET_TASK_UTILS)
    except ImportError:  # pragma: no cover - mmdet is optional
        pass
    return r, task_utils


def _lookup(type_name: Any, registries: Iterable) -> Optional[Any]:
    if not isinstance(type_name, str):
        return type_name if callable(type_name) else None
    for reg in registries:
        try:
            obj = reg.get(type_name)
        except Exception:  # noqa: BLE001 - unknown scope etc.
            obj = None
        if obj is not None:
            return obj
    return None


class _Checker:
    """Collects ``(path, key, accepted, owner)`` problems."""

    def __init__(self) -> None:
        self.problems: List[Tuple[str, str, Set[str], str]] = []
        self.reg, self.task_utils = _registries()

    def keys(self, path: str, cfg: dict, accepted: Optional[Set[str]],
             owner: str) -> None:
        if accepted is _ANY:
            return
        allowed = set(accepted) | _ALWAYS
        for key in cfg:
            if key not in allowed:
                self.problems.append((path, key, allowed, owner))

    def typed(self, path: str, cfg: Any, registries: List,
              extra: Iterable[str] = ()) -> None:
        """Check a dict with a ``type`` and recurse into its values."""
        if not isinstance(cfg, dict):
            return
        cls = _lookup(cfg.get('type'), registries) if 'type' in cfg else None
        if cls is not None:
            accepted = accepted_keys(cls)
            if accepted is not _ANY:
                accepted = accepted | set(extra)
            self.keys(path, cfg, accepted, getattr(cls, '__name__',
                                                   str(cfg['type'])))
        self.children(path, cfg, registries)

    def children(self, path: str, cfg: dict, registries: List) -> None:
        for key, value in cfg.items():
            sub = f'{path}.{key}'
            if key == 'init_cfg':
                continue  # weight initialisers: checked when applied
            if key == 'pipeline' and isinstance(value, (list, tuple)):
                for i, step in enumerate(value):
                    self.typed(f'{sub}[{i}]', step, [self.reg.TRANSFORMS])
                continue
            regs = (self.task_utils + registries
                    if key in _TASK_UTIL_KEYS else registries)
            extra = _NORM_EXTRA if key.endswith('norm_cfg') else ()
            if isinstance(value, dict):
                self.typed(sub, value, regs, extra)
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    self.typed(f'{sub}[{i}]', item, regs, extra)

    # ------------------------------------------------------------ sections
    def model(self, cfg: dict) -> None:
        self.typed('model', cfg, [self.reg.MODELS] + self.task_utils)

    def dataloader(self, name: str, cfg: dict) -> None:
        accepted = accepted_keys(torch.utils.data.DataLoader)
        self.keys(name, cfg, accepted | _DATALOADER_EXTRA, 'DataLoader')
        if isinstance(cfg.get('dataset'), dict):
            self.typed(f'{name}.dataset', cfg['dataset'],
                       [self.reg.DATASETS])
        if isinstance(cfg.get('sampler'), dict):
            self.typed(f'{name}.sampler', cfg['sampler'],
                       [self.reg.DATA_SAMPLERS])

    def hooks(self, cfg: Config) -> None:
        for name, hook in (cfg.get('default_hooks') or {}).items():
            self.typed(f'default_hooks.{name}', hook, [self.reg.HOOKS])
        for i, hook in enumerate(cfg.get('custom_hooks') or []):
            self.typed(f'custom_hooks[{i}]', hook, [self.reg.HOOKS])

    def loop(self, name: str, cfg: dict) -> None:
        from mmengine.runner import (
            EpochBasedTrainLoop,
            IterBasedTrainLoop,
            TestLoop,
            ValLoop,
        )
        if 'type' in cfg:
            self.typed(name, cfg, [self.reg.LOOPS])
            return
        if name == 'train_cfg':
            cls = (EpochBasedTrainLoop
                   if cfg.get('by_epoch', True) else IterBasedTrainLoop)
            self.keys(name, cfg, accepted_keys(cls) | {'by_epoch'},
                      f'{cls.__name__} (by_epoch={cfg.get("by_epoch")})')
        else:
            cls = ValLoop if name == 'val_cfg' else TestLoop
            self.keys(name, cfg, accepted_keys(cls), cls.__name__)

    def optim_wrapper(self, cfg: dict) -> None:
        cls = _lookup(cfg.get('type', 'OptimWrapper'),
                      [self.reg.OPTIM_WRAPPERS])
        if cls is not None:
            accepted = accepted_keys(cls)
            if accepted is not _ANY:
                accepted = accepted | {'optimizer', 'constructor',
                                       'paramwise_cfg'}
            self.keys('optim_wrapper', cfg, accepted, cls.__name__)
        self.typed('optim_wrapper.optimizer', cfg.get('optimizer'),
                   [self.reg.OPTIMIZERS])
        paramwise = cfg.get('paramwise_cfg')
        if isinstance(paramwise, dict) and cfg.get('constructor') in (
                None, 'DefaultOptimWrapperConstructor'):
            self.keys('optim_wrapper.paramwise_cfg', paramwise,
                      set(PARAMWISE_KEYS), 'DefaultOptimWrapperConstructor')

    def schedulers(self, cfg: Any) -> None:
        items = cfg if isinstance(cfg, (list, tuple)) else [cfg]
        for i, sched in enumerate(items):
            path = (f'param_scheduler[{i}]'
                    if isinstance(cfg, (list, tuple)) else 'param_scheduler')
            self.typed(path, sched, [self.reg.PARAM_SCHEDULERS],
                       extra={'convert_to_iter_based'})

    def evaluator(self, name: str, cfg: Any) -> None:
        items = cfg if isinstance(cfg, (list, tuple)) else [cfg]
        for i, metric in enumerate(items):
            path = f'{name}[{i}]' if isinstance(cfg, (list, tuple)) else name
            self.typed(path, metric, [self.reg.METRICS])


def _message(source: str,
             problems: List[Tuple[str, str, Set[str], str]]) -> str:
    lines = []
    for path, key, allowed, owner in problems:
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        lines.append(f'  {path}: unknown key {key!r}{hint}; {owner} accepts '
                     f'{sorted(allowed - {"_scope_"})}')
    return (f'{source}: {len(problems)} unknown config key(s):\n' +
            '\n'.join(lines))


def check_config(cfg: Config) -> None:
    """Raise if a section mmx3d builds or reads has an unknown key.

    Call it on the merged config (after ``--cfg-options``), before the
    Runner is built. See the module docstring for what each section
    accepts.

    Args:
        cfg (Config): The config.

    Raises:
        ConfigKeyError: (a ``ValueError``) listing, for every unknown key,
            its path (``model.backbone.gama_w``), the closest accepted key
            and all accepted keys, headed by the config file name.
    """
    from mmx3d.utils.setup_env import register_all_modules
    register_all_modules(init_default_scope=False)
    check = _Checker()
    if isinstance(cfg.get('model'), dict):
        check.model(cfg.model)
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if isinstance(loader, dict):
            check.dataloader(f'{split}_dataloader', loader)
        loop = cfg.get(f'{split}_cfg')
        if isinstance(loop, dict):
            check.loop(f'{split}_cfg', loop)
    check.hooks(cfg)
    scale = cfg.get('auto_scale_lr')
    if isinstance(scale, dict):
        check.keys('auto_scale_lr', scale, set(AUTO_SCALE_LR_KEYS),
                   'auto_scale_lr (MMEngine Runner.scale_lr)')
        check.problems = [p if p[0] != 'auto_scale_lr' else
                          (p[0], p[1], set(AUTO_SCALE_LR_KEYS), p[3])
                          for p in check.problems]
    if isinstance(cfg.get('optim_wrapper'), dict):
        check.optim_wrapper(cfg.optim_wrapper)
    if cfg.get('param_scheduler'):
        check.schedulers(cfg.param_scheduler)
    for name in ('val_evaluator', 'test_evaluator'):
        if cfg.get(name):
            check.evaluator(name, cfg[name])
    if check.problems:
        source = getattr(cfg, 'filename', None) or '<config>'
        raise ConfigKeyError(_message(source, check.problems))


__all__ = ['check_config', 'accepted_keys', 'ConfigKeyError',
           'AUTO_SCALE_LR_KEYS', 'PARAMWISE_KEYS']
