# Copyright (c) mmx3d contributors. All rights reserved.
import os
import pickle

import pytest
import torch

from mmx3d.utils.compat import safe_torch_load


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null', ))


def test_safe_load_reads_history_buffers(tmp_path):
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.5)
    path = str(tmp_path / 'ok.pth')
    torch.save({'state_dict': {'w': torch.ones(2)}, 'hub': {'lr': buf}}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # what MMEngine hits on torch 2.6+
    ckpt = safe_torch_load(path)
    assert ckpt['hub']['lr'].current() == 1.5
    torch.testing.assert_close(ckpt['state_dict']['w'], torch.ones(2))


def test_safe_load_refuses_arbitrary_code(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match='evil.pth'):
        safe_torch_load(path)


def test_restricted_getattr_only_for_history_buffer(tmp_path):
    from mmx3d.utils.compat import _restricted_getattr
    with pytest.raises(pickle.UnpicklingError):
        _restricted_getattr(os, 'system')


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        safe_torch_load(str(tmp_path / 'nothere.pth'))
