# Copyright (c) mmx3d contributors. All rights reserved.
"""Training and inference throughput, GFLOP/s and peak memory of mmx3d's
X3D against MMAction2's and PyTorchVideo's, and of its deploy paths (BN
folded, eager, ONNX Runtime) (``tools/analysis/benchmark.py``).

* :mod:`.builders`: the three implementations built from one config, and
  the inference-only deploy paths of mmx3d's model;
* :mod:`.timing`: one implementation in one phase, timed (:class:`Bench`);
* :mod:`.worker`: a worker process per implementation, or in-process;
* :mod:`.compare`: rounds, ratios, the JSON results and the report;
* :mod:`.data`: throughput of the training data pipeline.
"""
from .builders import (
    ALL_IMPLS,
    DEPLOY_IMPLS,
    IMPLS,
    build_model,
    gflops_per_clip,
    import_pytorchvideo_x3d,
    model_spec,
    onnxruntime_available,
)
from .compare import (
    format_report,
    json_results,
    ratios,
    run_benchmark,
    run_phase,
    summarize_times,
)
from .data import data_throughput
from .timing import Bench, BenchOptions, denormals_flushed, flush_denormal

__all__ = [
    'IMPLS', 'DEPLOY_IMPLS', 'ALL_IMPLS', 'onnxruntime_available',
    'build_model', 'gflops_per_clip', 'import_pytorchvideo_x3d',
    'model_spec', 'format_report', 'json_results', 'ratios', 'run_benchmark',
    'run_phase', 'summarize_times', 'data_throughput', 'Bench',
    'BenchOptions', 'denormals_flushed', 'flush_denormal'
]
