# Copyright (c) mmx3d contributors. All rights reserved.
"""The coordinate search of X3D (paper, Sec. 4 and supp. "Expansion
details"): expand one axis per candidate, train them all, keep the best.

::

    start (step 0) ─ train ─┐
    step k: for each axis a: candidate_a = expand(current, a)   (~c_hat x)
            train + validate every candidate (stock Runner, own work dir)
            current = the best by `select`
    stop after `steps` steps, or when current exceeds `target_gflops`:
    then contract: re-expand the last axis from the previous model to
    exactly the target (the backward contraction) and train that one.

Work dir layout (``DIR``)::

    DIR/configs/step01_fast.py     the candidate's config (inherits BASE)
    DIR/step01_fast/               its work dir (checkpoints, logs)
    DIR/step01_fast/result.json    written once it trained: the marker
    DIR/launches.log               one line per training launch
    DIR/trajectory.{json,csv,png}  every candidate, the chosen path
    DIR/final_config.py            the result, a normal config

Resuming: rerunning the same search over ``DIR`` rebuilds the same
candidates (the operators are deterministic), takes the results of those
whose ``result.json`` exists (and was made from the same config text), and
trains the others; a candidate killed half-way resumes from its latest
checkpoint (``tools/train.py --resume``).
"""
import csv
import json
import math
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from mmengine.logging import print_log

from ..runner import load_config
from .launch import Launcher, TrainJob, read_metric
from .operators import AXES, AXIS_NAMES, Expander, parse_axes
from .state import (
    ExpansionState,
    TrainSettings,
    config_text,
    crop_size,
    text_sha,
    write_text,
)

SELECT_RULES = ('acc', 'acc_per_logflops')


@dataclass(frozen=True)
class Regularisation:
    """The paper's training changes along the expansion, by step.

    Steps count expansions: 0 is the start model, 1 the first expansion.

    Attributes:
        double_batch_until (int): Steps before this one train with twice
            the batch per process and half the schedule; from it on, the
            batch is halved back (the paper: 8). 0 disables. Defaults to 0.
        bn_clips (int, optional): BN statistics over groups of this many
            clips (``SubBatchNorm3d``; the paper: 16). Defaults to None.
        drop_connect (float): Drop-connect rate (the paper: 0.1).
            Defaults to 0.
        drop_connect_from (int): First step with drop-connect (the paper:
            11). Defaults to 11.
    """
    double_batch_until: int = 0
    bn_clips: Optional[int] = None
    drop_connect: float = 0.0
    drop_connect_from: int = 11

    @classmethod
    def paper(cls) -> 'Regularisation':
        """Double batch and half schedule before step 8, BN over 16
        clips, drop-connect 0.1 from step 11."""
        return cls(double_batch_until=8, bn_clips=16, drop_connect=0.1,
                   drop_connect_from=11)

    def train_settings(self, step: int,
                       epochs: Optional[int] = None) -> TrainSettings:
        """The settings a candidate of ``step`` trains with.

        Args:
            step (int): The step.
            epochs (int, optional): Training length of a candidate (before
                the halving). Defaults to None (the base's).
        """
        early = step < self.double_batch_until
        return TrainSettings(
            batch_mult=2.0 if early else 1.0,
            max_epochs=epochs,
            schedule_mult=0.5 if early else 1.0,
            bn_clips=self.bn_clips,
            drop_connect_rate=self.drop_connect if (
                self.drop_connect and step >= self.drop_connect_from) else
            None)

    def final_settings(self, step: int) -> TrainSettings:
        """The final config's: BN and drop-connect of ``step``; batch and
        schedule are the base's."""
        s = self.train_settings(step)
        return TrainSettings(bn_clips=s.bn_clips,
                             drop_connect_rate=s.drop_connect_rate)


