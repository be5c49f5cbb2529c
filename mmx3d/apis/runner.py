# Copyright (c) mmx3d contributors. All rights reserved.
"""Build an MMEngine Runner from a config and the launcher options.

The logic of ``tools/train.py`` and ``tools/test.py`` lives here so that it
is tested and shared.
"""
import contextlib
import glob
import logging
import os.path as osp
import re
import zipfile
from pathlib import Path
from typing import List, Optional, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmx3d.apis.config_check import check_config
from mmx3d.engine.hooks.atomic_checkpoint_hook import nonfinite_keys
from mmx3d.utils.compat import cpu_launcher_patch, safe_torch_load
from mmx3d.utils.malloc import set_malloc_policy
from mmx3d.utils.setup_env import register_all_modules

#: the default hooks MMEngine's Runner adds by itself (the ones it lets a
#: config remove with ``None``)
_MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger',
                           'param_scheduler', 'checkpoint')


def load_config(path: Union[str, Path, Config],
                cfg_options: Optional[dict] = None) -> Config:
    """Load a config, naming the file on any error.

    Args:
        path (str | Path | Config): A config file, or a loaded config
            (returned as it is, with ``cfg_options`` merged in).
        cfg_options (dict, optional): ``--cfg-options`` to merge. Defaults
            to None.

    Returns:
        Config: The config.
    """
    if isinstance(path, Config):
        if cfg_options:
            path.merge_from_dict(cfg_options)
        return path
    path = str(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} does not exist')
    try:
        cfg = Config.fromfile(path)
    except Exception as e:
        raise ValueError(f'cannot load config {path!r}: {e}') from e
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from, or None if it can.

    Actually opens the file: it must be non-empty; a zip archive (torch's
    format) must have a readable central directory and correct CRCs in
    every member (a truncated or bit-flipped file fails here); it must load
    with :func:`mmx3d.utils.compat.safe_torch_load` (no arbitrary objects
    unpickled) into a dict with ``state_dict`` and ``meta``; and its
    weights must be finite.

    Args:
        path (str): A checkpoint file.

    Returns:
        str or None: The reason, e.g. ``'empty (0 bytes)'``, or None.
    """
    if not osp.isfile(path):
        return 'no such file'
    if osp.getsize(path) == 0:
        return 'empty (0 bytes)'
    with open(path, 'rb') as f:
        magic = f.read(4)
    is_zip = zipfile.is_zipfile(path)
    if magic == b'PK\x03\x04' and not is_zip:
        return 'truncated (a zip archive without its central directory)'
    if is_zip:
        try:
            with zipfile.ZipFile(path) as zf:
                broken = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            return f'damaged zip archive ({e})'
        if broken is not None:
            return f'damaged zip archive (bad CRC in member {broken!r})'
    try:
        ckpt = safe_torch_load(path, map_location='cpu')
    except Exception as e:  # noqa: BLE001 - any failure means unusable
        return f'unreadable ({type(e).__name__}: {e})'.splitlines()[0]
    if not isinstance(ckpt, dict) or not {'state_dict', 'meta'} <= set(ckpt):
        return 'not a training checkpoint (no state_dict/meta)'
    bad = nonfinite_keys(ckpt['state_dict'])
    if bad:
        return (f'non-finite weights in {len(bad)} tensor(s), e.g. '
                f'{bad[0]}')
    return None


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete checkpoint to resume from in ``work_dir``.

    Candidates, in order: the file ``last_checkpoint`` names (written after
    each complete save), then every ``epoch_N.pth``/``iter_N.pth``, newest
    modification time first (ties: iterations before epochs, higher N
    first). Each is opened (:func:`checkpoint_problem`); a damaged one
    (truncated, empty, unreadable, non-finite) is skipped with a log line
    naming the file and why. Temporary ``*.tmp.*`` files of an interrupted
    save and ``best_*.pth`` (no optimizer state) are never used.

    Modification time rather than N orders the fallback because a run
    started over (``--no-resume``) in the same work dir writes
    ``epoch_1.pth`` next to an older run's ``epoch_10.pth``.

    Args:
        work_dir (str): The work dir of a training.

    Returns:
        str or None: The checkpoint, or None if there is no complete one.
    """
    candidates = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and osp.isfile(named):
            candidates.append(named)
    found = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        m = re.fullmatch(r'(epoch|iter)_(\d+)\.pth', osp.basename(path))
        if m:
            key = (osp.getmtime(path), m.group(1) == 'iter', int(m.group(2)))
            found.append((key, path))
    seen = {osp.realpath(p) for p in candidates}
    for _, path in sorted(found, reverse=True):
        if osp.realpath(path) not in seen:
            candidates.append(path)
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        print_log(f'resume: skipping damaged checkpoint {path}: {problem}',
                  logger='current', level=logging.WARNING)
    return None


