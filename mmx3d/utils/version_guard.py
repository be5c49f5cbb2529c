# Copyright (c) mmx3d contributors. All rights reserved.
"""Check the versions of the OpenMMLab stack before mmx3d imports it.

``import mmx3d`` runs :func:`check_versions` first: it reads the installed
versions from the package metadata without importing the packages, so a
wrong or broken stack gives one message naming every offender instead of
an error from deep inside mmcv or mmaction2. (Packages the caller imported
before ``import mmx3d`` are checked all the same, from their metadata.)
"""
from importlib import metadata
from typing import Callable, Optional

from packaging.version import Version

#: distribution -> (minimum inclusive, maximum exclusive)
REQUIRED = {
    'mmengine': ('0.10.0', '1.0.0'),
    'mmcv': ('2.1.0', '2.2.0'),
    'mmdet': ('3.3.0', '3.4.0'),
    'mmaction2': ('1.2.0', '1.3.0'),
}


def check_versions(required: dict = REQUIRED,
                   version_of: Optional[Callable[[str], str]] = None) -> None:
    """Raise ImportError naming each missing or wrong-version dependency.

    Args:
        required (dict): ``{dist_name: (min_inclusive, max_exclusive)}``.
            Defaults to :data:`REQUIRED`.
        version_of (Callable[[str], str], optional): Installed version of a
            distribution; raises ``importlib.metadata.PackageNotFoundError``
            for a missing one. Defaults to None, i.e.
            ``importlib.metadata.version`` (looked up at call time).

    Raises:
        ImportError: with one line per offending package: its name, the
            installed version (or "not installed") and the needed range.
    """
    version_of = version_of or metadata.version
    problems = []
    for dist, (lo, hi) in required.items():
        need = f'>={lo},<{hi}'
        try:
            have = version_of(dist)
        except metadata.PackageNotFoundError:
            problems.append(f'{dist}: not installed, mmx3d needs {need}')
            continue
        if not Version(lo) <= Version(have) < Version(hi):
            problems.append(f'{dist}: {have} is installed, mmx3d needs {need}')
    if problems:
        raise ImportError('mmx3d cannot run with this environment:\n  ' +
                          '\n  '.join(problems) +
                          '\nRun `make setup` (or `bash tools/setup_env.sh`) '
                          'to install the pinned stack.')
