# Copyright (c) mmx3d contributors. All rights reserved.
from .setup_env import register_all_modules
from .version_guard import check_versions

__all__ = ['register_all_modules', 'check_versions']