@dataclass
class Candidate:
    """One trained candidate (a row of the trajectory)."""
    step: int
    axis: str
    state: ExpansionState
    name: str
    config: str
    work_dir: str
    gflops: float
    params: int
    acc: Optional[float] = None
    best_acc: Optional[float] = None
    wall_s: Optional[float] = None
    chosen: bool = False
    crop: int = 0

    def row(self) -> Dict[str, Any]:
        """A flat dict: step, axis, the factors, frames/stride/crop, cost,
        accuracy, wall time, chosen."""
        out = dict(step=self.step, axis=self.axis)
        out.update(self.state.factors())
        out.update(frames=int(self.state.gamma_t),
                   stride=int(self.state.gamma_tau), crop=self.crop,
                   gflops=self.gflops, params=self.params, acc=self.acc,
                   best_acc=self.best_acc, wall_s=self.wall_s,
                   chosen=self.chosen, config=self.config)
        return out


@dataclass
class SearchResult:
    """What :func:`run_search` returns."""
    candidates: List[Candidate]
    final: Candidate
    final_config: str
    files: Dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> List[Candidate]:
        """The chosen candidates, in step order."""
        return [c for c in self.candidates if c.chosen]


def select_best(cands: Sequence[Candidate], current: Candidate,
                rule: str = 'acc') -> Candidate:
    """The candidate a step keeps.

    ``'acc'``: the highest validation accuracy. ``'acc_per_logflops'``:
    the highest accuracy gain over the current model per natural-log FLOP
    increase, ``(acc - acc_cur) / ln(gflops / gflops_cur)``, which favours
    a candidate that gains as much for less cost. Ties go to fewer FLOPs,
    then to the order of the axes.

    Raises:
        ValueError: For an unknown rule.
    """
    if rule not in SELECT_RULES:
        raise ValueError(f'select must be one of {SELECT_RULES}, got '
                         f'{rule!r}')

    def score(c):
        if rule == 'acc':
            return c.acc
        gain = math.log(max(c.gflops, 1e-12) / current.gflops)
        return (c.acc - current.acc) / max(gain, 1e-9)

    order = {id(c): i for i, c in enumerate(cands)}
    return max(cands, key=lambda c: (score(c), -c.gflops, -order[id(c)]))


class _Search:
    """The state of one run of :func:`run_search`."""

    def __init__(self, base_config, work_dir, cfg, expander, launcher,
                 regularisation, epochs, cfg_options, metric):
        self.base_config = base_config
        self.work_dir = work_dir
        self.cfg = cfg
        self.exp = expander
        self.launcher = launcher
        self.reg = regularisation
        self.epochs = epochs
        self.cfg_options = cfg_options
        self.metric = metric
        self.candidates: List[Candidate] = []

    def header(self, step, axis, state, ref):
        gflops, params = self.exp.measure(state)
        t, c = int(state.gamma_t), crop_size(state, self.cfg)
        lines = [
            f'Generated by tools/expand.py: step {step}, '
            + ('start' if axis == 'start' else
               AXIS_NAMES.get(axis, axis)) + ' candidate.',
            'factors: ' + ', '.join(
                f'{k}={v:g}' for k, v in state.factors().items()),
            f'{gflops:.4f} GFLOPs per {t}x{c}x{c} clip'
            + (f' ({gflops / ref:.2f}x the step-{step - 1} model)'
               if ref else '') + f', {params / 1e6:.3f}M params',
        ]
        return lines

    def prepare(self, step: int, axis: str, state: ExpansionState,
                ref: Optional[float]) -> Candidate:
        """Write a candidate's config; load its result if it has one."""
        name = f'step{step:02d}_{axis}'
        config = osp.join(self.work_dir, 'configs', f'{name}.py')
        work = osp.join(self.work_dir, name)
        text = config_text(
            state, self.cfg, self.reg.train_settings(step, self.epochs),
            header=self.header(step, axis, state, ref),
            cfg_options=self.cfg_options)
        write_text(config, text)
        gflops, params = self.exp.measure(state)
        cand = Candidate(step, axis, state, name, config, work, gflops,
                         params, crop=crop_size(state, self.cfg))
        marker = osp.join(work, 'result.json')
        sha = text_sha(text)
        meta = osp.join(work, 'candidate.json')
        if osp.isfile(meta):
            with open(meta) as f:
                old = json.load(f).get('config_sha')
            if old != sha:
                raise RuntimeError(
                    f'{meta}: this work dir was trained from another config '
                    f'(sha {old}, now {sha}): {self.work_dir} belongs to a '
                    'different search; use another --work-dir')
        if osp.isfile(marker):
            with open(marker) as f:
                res = json.load(f)
            cand.acc, cand.best_acc = res['acc'], res['best_acc']
            cand.wall_s = res['wall_s']
        return cand

    def train(self, cands: List[Candidate]) -> None:
        """Train the candidates without a result, then write theirs."""
        todo = [c for c in cands if c.acc is None]
        for c in todo:
            os.makedirs(c.work_dir, exist_ok=True)
            with open(c.config) as f:
                sha = text_sha(f.read())
            write_text(osp.join(c.work_dir, 'candidate.json'),
                       json.dumps(dict(config=c.config, config_sha=sha),
                                  indent=1))
        if todo:
            print_log(f'training {len(todo)} candidate(s): '
                      f'{[c.name for c in todo]}', logger='current')
        jobs = [TrainJob(c.name, c.config, c.work_dir) for c in todo]
        walls = self.launcher.run(jobs) if jobs else {}
        for c in todo:
            c.acc, c.best_acc, epoch = read_metric(c.work_dir, self.metric)
            c.wall_s = walls[c.name]
            with open(c.config) as f:
                sha = text_sha(f.read())
            res = dict(name=c.name, step=c.step, axis=c.axis,
                       factors=c.state.factors(), acc=c.acc,
                       best_acc=c.best_acc, metric=self.metric, epoch=epoch,
                       gflops=c.gflops, params=c.params, wall_s=c.wall_s,
                       config=c.config, config_sha=sha)
            write_text(osp.join(c.work_dir, 'result.json'),
                       json.dumps(res, indent=1))
        for c in cands:
            print_log(f'{c.name}: {c.gflops:.4f} GFLOPs, {self.metric} '
                      f'{c.acc:.4f}', logger='current')
        self.candidates.extend(cands)

    def step(self, step, items, ref):
        cands = [self.prepare(step, axis, st, ref) for axis, st in items]
        self.train(cands)
        return cands


