# Copyright (c) mmx3d contributors. All rights reserved.
"""mmx3d/registry.py: where each registry's modules come from, and the one
name that shadows an upstream one."""
from mmengine.registry import Registry

import mmx3d.registry as reg


def _registries():
    return {name: obj for name, obj in vars(reg).items()
            if isinstance(obj, Registry)}


def test_locations_are_where_the_modules_are():
    """Each registry's ``locations`` are exactly the mmx3d packages whose
    classes it holds (a location that registers nothing is dead, a missing
    one breaks lazy imports)."""
    for name, registry in _registries().items():
        packages = {
            '.'.join(obj.__module__.split('.')[:2])
            for obj in registry.module_dict.values()
        }
        assert sorted(packages) == sorted(registry._locations), name


def test_no_mmx3d_name_shadows_an_upstream_one_but_pretrained():
    shadowing = []
    for name, registry in _registries().items():
        for key in registry.module_dict:
            parent = registry.parent
            while parent is not None:
                if key in parent.module_dict:
                    shadowing.append(f'{name}.{key}')
                    break
                parent = parent.parent
    assert shadowing == ['WEIGHT_INITIALIZERS.Pretrained']


def test_pretrained_in_mmx3d_scope_is_x3d_pretrained_init():
    from mmengine.model.weight_init import PretrainedInit

    from mmx3d.converters import X3DPretrainedInit
    assert reg.WEIGHT_INITIALIZERS.get('Pretrained') is X3DPretrainedInit
    assert reg.WEIGHT_INITIALIZERS.get('mmengine.Pretrained') is \
        PretrainedInit
