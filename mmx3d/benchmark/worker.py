# Copyright (c) mmx3d contributors. All rights reserved.
"""Worker processes: one implementation and phase each, driven over pipes.

CPU peak memory is a per-process high-water mark (``VmHWM``), so unless
``--inprocess`` every implementation runs in its own process,
``python -m mmx3d.benchmark.worker IMPL PHASE OPTIONS_JSON``::

    parent: WorkerClient.call(cmd)  --JSON line on stdin-->   worker: Bench
                                    <--PREFIX + JSON line--

Commands: ``warmup`` (``iters``), ``run`` (``iters``; answers ``times``),
``stats`` and ``exit``. The worker first answers ``ready`` once built, or
``error``. Everything else it prints goes to its stderr, which the parent
keeps and shows if the worker dies. :class:`LocalClient` is the same
interface in the calling process (no per-implementation peak memory).
"""
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, Optional

from mmengine.config import Config

from .timing import Bench, BenchOptions

#: marks the protocol's lines on the worker's stdout (libraries imported
#: before the worker redirects its stdout may print there too)
PREFIX = '@mmx3d-benchmark '


class WorkerClient:
    """A worker process for ``impl`` in ``phase``.

    Args:
        impl (str): Implementation.
        phase (str): ``train`` or ``infer``.
        opts (BenchOptions): Benchmark options.
        env (dict, optional): Environment of the process. Defaults to None
            (this process's).
    """

    def __init__(self, impl: str, phase: str, opts: BenchOptions,
                 env: Optional[Dict[str, str]] = None) -> None:
        self.impl = impl
        self.log = tempfile.TemporaryFile(mode='w+')
        cmd = [sys.executable, '-m', __name__, impl, phase,
               json.dumps(dataclasses.asdict(opts))]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=env,
                                     bufsize=1)

    def recv(self) -> Dict:
        """The worker's next answer; raises if it died or failed."""
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.log.seek(0)
                tail = self.log.read()[-3000:]
                raise RuntimeError(f'{self.impl} worker died:\n{tail}')
            if line.startswith(PREFIX):
                break
            self.log.write(line)  # printed before the redirection
        msg = json.loads(line[len(PREFIX):])
        if 'error' in msg:
            raise RuntimeError(f'{self.impl} worker: {msg["error"]}')
        return msg

    def call(self, cmd: str, iters: int = 0) -> Dict:
        """Send one command and return the answer."""
        self.proc.stdin.write(json.dumps(dict(cmd=cmd, iters=iters)) + '\n')
        self.proc.stdin.flush()
        return self.recv()

    def close(self) -> None:
        """Ask the worker to exit (kill it if it does not within 60 s)."""
        try:
            self.proc.stdin.write(json.dumps(dict(cmd='exit')) + '\n')
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001 - a dead worker is closed too
            self.proc.kill()
        self.log.close()


class LocalClient:
    """The :class:`WorkerClient` interface, in this process.

    ``peak_mem_mb`` is None: a process-wide peak is not per
    implementation; for the same reason the malloc policy is not set per
    implementation (this process keeps its own, whatever that is).
    """

    def __init__(self, impl: str, phase: str, cfg: Config, spec: Dict,
                 opts: BenchOptions) -> None:
        self.impl = impl
        self.bench = Bench(impl, phase, cfg, spec, opts)

    def recv(self) -> Dict:
        return dict(ready=True)

    def call(self, cmd: str, iters: int = 0) -> Dict:
        if cmd == 'warmup':
            self.bench.warmup(iters)
            return dict(ok=True)
        if cmd == 'run':
            return dict(times=self.bench.run(iters))
        out = self.bench.stats()
        out['peak_mem_mb'] = None
        out.pop('base_mem_mb', None)
        return out

    def close(self) -> None:
        del self.bench


def serve(impl: str, phase: str, opts: BenchOptions) -> None:
    """Build :class:`Bench` and answer commands (JSON lines on stdin) on
    the original stdout; everything else printed goes to stderr."""
    proto = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)
    import torch
    if opts.threads:
        torch.set_num_threads(opts.threads)
    # the same libraries in every worker, so that base memory is comparable
    import mmx3d  # noqa: F401
    from mmx3d.apis.runner import load_config

    from ..utils.malloc import set_malloc_policy
    from .builders import import_pytorchvideo_x3d, malloc_policy, model_spec
    import_pytorchvideo_x3d()

    def reply(obj):
        proto.write(PREFIX + json.dumps(obj) + '\n')

    try:
        cfg = load_config(opts.config, opts.cfg_options)
        # before anything large is allocated, as the training tools do
        applied = set_malloc_policy(
            malloc_policy(impl, cfg, opts.plain, opts.malloc_all))
        bench = Bench(impl, phase, cfg, model_spec(cfg, opts.shape), opts)
        bench.extra['malloc_policy'] = applied
    except Exception as e:  # noqa: BLE001 - reported to the parent
        reply(dict(error=f'{type(e).__name__}: {e}'))
        return
    reply(dict(ready=True))
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd['cmd'] == 'warmup':
            bench.warmup(cmd['iters'])
            reply(dict(ok=True))
        elif cmd['cmd'] == 'run':
            reply(dict(times=bench.run(cmd['iters'])))
        elif cmd['cmd'] == 'stats':
            reply(bench.stats())
        else:
            break


if __name__ == '__main__':
    serve(sys.argv[1], sys.argv[2], BenchOptions(**json.loads(sys.argv[3])))
