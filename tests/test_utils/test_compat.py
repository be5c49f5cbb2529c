# Copyright (c) mmx3d contributors. All rights reserved.
"""Each work-around of mmx3d/utils/compat.py, and the private APIs they
rely on."""
import importlib
import logging
import os
import pickle
import subprocess
import sys

import pytest
import torch

from mmx3d.utils import compat
from mmx3d.utils.compat import cpu_launcher_patch, safe_torch_load


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null', ))


# ---------------------------------------------------------------------------
# private APIs: fail loudly, naming what moved and what to update
# ---------------------------------------------------------------------------


def test_private_torch_api_of_the_restricted_unpickler():
    mod = importlib.import_module('torch._weights_only_unpickler')
    assert hasattr(mod, '_get_allowed_globals'), (
        f'torch {torch.__version__} moved '
        'torch._weights_only_unpickler._get_allowed_globals, which '
        'mmx3d.utils.compat._RestrictedUnpickler.find_class uses to admit '
        "torch's own weights-only globals; update it")
    allowed = mod._get_allowed_globals()
    assert isinstance(allowed, dict) and \
        'torch._utils._rebuild_tensor_v2' in allowed, (
            '_get_allowed_globals() no longer maps "module.name" to objects '
            '(as mmx3d.utils.compat._RestrictedUnpickler expects)')
    for name in ('add_safe_globals', 'get_safe_globals'):
        assert hasattr(torch.serialization, name), (
            f'torch.serialization.{name} is gone; mmx3d.utils.compat '
            'allow_mmengine_checkpoint_globals/_RestrictedUnpickler use it')


def test_private_mmengine_api_of_the_loader_replacement():
    from mmengine.runner.checkpoint import CheckpointLoader
    assert isinstance(getattr(CheckpointLoader, '_schemes', None), dict), (
        'mmengine.runner.checkpoint.CheckpointLoader._schemes is gone; '
        'mmx3d.utils.compat.patch_mmengine_local_loader checks it')


def test_mmengine_launcher_still_calls_set_device():
    """The reason for cpu_launcher_patch; if MMEngine stops calling
    torch.cuda.set_device the patch can go."""
    import inspect

    from mmengine.dist import utils
    assert 'torch.cuda.set_device' in inspect.getsource(
        utils._init_dist_pytorch), (
            'mmengine.dist.utils._init_dist_pytorch no longer calls '
            'torch.cuda.set_device: mmx3d.utils.compat.cpu_launcher_patch '
            'may be unnecessary')


# ---------------------------------------------------------------------------
# the local checkpoint loader of MMEngine
# ---------------------------------------------------------------------------


