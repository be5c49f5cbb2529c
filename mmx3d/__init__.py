# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d: X3D video models for the OpenMMLab 2.0 stack."""
from .utils.version_guard import check_versions
from .version import __version__, version_info

check_versions()

# Work-arounds that importing MMAction2 and loading MMEngine checkpoints on
# torch 2.13 need (see mmx3d/utils/compat.py and docs/faq.md); each logs one
# line on the `mmx3d` logger. The CPU launcher one is applied by
# mmx3d.apis.build_runner, not here.
from .utils.compat import (  # noqa: E402
    allow_mmengine_checkpoint_globals,
    patch_mmaction_drn,
    patch_mmengine_local_loader,
)

patch_mmaction_drn()
allow_mmengine_checkpoint_globals()
patch_mmengine_local_loader()

# MMAction2's registries fill lazily; mmx3d's child registries look up their
# parents' tables directly, so MMAction2's modules are imported up front.
from mmaction.utils import register_all_modules as _mmaction_register  # noqa

_mmaction_register(init_default_scope=False)

from . import (  # noqa: E402,F401
    converters,
    datasets,
    engine,
    evaluation,
    models,
)
from .utils.setup_env import register_all_modules  # noqa: E402

__all__ = ['__version__', 'version_info', 'register_all_modules']
