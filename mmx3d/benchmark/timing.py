# Copyright (c) mmx3d contributors. All rights reserved.
"""One implementation in one phase, timed: :class:`Bench`.

* ``train``: one optimisation step on a batch of random uint8 clips:
  data preprocessor, forward, loss, backward and an SGD step (MMEngine's
  ``train_step`` for mmx3d and MMAction2, the same steps by hand for
  PyTorchVideo).
* ``infer``: ``test_step`` under ``torch.no_grad`` (preprocessor, forward,
  softmax). For mmx3d, unless ``no_deploy``, BN is folded into the convs
  first (:func:`mmx3d.models.utils.fuse_bn`) and the largest logit
  difference from the unfused model is reported. ``mmx3d_eager`` is the
  same model without folding. ``onnxruntime`` exports the model
  (:func:`mmx3d.apis.deploy.export_onnx`, BN folded, softmax output) to a
  temporary file and times normalisation plus ONNX Runtime's run on the
  same uint8 batch, with as many threads as PyTorch; the largest
  difference of its probabilities from the unfused PyTorch model's
  ``test_step`` scores is reported (``onnx_max_abs_diff``).
"""
import contextlib
import copy
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence

import torch
from mmengine.config import Config

from .builders import (
    DEPLOY_IMPLS,
    MEAN,
    STD,
    build_model,
    gflops_per_clip,
)


@dataclass
class BenchOptions:
    """What every implementation is benchmarked with (JSON-serialisable,
    handed to the worker processes).

    Args:
        config (str): mmx3d config file.
        cfg_options (dict, optional): Config overrides. Defaults to None.
        shape (Sequence[int], optional): ``(T, H, W)``; None: the config's
            training clip.
        batch (int): Clips per batch. Defaults to 4.
        device (str): ``cpu`` or ``cuda[:i]``. Defaults to ``'cpu'``.
        amp (bool): Mixed precision (CUDA only). Defaults to False.
        compile (bool): ``torch.compile`` mmx3d's backbone and head.
        plain (bool): mmx3d without channels-last, fused ops and the
            runtime's malloc policy (the shipped configs turn them on).
        no_deploy (bool): mmx3d inference without BN folding.
        seed (int): Seed of the random clips and labels. Defaults to 0.
        threads (int, optional): CPU threads. Defaults to torch's default.
        malloc_all (bool): Every implementation runs with the config's
            ``env_cfg.cpu_malloc`` (by default only mmx3d's paths, as
            shipped). Defaults to False.
    """
    config: str
    cfg_options: Optional[Dict] = None
    shape: Optional[Sequence[int]] = None
    batch: int = 4
    device: str = 'cpu'
    amp: bool = False
    compile: bool = False
    plain: bool = False
    no_deploy: bool = False
    seed: int = 0
    threads: Optional[int] = None
    malloc_all: bool = False


def denormals_flushed() -> bool:
    """Whether this thread flushes float32 denormals to zero."""
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # a denormal
    return bool((tiny * 2.0).item() == 0.0)


