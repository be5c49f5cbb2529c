# Copyright (c) mmx3d contributors. All rights reserved.
"""Check the OpenMMLab stack before anything imports it."""
from importlib import metadata

from packaging.version import Version

#: distribution -> (minimum inclusive, maximum exclusive)
REQUIRED = {
    'mmengine': ('0.10.0', '1.0.0'),
    'mmcv': ('2.1.0', '2.2.0'),
    'mmdet': ('3.3.0', '3.4.0'),
    'mmaction2': ('1.2.0', '1.3.0'),
}


def check_versions(required: dict = REQUIRED) -> None:
    """Raise ImportError naming each missing or wrong-version dependency.

    Args:
        required (dict): ``{dist_name: (min_inclusive, max_exclusive)}``.

    Raises:
        ImportError: with one line per offending package: its name, the
            installed version (or "not installed") and the needed range.
    """
    problems = []
    for dist, (lo, hi) in required.items():
        need = f'>={lo},<{hi}'
        try:
            have = metadata.version(dist)
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
