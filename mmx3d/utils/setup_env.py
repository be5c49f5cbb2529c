# Copyright (c) mmx3d contributors. All rights reserved.
import datetime
import warnings


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmx3d module (which registers it) and optionally make
    ``mmx3d`` the default scope.

    Args:
        init_default_scope (bool): Set ``mmx3d`` as the default registry
            scope. Defaults to True.
    """
    # imported here, not at module level: `mmx3d.utils` is imported by the
    # version guard before anything may import the OpenMMLab stack
    from mmengine import DefaultScope

    import mmx3d.datasets  # noqa: F401
    import mmx3d.engine  # noqa: F401
    import mmx3d.evaluation  # noqa: F401
    import mmx3d.models  # noqa: F401
    if not init_default_scope:
        return
    never_created = (DefaultScope.get_current_instance() is None
                     or not DefaultScope.check_instance_created('mmx3d'))
    if never_created:
        DefaultScope.get_instance('mmx3d', scope_name='mmx3d')
        return
    current = DefaultScope.get_current_instance()
    if current.scope_name != 'mmx3d':
        warnings.warn(f'The current default scope "{current.scope_name}" is '
                      'not "mmx3d"; a new mmx3d scope is created.')
        name = f'mmx3d-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='mmx3d')