def _replace_sync_bn(obj):
    """SyncBN -> BN3d everywhere in a config tree (CPU hosts)."""
    if isinstance(obj, dict):
        if obj.get('type') in ('SyncBN', 'MMSyncBN'):
            obj['type'] = 'BN3d'
        for v in obj.values():
            _replace_sync_bn(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _replace_sync_bn(v)


def _is_clip_sampler(step: dict) -> bool:
    # MMAction2's SampleFrames and mmx3d's PySlowFastSampleFrames
    return step['type'].endswith('SampleFrames')


def set_test_views(pipeline: List[dict], views: int) -> None:
    """Set ``num_clips`` of the clip sampler of a test pipeline.

    The ``--views K`` option of ``tools/test.py`` and the ``views`` argument
    of :func:`mmx3d.apis.inference_recognizer`.

    Args:
        pipeline (list[dict]): Transform configs, changed in place.
        views (int): Clips per video, at least 1.

    Raises:
        ValueError: If ``views < 1`` or the pipeline has no
            ``SampleFrames``/``PySlowFastSampleFrames`` step (naming the
            steps it has).
    """
    if views < 1:
        raise ValueError(f'views must be >= 1, got {views}')
    steps = [step for step in pipeline if _is_clip_sampler(step)]
    if not steps:
        raise ValueError('cannot set the number of views: the test pipeline '
                         'has no SampleFrames step (steps: '
                         f'{[step["type"] for step in pipeline]})')
    for step in steps:
        step['num_clips'] = views


def set_single_crop(cfg: Config) -> None:
    """PySlowFast's 1-crop test (the "10 x 1" views): the short side
    resized to the training scale jitter's lower bound and one centre crop
    at the training crop, instead of three crops at the test crop.

    Reads ``RandomRescale.scale_range`` and ``RandomCrop.size`` of the
    training pipeline and rewrites the test pipeline's ``Resize`` and
    ``ThreeCrop``/``CenterCrop`` in place.

    Raises:
        ValueError: If either pipeline lacks the steps it reads or writes.
    """
    train = {s['type']: s for s in cfg.train_dataloader.dataset.pipeline}
    test = cfg.test_dataloader.dataset.pipeline
    if 'RandomRescale' not in train or 'RandomCrop' not in train:
        raise ValueError('1-crop views need RandomRescale and RandomCrop in '
                         f'the training pipeline (steps: {list(train)})')
    crops = [i for i, s in enumerate(test)
             if s['type'] in ('ThreeCrop', 'CenterCrop')]
    resizes = [s for s in test if s['type'] == 'Resize']
    if len(crops) != 1 or len(resizes) != 1:
        raise ValueError('1-crop views need one Resize and one ThreeCrop/'
                         'CenterCrop in the test pipeline (steps: '
                         f'{[s["type"] for s in test]})')
    resizes[0]['scale'] = (-1, int(train['RandomRescale']['scale_range'][0]))
    test[crops[0]] = dict(type='CenterCrop',
                          crop_size=train['RandomCrop']['size'])


def parse_views(views: Union[int, str]) -> Tuple[int, Optional[int]]:
    """``K`` or ``'KxC'`` (C = 1 or 3 spatial crops) -> ``(K, C or None)``.

    Raises:
        ValueError: For any other text.
    """
    if isinstance(views, int):
        return views, None
    clips, sep, crops = str(views).lower().partition('x')
    try:
        k, c = int(clips), int(crops) if sep else None
    except ValueError:
        raise ValueError(f'views must be K or KxC (e.g. 10 or 10x1), got '
                         f'{views!r}') from None
    if c not in (None, 1, 3):
        raise ValueError(f'views {views!r}: the test pipelines offer 1 or 3 '
                         'crops')
    return k, c


def prepare_cfg(cfg: Config,
                work_dir: Optional[str] = None,
                launcher: str = 'none',
                resume: Optional[Union[str, bool]] = None,
                amp: bool = False,
                no_validate: bool = False,
                auto_scale_lr: Optional[str] = None,
                seed: Optional[int] = None,
                deterministic: bool = False,
                views: Optional[Union[int, str]] = None) -> Config:
    """Apply the command-line options of the launchers to ``cfg``.

    The rewrites, in order:

    * ``launcher`` and ``work_dir`` (default ``./work_dirs/<config name>``);
    * without CUDA: with a launcher, the ``gloo`` backend and
      ``model_wrapper_cfg.device_ids=None`` (MMEngine assumes one GPU per
      rank); always, ``SyncBN``/``MMSyncBN`` norm layers become ``BN3d`` and
      a top-level ``sync_bn`` key (MMEngine's conversion of every BN layer
      of a distributed model) is removed, since neither runs on CPU;
    * ``amp``: ``AmpOptimWrapper`` with dynamic loss scale; an error on CPU;
    * ``no_validate``: no validation loop, and no ``save_best``;
    * ``auto_scale_lr`` ``'on'``/``'off'``: ``auto_scale_lr.enable``;
    * ``resume``: ``'auto'`` (what ``tools/train.py`` passes unless told
      otherwise) resumes from :func:`find_resume_checkpoint` of the work
      dir, the newest complete checkpoint, damaged ones skipped, and logs
      which file; with none it trains from scratch and says so. ``False``
      (``--no-resume``) starts over and says so. A path must be a complete
      checkpoint (:func:`checkpoint_problem`), else an error naming it.
      ``None`` (``tools/test.py``) leaves the config's ``resume`` as it is;
    * ``default_hooks.<name>=None`` removes an mmx3d default hook (MMEngine
      only lets a config remove its own defaults that way);
    * whenever ``load_from`` is set, a ``ConvertCheckpointHook`` so that
      PySlowFast / PyTorchVideo / MMAction2 files load as they are;
    * ``seed``/``deterministic``: ``randomness``;
    * ``views``: ``K`` sets ``num_clips`` of the test pipeline
      (:func:`set_test_views`); ``'Kx1'`` also switches to PySlowFast's
      1-crop test (:func:`set_single_crop`), ``'Kx3'`` keeps the 3 crops.

    Args:
        cfg (Config): The config, changed in place.
        work_dir (str, optional): Defaults to None (the config's or the
            default).
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or
            ``'mpi'``. Defaults to ``'none'``.
        resume (str or bool, optional): ``'auto'``, a checkpoint path,
            ``False`` (start over) or None (the config's). Defaults to
            None; ``tools/train.py`` passes ``'auto'`` by default.
        amp (bool): Mixed precision. Defaults to False.
        no_validate (bool): Skip validation. Defaults to False.
        auto_scale_lr (str, optional): ``'on'`` or ``'off'``; None keeps
            the config's. Defaults to None.
        seed (int, optional): Random seed. Defaults to None.
        deterministic (bool): Deterministic algorithms. Defaults to False.
        views (int or str, optional): Test views, ``K`` clips or
            ``'KxC'`` clips x crops (see :func:`parse_views`); None keeps
            the config's. Defaults to None.

    Returns:
        Config: ``cfg``.

    Raises:
        FileNotFoundError: If ``resume`` names a missing file.
        ValueError: If ``resume`` names a damaged checkpoint (the file and
            why).
    """
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(cfg.filename or 'config'))[0]
        cfg.work_dir = osp.join('./work_dirs', name)

    if not torch.cuda.is_available():
        if launcher != 'none':
            # gloo + DDP on CPU: MMEngine's defaults assume one GPU per rank
            cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
            wrapper = cfg.get('model_wrapper_cfg') or dict(
                type='MMDistributedDataParallel')
            wrapper['device_ids'] = None
            cfg.model_wrapper_cfg = wrapper
        _replace_sync_bn(cfg.model)
        if cfg.get('sync_bn') is not None:
            print_log(f'sync_bn={cfg.sync_bn!r} removed: SyncBatchNorm '
                      'needs CUDA', logger='current')
            cfg.sync_bn = None

    if amp:
        if not torch.cuda.is_available():
            raise RuntimeError('--amp needs a CUDA GPU (MMEngine\'s '
                               'AmpOptimWrapper does not run on CPU)')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
        if cfg.get('default_hooks', {}).get('checkpoint'):
            cfg.default_hooks.checkpoint.save_best = None

    if auto_scale_lr is not None:
        cfg.setdefault('auto_scale_lr', dict(base_batch_size=1024))
        cfg.auto_scale_lr.enable = auto_scale_lr == 'on'

    if resume == 'auto':
        path = find_resume_checkpoint(cfg.work_dir) if osp.isdir(
            cfg.work_dir) else None
        if path is None:
            print_log(f'resume: no complete checkpoint in {cfg.work_dir}, '
                      'training from scratch', logger='current')
            cfg.resume = False
        else:
            print_log(f'resume: resuming from {path}, the newest complete '
                      f'checkpoint in {cfg.work_dir} (--no-resume starts '
                      'over)', logger='current')
            cfg.resume, cfg.load_from = True, path
    elif resume is False:
        cfg.resume = False
        print_log(f'resume: --no-resume, starting over in {cfg.work_dir}; '
                  'checkpoints of an earlier run there are overwritten as '
                  'this one saves', logger='current')
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume checkpoint {resume!r} does '
                                    'not exist')
        problem = checkpoint_problem(resume)
        if problem is not None:
            raise ValueError(f'--resume checkpoint {resume!r} cannot be '
                             f'resumed from: {problem}. Without a path, '
                             '--resume takes the newest complete checkpoint '
                             'of the work dir.')
        print_log(f'resume: resuming from {resume}', logger='current')
        cfg.resume, cfg.load_from = True, resume

    # ``default_hooks.<name>=None`` turns a hook off; MMEngine accepts that
    # only for its own default hooks, so drop mmx3d's switched-off ones
    hooks = cfg.get('default_hooks') or {}
    for name in [n for n, h in hooks.items()
                 if h is None and n not in _MMENGINE_DEFAULT_HOOKS]:
        hooks.pop(name)

    if cfg.get('load_from'):
        # `load_from` takes PySlowFast / PyTorchVideo / MMAction2 files too
        hooks = list(cfg.get('custom_hooks') or [])
        if not any(h.get('type') == 'ConvertCheckpointHook' for h in hooks):
            hooks.append(dict(type='ConvertCheckpointHook', strict=False))
        cfg.custom_hooks = hooks

    if seed is not None or deterministic:
        cfg.randomness = dict(seed=seed, deterministic=deterministic)

    if views is not None:
        clips, crops = parse_views(views)
        set_test_views(cfg.test_dataloader.dataset.pipeline, clips)
        if crops == 1:
            set_single_crop(cfg)
    return cfg


