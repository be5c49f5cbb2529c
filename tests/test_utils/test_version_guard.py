# Copyright (c) mmx3d contributors. All rights reserved.
"""The version guard: as a function with injected versions, and as what
``import mmx3d`` does in a fresh interpreter."""
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

from mmx3d.utils.version_guard import REQUIRED, check_versions

GOOD = {'mmengine': '0.10.7', 'mmcv': '2.1.0', 'mmdet': '3.3.0',
        'mmaction2': '1.2.0'}


def installed(versions):
    """A ``version_of`` that knows only ``versions``."""

    def version_of(dist):
        if dist not in versions:
            raise metadata.PackageNotFoundError(dist)
        return versions[dist]

    return version_of


def test_pinned_stack_passes():
    check_versions(version_of=installed(GOOD))


@pytest.mark.parametrize('dist,version,line', [
    ('mmengine', '0.9.1', 'mmengine: 0.9.1 is installed, mmx3d needs '
     '>=0.10.0,<1.0.0'),
    ('mmcv', '2.2.0', 'mmcv: 2.2.0 is installed, mmx3d needs >=2.1.0,<2.2.0'),
    ('mmdet', '3.4.0', 'mmdet: 3.4.0 is installed, mmx3d needs '
     '>=3.3.0,<3.4.0'),
    ('mmaction2', None, 'mmaction2: not installed, mmx3d needs '
     '>=1.2.0,<1.3.0'),
])
def test_each_offender_is_named(dist, version, line):
    versions = dict(GOOD)
    if version is None:
        del versions[dist]
    else:
        versions[dist] = version
    with pytest.raises(ImportError) as e:
        check_versions(version_of=installed(versions))
    msg = str(e.value)
    assert line in msg
    assert msg.count(' mmx3d needs ') == 1  # only the offender
    assert 'make setup' in msg


def test_all_offenders_in_one_message():
    with pytest.raises(ImportError) as e:
        check_versions(version_of=installed({'mmcv': '2.0.1'}))
    lines = str(e.value).splitlines()
    assert sorted(line.split(':')[0].strip() for line in lines[1:-1]) == \
        sorted(REQUIRED)


def _import_mmx3d_with(fake_versions: dict, extra: str = ''):
    """``import mmx3d`` in a fresh interpreter whose package metadata
    reports ``fake_versions``."""
    code = textwrap.dedent(f"""
        import sys
        import importlib.metadata as md
        real = md.version
        fake = {fake_versions!r}
        md.version = lambda d: fake.get(d) or real(d)
        try:
            import mmx3d
        except ImportError as e:
            print(e)
            {extra}
            raise SystemExit(3)
    """)
    return subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True)


def test_import_mmx3d_fails_clearly_with_old_mmengine():
    res = _import_mmx3d_with(
        {'mmengine': '0.9.1'},
        extra="print('imported:', sorted(m for m in sys.modules if "
        "m.split('.')[0] in ('mmengine', 'mmcv', 'mmdet', 'mmaction')))")
    assert res.returncode == 3, res.stderr[-2000:]
    assert 'mmengine: 0.9.1 is installed, mmx3d needs >=0.10.0,<1.0.0' in \
        res.stdout
    # the guard ran before mmx3d imported any of the stack
    assert 'imported: []' in res.stdout


def test_import_mmx3d_passes_with_the_pinned_stack():
    res = _import_mmx3d_with({})
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]