@contextlib.contextmanager
def flush_denormal() -> Iterator[None]:
    """Flush denormals to zero (they make some iterations arbitrarily slow)
    inside the block; the previous setting is restored afterwards."""
    before = denormals_flushed()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def _proc_status_mb(field: str) -> Optional[float]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident set of this process in MiB (``VmHWM``, or
    ``ru_maxrss`` where there is no ``/proc``)."""
    peak = _proc_status_mb('VmHWM')
    if peak is None:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return peak


def current_rss_mb() -> Optional[float]:
    """Resident set of this process in MiB (``VmRSS``), if known."""
    return _proc_status_mb('VmRSS')


class Bench:
    """One implementation, built for one phase (``train`` or ``infer``).

    Args:
        impl (str): ``mmx3d``, ``mmaction2``, ``pytorchvideo`` or, for
            ``infer`` only, ``mmx3d_eager`` or ``onnxruntime``
            (:data:`~mmx3d.benchmark.builders.DEPLOY_IMPLS`).
        phase (str): ``train`` or ``infer``.
        cfg (Config): The loaded mmx3d config.
        spec (dict): :func:`mmx3d.benchmark.builders.model_spec` of it.
        opts (BenchOptions): Batch, device, switches.
    """

    def __init__(self, impl: str, phase: str, cfg: Config, spec: Dict,
                 opts: BenchOptions) -> None:
        self.impl, self.phase, self.opts = impl, phase, opts
        self.device = torch.device(opts.device)
        self.cuda = self.device.type == 'cuda'
        self.amp = bool(opts.amp and self.cuda)
        self.extra: Dict = {}
        self.unfused = None
        self._cfg, self._spec = cfg, spec
        torch.manual_seed(opts.seed)
        t, h, w = spec['shape']
        b = opts.batch
        clips = torch.randint(0, 256, (b, 1, 3, t, h, w), dtype=torch.uint8)
        self.labels = torch.randint(0, spec['num_classes'], (b, ))
        if impl in DEPLOY_IMPLS and phase != 'infer':
            raise ValueError(f'{impl} is an inference path; phase must be '
                             f"'infer', got {phase!r}")
        self.model = build_model(impl, cfg, spec, opts.plain)
        if impl == 'pytorchvideo':
            self.clips = clips.view(b, 3, t, h, w).to(self.device)
        else:
            from mmaction.structures import ActionDataSample
            samples = []
            for i in range(b):
                ds = ActionDataSample()
                ds.set_gt_label(self.labels[i:i + 1])
                samples.append(ds)
            self.data = dict(inputs=list(clips), data_samples=samples)
        self.model.to(self.device)
        self.labels = self.labels.to(self.device)
        self.gflops = gflops_per_clip(self.model, spec['shape'])
        if phase == 'train':
            self.model.train()
            self._setup_optim()
        else:
            self.model.eval()
            if impl == 'mmx3d' and not opts.no_deploy:
                from ..models.utils.fuse_bn import fuse_bn
                self.unfused = copy.deepcopy(self.model.state_dict())
                fuse_bn(self.model)
            if impl == 'onnxruntime':
                self._setup_onnx(clips.view(b, 3, t, h, w).numpy())
        if opts.compile and impl == 'mmx3d':
            t0 = time.perf_counter()
            self.model.backbone.compile()
            self.model.cls_head.compile()
            self.run(1)
            self.extra['compile_s'] = time.perf_counter() - t0
        self.base_mem = current_rss_mb()

    def _setup_onnx(self, clips) -> None:
        """Export the model to a temporary ONNX file and open it with ONNX
        Runtime (CPU) on as many threads as PyTorch uses."""
        if self.cuda:
            raise ValueError('the onnxruntime benchmark runs on CPU only')
        from ..apis.deploy import OnnxRecognizer, export_onnx
        self.model.cfg = self._cfg
        fd, path = tempfile.mkstemp(suffix='.onnx', prefix='mmx3d_bench_')
        os.close(fd)
        try:
            info = export_onnx(self.model, out=path,
                               shape=self._spec['shape'])
            self.ort = OnnxRecognizer(path,
                                      num_threads=torch.get_num_threads())
        finally:
            os.remove(path)
        self.extra['onnx_export_max_abs_diff'] = info['max_abs_diff']
        self.ort_clips = clips

    def _onnx_check(self) -> float:
        """Largest difference of ONNX Runtime's probabilities, as timed
        (:meth:`_ort_run`), from the PyTorch model's ``test_step`` scores on
        the benchmark batch."""
        import numpy as np
        with torch.no_grad():
            ref = torch.stack([
                d.pred_score.float().cpu()
                for d in self.model.test_step(self.data)
            ]).double().numpy()
        got = np.asarray(self._ort_run(), np.float64)  # softmax output
        return float(np.abs(got - ref).max())

    def _ort_run(self):
        """The timed ONNX Runtime unit: normalise the uint8 batch, run."""
        return self.ort(self.ort.normalize(self.ort_clips))

    def _setup_optim(self) -> None:
        optim = torch.optim.SGD(self.model.parameters(), lr=1e-4,
                                momentum=0.9, weight_decay=5e-5)
        if self.impl == 'pytorchvideo':
            self.optim = optim
            self.scaler = torch.amp.GradScaler('cuda') if self.amp else None
            return
        from mmengine.optim import AmpOptimWrapper, OptimWrapper
        self.optim = (AmpOptimWrapper(optimizer=optim) if self.amp else
                      OptimWrapper(optimizer=optim))

    def _deploy_check(self) -> float:
        """Largest logit difference of the folded model from the unfused
        one (rebuilt from the saved weights) on the benchmark batch."""
        ref_model = build_model('mmx3d', self._cfg, self._spec,
                                self.opts.plain)
        ref_model.load_state_dict(self.unfused)
        ref_model.to(self.device).eval()
        with torch.no_grad():
            data = self.model.data_preprocessor(self.data, False)
            out = self.model(data['inputs'], mode='tensor', stage='head')
            ref = ref_model(data['inputs'], mode='tensor', stage='head')
        return float((out - ref).abs().max())

    def _autocast(self):
        if self.amp:
            return torch.autocast('cuda', dtype=torch.float16)
        return contextlib.nullcontext()

    def step(self) -> None:
        """One timed unit: a training step or a batch of inference."""
        if self.phase == 'train':
            if self.impl == 'pytorchvideo':
                self.optim.zero_grad(set_to_none=True)
                x = (self.clips.float() - MEAN) / STD
                with self._autocast():
                    loss = torch.nn.functional.cross_entropy(
                        self.model(x), self.labels)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.optim)
                    self.scaler.update()
                else:
                    loss.backward()
                    self.optim.step()
            else:
                self.model.train_step(self.data, self.optim)
        else:
            with torch.no_grad(), self._autocast():
                if self.impl == 'onnxruntime':
                    self._ort_run()
                elif self.impl == 'pytorchvideo':
                    x = (self.clips.float() - MEAN) / STD
                    self.model(x).softmax(-1)
                else:
                    self.model.test_step(self.data)
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def run(self, iters: int) -> List[List[float]]:
        """``[wall seconds, process CPU seconds]`` of each of ``iters``
        steps, run with denormals flushed (:func:`flush_denormal`)."""
        times = []
        with flush_denormal():
            for _ in range(iters):
                t0, c0 = time.perf_counter(), time.process_time()
                self.step()
                times.append(
                    [time.perf_counter() - t0,
                     time.process_time() - c0])
        return times

    def warmup(self, iters: int) -> None:
        """Untimed steps; the CUDA peak-memory counter starts after them."""
        self.run(iters)
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

    def stats(self) -> Dict:
        """``gflops_per_clip``, ``peak_mem_mb`` (CUDA allocator peak, or
        the process ``VmHWM`` with ``base_mem_mb`` = RSS after building),
        ``deploy_max_abs_diff``, ``onnx_max_abs_diff``,
        ``onnx_export_max_abs_diff`` and ``compile_s`` where they apply."""
        out = dict(gflops_per_clip=self.gflops, **self.extra)
        if self.cuda:
            out['peak_mem_mb'] = torch.cuda.max_memory_allocated(
                self.device) / 2**20
        else:
            out['peak_mem_mb'] = peak_rss_mb()
            out['base_mem_mb'] = self.base_mem
        if self.unfused is not None:  # after the peak was read
            out['deploy_max_abs_diff'] = self._deploy_check()
        if self.impl == 'onnxruntime':
            out['onnx_max_abs_diff'] = self._onnx_check()
        return out