def build_runner(cfg: Config, **kwargs) -> Runner:
    """:func:`prepare_cfg`, then MMEngine's ``Runner.from_cfg``.

    With a launcher on a host without CUDA, the Runner is built inside
    :func:`mmx3d.utils.compat.cpu_launcher_patch`, where MMEngine's
    ``pytorch`` launcher can call ``torch.cuda.set_device``; outside the
    Runner's construction torch is untouched.

    The glibc malloc policy ``env_cfg.cpu_malloc`` is applied to this
    process first (:mod:`mmx3d.utils.malloc`; the shipped runtime keeps
    large freed tensors in the heap, which makes CPU training steps faster).

    The prepared config goes through :func:`mmx3d.apis.config_check.
    check_config` first, so that a misspelled key fails before anything is
    built, naming the key and the accepted ones.

    Keyword arguments are those of :func:`prepare_cfg`.
    """
    register_all_modules(init_default_scope=False)
    cfg = prepare_cfg(cfg, **kwargs)
    check_config(cfg)
    applied = set_malloc_policy(cfg.get('env_cfg', {}).get('cpu_malloc'))
    if applied:
        print_log('glibc malloc policy (env_cfg.cpu_malloc): ' + ', '.join(
            f'{k}={v}' for k, v in applied.items()), logger='current')
    with (cpu_launcher_patch() if cfg.launcher != 'none'
          else contextlib.nullcontext()):
        if 'runner_type' in cfg:
            from mmx3d.registry import RUNNERS
            return RUNNERS.build(cfg)
        return Runner.from_cfg(cfg)


__all__ = ['load_config', 'checkpoint_problem', 'find_resume_checkpoint',
           'set_test_views', 'set_single_crop', 'parse_views', 'prepare_cfg',
           'build_runner']
