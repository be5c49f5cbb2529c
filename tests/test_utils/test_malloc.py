# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d.utils.malloc: the glibc malloc policy of env_cfg.cpu_malloc."""
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
from mmengine.config import Config

from mmx3d.apis.runner import build_runner
from mmx3d.benchmark.builders import malloc_policy
from mmx3d.utils.malloc import check_malloc_cfg, glibc_available

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC = osp.join(ROOT, 'configs', 'x3d', 'x3d_xs_synthetic.py')
S = osp.join(ROOT, 'configs', 'x3d', 'x3d_s_kinetics400.py')

# where a 64 MB tensor's memory comes from, with and without the policy
# (glibc's mallinfo2: `hblkhd` bytes in mmapped blocks, `arena` bytes of
# the heap), and whether the heap keeps it after the tensor is freed
PROBE = textwrap.dedent('''
    import ctypes, importlib.util, json, sys
    import torch
    # the module alone, without importing the OpenMMLab stack (seconds)
    spec = importlib.util.spec_from_file_location('malloc', sys.argv[2])
    malloc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(malloc)
    set_malloc_policy = malloc.set_malloc_policy

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
            'fsmblks', 'uordblks', 'fordblks', 'keepcost')]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    policy = json.loads(sys.argv[1])
    applied = set_malloc_policy(policy)
    before = libc.mallinfo2()
    t = torch.ones(16 << 20)  # 64 MB
    alive = libc.mallinfo2()
    del t
    freed = libc.mallinfo2()
    print(json.dumps(dict(
        applied=applied,
        mmapped=alive.hblkhd - before.hblkhd,
        heap_alive=alive.arena - before.arena,
        heap_freed=freed.arena - before.arena)))
''')


def _probe(policy):
    import json
    res = subprocess.run([sys.executable, '-c', PROBE, json.dumps(policy),
                          osp.join(ROOT, 'mmx3d', 'utils', 'malloc.py')],
                         capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not glibc_available(), reason='glibc only')
def test_policy_keeps_large_tensors_in_the_heap():
    shipped = Config.fromfile(S).env_cfg.cpu_malloc
    with_policy = _probe(dict(shipped))
    assert with_policy['applied'] == dict(shipped)
    # the 64 MB block came from the heap, and the heap kept it after free
    assert with_policy['mmapped'] < 1 << 20
    assert with_policy['heap_alive'] >= 64 << 20
    assert with_policy['heap_freed'] >= 64 << 20
    default = _probe(None)
    assert default['applied'] is None
    # glibc's default: a fresh mapping, returned when freed
    assert default['mmapped'] >= 64 << 20
    assert default['heap_freed'] < 1 << 20


def test_bad_entries_name_the_key():
    with pytest.raises(KeyError, match=r'env_cfg\.cpu_malloc\.mmap_treshold'
                       r'.*accepted: mmap_threshold, trim_threshold'):
        check_malloc_cfg(dict(mmap_treshold=1 << 30))
    for bad in (0, -5, 1 << 31, 1.5, True, '1G'):
        with pytest.raises(ValueError, match='trim_threshold'):
            check_malloc_cfg(dict(trim_threshold=bad))
    with pytest.raises(ValueError, match='must be a dict'):
        check_malloc_cfg([1 << 30])
    assert check_malloc_cfg(None) == {}


def test_build_runner_applies_and_checks_the_entry(tmp_path):
    cfg = Config.fromfile(SYNTHETIC)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.env_cfg.cpu_malloc = dict(mmap_threshold=1 << 30, trim_treshold=1)
    with pytest.raises(KeyError, match=r'env_cfg\.cpu_malloc\.trim_treshold'):
        build_runner(cfg)


def test_benchmark_policy_per_implementation():
    cfg = Config.fromfile(S)
    shipped = cfg.env_cfg.cpu_malloc
    assert shipped  # the shipped runtime sets one
    for impl in ('mmx3d', 'mmx3d_eager', 'onnxruntime'):
        assert malloc_policy(impl, cfg) == shipped
        assert malloc_policy(impl, cfg, plain=True) is None
    for impl in ('mmaction2', 'pytorchvideo'):
        assert malloc_policy(impl, cfg) is None
        assert malloc_policy(impl, cfg, malloc_all=True) == shipped