def run_search(base_config: str,
               work_dir: str,
               steps: int,
               launcher: Launcher,
               c_hat: float = 2.0,
               target_gflops: Optional[float] = None,
               axes: Sequence[str] = tuple(AXES),
               select: str = 'acc',
               epochs: Optional[int] = None,
               regularisation: Optional[Regularisation] = None,
               cfg_options: Optional[Dict[str, Any]] = None,
               crop_divisor: int = 8,
               metric: str = 'acc/top1',
               plot: bool = True,
               on_step: Optional[Callable[[int], None]] = None
               ) -> SearchResult:
    """Grow a model from ``base_config`` by stepwise expansion.

    Args:
        base_config (str): The start config (X2D for the paper's search).
        work_dir (str): Where the candidates and outputs go.
        steps (int): Most expansion steps.
        launcher (Launcher): How candidates are trained.
        c_hat (float): FLOP ratio of one step. Defaults to 2.
        target_gflops (float, optional): Budget: stop once the current
            model exceeds it, after the backward contraction. Defaults to
            None.
        axes (Sequence[str]): Axes to try per step. Defaults to all six.
        select (str): ``'acc'`` or ``'acc_per_logflops'`` (see
            :func:`select_best`). Defaults to ``'acc'``.
        epochs (int, optional): Training length of each candidate (the
            param schedulers follow). Defaults to None (the base's).
        regularisation (Regularisation, optional): Step-dependent training
            changes. Defaults to None (none).
        cfg_options (dict, optional): Overrides of the base config, written
            into every candidate's and the final config. Defaults to None.
        crop_divisor (int): Crops are multiples of it. Defaults to 8.
        metric (str): Validation metric to select on. Defaults to
            ``'acc/top1'``.
        plot (bool): Write ``trajectory.png``. Defaults to True.
        on_step (callable, optional): Called with the step number once a
            step's candidates are trained. Defaults to None.

    Returns:
        SearchResult: Every candidate, the final one and its config.
    """
    if steps < 0:
        raise ValueError(f'steps must be >= 0, got {steps}')
    axes = parse_axes(axes)
    if select not in SELECT_RULES:
        raise ValueError(f'select must be one of {SELECT_RULES}, got '
                         f'{select!r}')
    work_dir = osp.abspath(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    cfg = load_config(base_config, cfg_options)
    reg = regularisation or Regularisation()
    if launcher.log is None:
        launcher.log = osp.join(work_dir, 'launches.log')
    search = _Search(base_config, work_dir, cfg,
                     Expander(cfg, c_hat, crop_divisor), launcher, reg,
                     epochs, cfg_options, metric)
    settings = dict(
        base_config=osp.abspath(base_config), steps=steps, c_hat=c_hat,
        target_gflops=target_gflops, axes=axes, select=select,
        epochs=epochs, regularisation=asdict(reg), cfg_options=cfg_options,
        crop_divisor=crop_divisor, metric=metric, launcher=launcher.kind)

    state = ExpansionState.from_config(base_config, cfg)
    current = search.step(0, [('start', state)], None)[0]
    current.chosen = True
    final, last_step = current, 0
    t0 = time.time()
    for step in range(1, steps + 1):
        if target_gflops is not None and current.gflops >= target_gflops:
            print_log(f'step {step}: {current.gflops:.4f} GFLOPs reach the '
                      f'budget {target_gflops}; stopping', logger='current')
            break
        items = [(axis, search.exp.expand(current.state, axis))
                 for axis in axes]
        cands = search.step(step, items, current.gflops)
        best = select_best(cands, current, select)
        best.chosen = True
        last_step = step
        _write_outputs(search, settings, plot)
        if on_step is not None:
            on_step(step)
        if target_gflops is not None and best.gflops > target_gflops:
            final = _contract(search, step, current, best, target_gflops)
            break
        current = final = best
    final_text = config_text(
        final.state, cfg, reg.final_settings(last_step),
        header=[
            f'Found by tools/expand.py from {osp.abspath(base_config)}: '
            f'{final.name} ({final.gflops:.4f} GFLOPs, {metric} '
            f'{final.acc:.4f} after the search\'s candidate training).',
            'The base\'s batch and schedule; trajectory in '
            f'{work_dir}/trajectory.csv'
        ],
        cfg_options=cfg_options)
    final_config = osp.join(work_dir, 'final_config.py')
    write_text(final_config, final_text)
    files = _write_outputs(search, dict(settings, final=final.name,
                                        search_s=time.time() - t0), plot)
    files['final_config'] = final_config
    return SearchResult(search.candidates, final, final_config, files)


def _contract(search: _Search, step: int, current: Candidate,
              best: Candidate, target: float) -> Candidate:
    """The backward contraction: the last axis re-solved from the previous
    model for ``target / previous`` GFLOPs instead of ``c_hat``."""
    state = search.exp.expand(current.state, best.axis,
                              ratio=target / current.gflops,
                              allow_same=True)
    if state == best.state:
        print_log(f'contraction: {best.name} is already the nearest to '
                  f'{target} GFLOPs', logger='current')
        return best
    if state == current.state:
        print_log(f'contraction: {current.name} is the nearest to '
                  f'{target} GFLOPs', logger='current')
        return current
    cand = search.step(step, [(f'{best.axis}_contracted', state)],
                       current.gflops)[0]
    cand.chosen = True
    return cand


COLUMNS = ('step', 'axis', 'gamma_tau', 'gamma_t', 'gamma_s', 'gamma_w',
           'gamma_b', 'gamma_d', 'frames', 'stride', 'crop', 'gflops',
           'params', 'acc', 'best_acc', 'wall_s', 'chosen', 'config')


def _write_outputs(search: _Search, settings: dict,
                   plot: bool) -> Dict[str, str]:
    """trajectory.json / .csv (and .png) of the candidates so far."""
    rows = [c.row() for c in search.candidates]
    files = dict(json=osp.join(search.work_dir, 'trajectory.json'),
                 csv=osp.join(search.work_dir, 'trajectory.csv'))
    write_text(files['json'], json.dumps(
        dict(settings=settings, candidates=rows), indent=1))
    tmp = files['csv'] + '.tmp'
    with open(tmp, 'w', newline='') as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({
                k: (f'{v:.6g}' if isinstance(v, float) else v)
                for k, v in r.items() if k in COLUMNS
            })
    os.replace(tmp, files['csv'])
    if plot:
        from .plot import plot_trajectory
        files['png'] = plot_trajectory(
            rows, osp.join(search.work_dir, 'trajectory.png'))
    return files