def _runner_checkpoint(tmp_path):
    """One epoch of a toy model through MMEngine's Runner; its checkpoint
    holds the message hub's history buffers (numpy arrays inside)."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Toy(BaseModel):

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return dict(loss=self.fc(torch.stack(inputs)).pow(2).mean())

    runner = Runner(
        model=Toy(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=[dict(inputs=torch.ones(2))] * 4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1)),
        default_scope='mmx3d',
        experiment_name=f'compat_{os.getpid()}_{id(tmp_path)}')
    runner.train()
    return str(tmp_path / 'epoch_1.pth'), runner.model.state_dict()


def test_loader_installed_by_mmx3d_reads_runner_checkpoints(tmp_path):
    from mmengine.runner.checkpoint import CheckpointLoader
    assert getattr(CheckpointLoader._schemes[''], '_mmx3d', False), \
        "MMEngine's local loader is not the one mmx3d installs"
    path, state = _runner_checkpoint(tmp_path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # what MMEngine hits on 2.6+
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    torch.testing.assert_close(ckpt['state_dict']['fc.weight'],
                               state['fc.weight'])
    assert ckpt['meta']['epoch'] == 1
    assert ckpt['message_hub']['log_scalars']['train/loss'].current() > 0


def test_loader_installed_by_mmx3d_refuses_code(tmp_path):
    from mmengine.runner.checkpoint import CheckpointLoader
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match='evil.pth'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')


def test_loader_replacement_is_idempotent_and_logged(caplog):
    from mmengine.runner.checkpoint import CheckpointLoader
    before = CheckpointLoader._schemes['']
    with caplog.at_level(logging.INFO, logger='mmx3d'):
        compat.patch_mmengine_local_loader()
    assert CheckpointLoader._schemes[''] is before
    assert not caplog.records  # already applied: nothing to say
    try:
        CheckpointLoader._schemes[''] = lambda f, m: None  # someone else's
        with caplog.at_level(logging.INFO, logger='mmx3d'):
            compat.patch_mmengine_local_loader()
        assert getattr(CheckpointLoader._schemes[''], '_mmx3d', False)
        assert 'local checkpoint loader replaced' in caplog.text
    finally:
        CheckpointLoader._schemes[''] = before


def test_allow_list_holds_mmengine_types():
    from mmengine.logging import HistoryBuffer
    assert HistoryBuffer in torch.serialization.get_safe_globals()
    n = len(torch.serialization.get_safe_globals())
    compat.allow_mmengine_checkpoint_globals()
    assert len(torch.serialization.get_safe_globals()) == n  # idempotent


def test_safe_load_reads_history_buffers(tmp_path):
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.5)
    path = str(tmp_path / 'ok.pth')
    torch.save({'state_dict': {'w': torch.ones(2)}, 'hub': {'lr': buf}}, path)
    ckpt = safe_torch_load(path)
    assert ckpt['hub']['lr'].current() == 1.5
    torch.testing.assert_close(ckpt['state_dict']['w'], torch.ones(2))


def test_safe_load_refuses_arbitrary_code(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match='evil.pth'):
        safe_torch_load(path)


def test_safe_load_fallback_still_refuses_code(tmp_path):
    """A history buffer first sends the load to the restricted unpickler;
    the code after it must be refused there too."""
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.0)
    path = str(tmp_path / 'mixed.pth')
    torch.save({'hub': buf, 'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match='posix.system is not '
                       'allowed'):
        safe_torch_load(path)


def test_restricted_getattr_only_for_history_buffer():
    from mmengine.logging import HistoryBuffer
    assert compat._restricted_getattr(HistoryBuffer, 'min') is \
        HistoryBuffer.min
    with pytest.raises(pickle.UnpicklingError):
        compat._restricted_getattr(os, 'system')
    with pytest.raises(pickle.UnpicklingError):
        compat._restricted_getattr(HistoryBuffer, '__init__')


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        safe_torch_load(str(tmp_path / 'nothere.pth'))


# ---------------------------------------------------------------------------
# torch.cuda.set_device on CPU launches
# ---------------------------------------------------------------------------


def test_import_leaves_set_device_alone():
    """In a fresh interpreter, ``import mmx3d`` does not touch torch.cuda."""
    code = ('import torch, mmx3d; '
            "assert torch.cuda.set_device.__module__.startswith('torch'), "
            'torch.cuda.set_device')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-2000:]


def test_cpu_launcher_patch_applies_nests_and_restores(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    original = torch.cuda.set_device
    assert not getattr(original, '_mmx3d_noop', False)
    with caplog.at_level(logging.INFO, logger='mmx3d'):
        with cpu_launcher_patch():
            patched = torch.cuda.set_device
            assert patched is not original and patched._mmx3d_noop
            assert torch.cuda.set_device(1) is None
            with cpu_launcher_patch():  # nested: same patch, no new line
                assert torch.cuda.set_device is patched
            assert torch.cuda.set_device is patched
    assert torch.cuda.set_device is original
    assert caplog.text.count('torch.cuda.set_device is a no-op') == 1
    with pytest.raises(RuntimeError):
        with cpu_launcher_patch():
            raise RuntimeError('launch failed')
    assert torch.cuda.set_device is original


def test_cpu_launcher_patch_does_nothing_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    original = torch.cuda.set_device
    with cpu_launcher_patch():
        assert torch.cuda.set_device is original


# ---------------------------------------------------------------------------
# the missing DRN module of the mmaction2 wheel
# ---------------------------------------------------------------------------


def test_drn_stub_only_for_the_missing_module():
    mod = importlib.import_module('mmaction.models.localizers.drn.drn')
    assert getattr(mod, '__mmx3d_stub__', False)
    with pytest.raises(ImportError, match='ships without'):
        mod.DRN()
    # other missing modules still fail as usual
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module('mmaction.models.localizers.not_there')


def test_drn_stub_finder_installed_once(caplog):
    finders = [f for f in sys.meta_path
               if isinstance(f, compat._DRNStubFinder)]
    assert len(finders) == 1
    with caplog.at_level(logging.INFO, logger='mmx3d'):
        compat.patch_mmaction_drn()
    assert len([f for f in sys.meta_path
                if isinstance(f, compat._DRNStubFinder)]) == 1
    assert not caplog.records
