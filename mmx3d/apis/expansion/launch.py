# Copyright (c) mmx3d contributors. All rights reserved.
"""Train expansion candidates with the project's own launchers and read
their validation results back from their work dirs.

Nothing here schedules: ``local`` runs ``tools/train.py`` in a subprocess,
``dist`` runs ``tools/dist_train.sh`` (``gpus`` processes), one candidate
after the other; ``slurm`` submits every candidate of a step at once through
``tools/slurm_train.sh`` (each ``srun`` blocks until its job ends) and waits
for all of them, leaving the queueing to Slurm.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from mmx3d.apis.runner import find_resume_checkpoint

LAUNCHERS = ('local', 'dist', 'slurm')


@dataclass
class TrainJob:
    """One candidate to train.

    Attributes:
        name (str): Candidate name (Slurm job name, log lines).
        config (str): Its config file.
        work_dir (str): Its work dir.
    """
    name: str
    config: str
    work_dir: str


@dataclass
class Launcher:
    """How candidates are trained.

    Args:
        tools_dir (str): The directory of ``train.py``, ``dist_train.sh``
            and ``slurm_train.sh``.
        kind (str): ``'local'``, ``'dist'`` or ``'slurm'``.
            Defaults to ``'local'``.
        gpus (int): Processes (``dist``) or Slurm tasks (``slurm``) per
            candidate. Defaults to 1.
        partition (str, optional): Slurm partition (``slurm`` only).
        seed (int, optional): ``--seed`` of every candidate. Defaults to 0.
        python (str): Interpreter for ``local`` and ``dist``. Defaults to
            the running one.
        log (str, optional): A file that gets one line per launch (name,
            fresh or resumed, command). Defaults to None.
    """
    tools_dir: str
    kind: str = 'local'
    gpus: int = 1
    partition: Optional[str] = None
    seed: Optional[int] = 0
    python: str = sys.executable
    log: Optional[str] = None
    env: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in LAUNCHERS:
            raise ValueError(f'launcher must be one of {LAUNCHERS}, got '
                             f'{self.kind!r}')
        if self.kind == 'slurm' and not self.partition:
            raise ValueError('the slurm launcher needs a partition '
                             '(--partition)')
        if self.gpus < 1:
            raise ValueError(f'gpus must be >= 1, got {self.gpus}')

    def command(self, job: TrainJob, resume: bool) -> List[str]:
        """The command line that trains ``job``.

        ``resume`` adds ``--resume`` (the latest checkpoint of the work
        dir): a candidate killed half-way continues where it stopped.
        """
        args = []
        if self.seed is not None:
            args += ['--seed', str(self.seed)]
        if resume:
            args.append('--resume')
        if self.kind == 'local':
            return [self.python, osp.join(self.tools_dir, 'train.py'),
                    job.config, '--work-dir', job.work_dir] + args
        if self.kind == 'dist':
            return ['bash', osp.join(self.tools_dir, 'dist_train.sh'),
                    job.config, str(self.gpus), '--work-dir', job.work_dir
                    ] + args
        return ['bash', osp.join(self.tools_dir, 'slurm_train.sh'),
                self.partition, job.name, job.config, job.work_dir] + args

    def _start(self, job: TrainJob) -> Tuple[subprocess.Popen, float]:
        os.makedirs(job.work_dir, exist_ok=True)
        resume = find_resume_checkpoint(job.work_dir) is not None
        cmd = self.command(job, resume)
        if self.log:
            with open(self.log, 'a') as f:
                f.write('\t'.join([
                    time.strftime('%Y-%m-%dT%H:%M:%S'), job.name,
                    'resume' if resume else 'fresh', ' '.join(cmd)
                ]) + '\n')
        env = dict(os.environ, **self.env)
        if self.kind == 'dist':
            env.setdefault('PYTHON', self.python)
        if self.kind == 'slurm':
            env['GPUS'] = str(self.gpus)
            env.setdefault('GPUS_PER_NODE', str(min(self.gpus, 8)))
        out = open(osp.join(job.work_dir, 'train_stdout.log'), 'a')
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        out.close()
        return proc, time.time()

    def run(self, jobs: Sequence[TrainJob]) -> Dict[str, float]:
        """Train ``jobs``; one after another, or all at once on Slurm.

        Returns:
            dict: name -> wall time in seconds of its (last) launch.

        Raises:
            RuntimeError: If a training exits with an error, naming the
                candidate, its exit status and its output log.
        """
        if self.kind == 'slurm':
            return self._wait([(job, *self._start(job)) for job in jobs])
        walls = {}
        for job in jobs:
            walls.update(self._wait([(job, *self._start(job))]))
        return walls

    @staticmethod
    def _wait(started) -> Dict[str, float]:
        walls, failed = {}, []
        for job, proc, t0 in started:
            rc = proc.wait()
            walls[job.name] = time.time() - t0
            if rc != 0:
                failed.append((job, rc))
        if failed:
            job, rc = failed[0]
            log = osp.join(job.work_dir, 'train_stdout.log')
            raise RuntimeError(
                f'training candidate {job.name} ({job.config}) failed with '
                f'exit status {rc}; see {log}:\n' + _tail(log))
        return walls


def _tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return ''


def read_metric(work_dir: str, metric: str = 'acc/top1'
                ) -> Tuple[float, float, int]:
    """The validation results MMEngine logged in a work dir.

    Reads every ``<timestamp>/vis_data/scalars.json`` (a resumed run writes
    a new one) and keeps the lines that carry ``metric``.

    Args:
        work_dir (str): The candidate's work dir.
        metric (str): Key of the validation metric. Defaults to
            ``'acc/top1'``.

    Returns:
        tuple: ``(last, best, epoch)``: the value at the last validation
        (the highest step; the newest run on a tie), the best value, and
        the step of the last one.

    Raises:
        FileNotFoundError: If no scalars file holds ``metric``, naming the
            work dir and the keys that were found.
    """
    found = []
    keys = set()
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    for order, path in enumerate(files):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill
                keys.update(entry)
                if metric in entry:
                    found.append((entry.get('step', 0), order,
                                  float(entry[metric])))
    if not found:
        raise FileNotFoundError(
            f'no validation {metric!r} in {work_dir}/*/vis_data/'
            f'scalars.json (files: {len(files)}, keys: {sorted(keys)})')
    step, _, last = max(found)
    return last, max(v for _, _, v in found), int(step)
