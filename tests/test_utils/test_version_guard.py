# Copyright (c) mmx3d contributors. All rights reserved.
import subprocess
import sys
import textwrap

import pytest

from mmx3d.utils.version_guard import REQUIRED, check_versions


def test_current_environment_passes():
    check_versions()


def test_wrong_and_missing_versions_are_named():
    req = dict(REQUIRED)
    req['mmcv'] = ('2.2.0', '2.3.0')
    req['not-a-real-dist'] = ('1.0', '2.0')
    with pytest.raises(ImportError) as e:
        check_versions(req)
    msg = str(e.value)
    assert 'mmcv: 2.1.0 is installed, mmx3d needs >=2.2.0,<2.3.0' in msg
    assert 'not-a-real-dist: not installed, mmx3d needs >=1.0,<2.0' in msg


def test_import_mmx3d_fails_clearly_with_wrong_mmengine():
    """`import mmx3d` in an environment whose mmengine reports another
    version (faked through importlib.metadata in a fresh interpreter)."""
    code = textwrap.dedent("""
        import importlib.metadata as md
        real = md.version
        md.version = lambda d: '0.9.1' if d == 'mmengine' else real(d)
        try:
            import mmx3d
        except ImportError as e:
            print(e)
            raise SystemExit(3)
    """)
    res = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True)
    assert res.returncode == 3, res.stderr
    assert 'mmengine: 0.9.1 is installed, mmx3d needs >=0.10.0,<1.0.0' in \
        res.stdout


def test_drn_stub_only_for_the_missing_module():
    import importlib
    mod = importlib.import_module('mmaction.models.localizers.drn.drn')
    assert getattr(mod, '__mmx3d_stub__', False)
    with pytest.raises(ImportError, match='ships without'):
        mod.DRN()
    # other missing modules still fail as usual
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module('mmaction.models.localizers.not_there')
