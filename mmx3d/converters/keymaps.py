# Copyright (c) mmx3d contributors. All rights reserved.
"""Key tables between mmx3d and the X3D checkpoint formats users have.

Each table lists ``(foreign module, mmx3d module)`` name templates. ``{k}``
is the stage number of the paper and of PySlowFast (2..5 for res2..res5),
``{j}`` the same stage counted from 1 (PyTorchVideo's ``blocks.{j}``,
MMAction2's ``layer{j}``) and ``{i}`` the block within the stage. A template
matches a whole key minus its last component (``weight``, ``bias``,
``running_mean``, ...), which is carried over unchanged, so every table works
in both directions. Tensor reshapes and the layers one format lacks are
handled by :mod:`mmx3d.converters.checkpoint`.
"""
import re
from typing import Dict, List, Optional, Pattern, Tuple

# mmx3d block prefix, shared by the tables
_BLOCK = 'backbone.res{k}.{i}'

#: PySlowFast (``model_state`` of a ``.pyth``): section 6 of the reference.
PYSLOWFAST: List[Tuple[str, str]] = [
    ('s1.pathway0_stem.conv_xy', 'backbone.stem.conv_xy'),
    ('s1.pathway0_stem.conv', 'backbone.stem.conv_t'),
    ('s1.pathway0_stem.bn', 'backbone.stem.bn'),
    ('s{k}.pathway0_res{i}.branch1', _BLOCK + '.downsample.0'),
    ('s{k}.pathway0_res{i}.branch1_bn', _BLOCK + '.downsample.1'),
    ('s{k}.pathway0_res{i}.branch2.a', _BLOCK + '.conv_a'),
    ('s{k}.pathway0_res{i}.branch2.a_bn', _BLOCK + '.bn_a'),
    ('s{k}.pathway0_res{i}.branch2.b', _BLOCK + '.conv_b'),
    ('s{k}.pathway0_res{i}.branch2.b_bn', _BLOCK + '.bn_b'),
    ('s{k}.pathway0_res{i}.branch2.se.fc1', _BLOCK + '.se.fc1'),
    ('s{k}.pathway0_res{i}.branch2.se.fc2', _BLOCK + '.se.fc2'),
    ('s{k}.pathway0_res{i}.branch2.c', _BLOCK + '.conv_c'),
    ('s{k}.pathway0_res{i}.branch2.c_bn', _BLOCK + '.bn_c'),
    ('head.conv_5', 'cls_head.conv5'),
    ('head.conv_5_bn', 'cls_head.conv5_bn'),
    ('head.lin_5', 'cls_head.lin5'),  # Conv3d 1x1x1 <-> Linear
    ('head.projection', 'cls_head.fc_cls'),
]

#: PyTorchVideo ``create_x3d`` (its stem's conv_t/conv_xy names are swapped).
#: ``branch1_norm`` is absent where the shortcut keeps the width (res2).
PYTORCHVIDEO: List[Tuple[str, str]] = [
    ('blocks.0.conv.conv_t', 'backbone.stem.conv_xy'),
    ('blocks.0.conv.conv_xy', 'backbone.stem.conv_t'),
    ('blocks.0.norm', 'backbone.stem.bn'),
    ('blocks.{j}.res_blocks.{i}.branch1_conv', _BLOCK + '.downsample.0'),
    ('blocks.{j}.res_blocks.{i}.branch1_norm', _BLOCK + '.downsample.1'),
    ('blocks.{j}.res_blocks.{i}.branch2.conv_a', _BLOCK + '.conv_a'),
    ('blocks.{j}.res_blocks.{i}.branch2.norm_a', _BLOCK + '.bn_a'),
    ('blocks.{j}.res_blocks.{i}.branch2.conv_b', _BLOCK + '.conv_b'),
    ('blocks.{j}.res_blocks.{i}.branch2.norm_b.0', _BLOCK + '.bn_b'),
    ('blocks.{j}.res_blocks.{i}.branch2.norm_b.1.block.0',
     _BLOCK + '.se.fc1'),
    ('blocks.{j}.res_blocks.{i}.branch2.norm_b.1.block.2',
     _BLOCK + '.se.fc2'),
    ('blocks.{j}.res_blocks.{i}.branch2.conv_c', _BLOCK + '.conv_c'),
    ('blocks.{j}.res_blocks.{i}.branch2.norm_c', _BLOCK + '.bn_c'),
    ('blocks.5.pool.pre_conv', 'cls_head.conv5'),
    ('blocks.5.pool.pre_norm', 'cls_head.conv5_bn'),
    ('blocks.5.pool.post_conv', 'cls_head.lin5'),  # Conv3d <-> Linear
    ('blocks.5.proj', 'cls_head.fc_cls'),
]

#: MMAction2 1.x ``X3D`` backbone + ``X3DHead`` (its conv5 is in the
#: backbone; ``fc1`` must be bias-free, as MMAction2 builds it by default).
MMACTION2: List[Tuple[str, str]] = [
    ('backbone.conv1_s.conv', 'backbone.stem.conv_xy'),
    ('backbone.conv1_t.conv', 'backbone.stem.conv_t'),
    ('backbone.conv1_t.bn', 'backbone.stem.bn'),
    ('backbone.layer{j}.{i}.downsample.conv', _BLOCK + '.downsample.0'),
    ('backbone.layer{j}.{i}.downsample.bn', _BLOCK + '.downsample.1'),
    ('backbone.layer{j}.{i}.conv1.conv', _BLOCK + '.conv_a'),
    ('backbone.layer{j}.{i}.conv1.bn', _BLOCK + '.bn_a'),
    ('backbone.layer{j}.{i}.conv2.conv', _BLOCK + '.conv_b'),
    ('backbone.layer{j}.{i}.conv2.bn', _BLOCK + '.bn_b'),
    ('backbone.layer{j}.{i}.se_module.fc1', _BLOCK + '.se.fc1'),
    ('backbone.layer{j}.{i}.se_module.fc2', _BLOCK + '.se.fc2'),
    ('backbone.layer{j}.{i}.conv3.conv', _BLOCK + '.conv_c'),
    ('backbone.layer{j}.{i}.conv3.bn', _BLOCK + '.bn_c'),
    ('backbone.conv5.conv', 'cls_head.conv5'),
    ('backbone.conv5.bn', 'cls_head.conv5_bn'),
    ('cls_head.fc1', 'cls_head.lin5'),
    ('cls_head.fc2', 'cls_head.fc_cls'),
]

_FIELD = re.compile(r'\\\{([kij])\\\}')


def _compile(template: str) -> Pattern:
    """Regex for ``template.<param>`` with named groups for the fields."""
    body = _FIELD.sub(lambda m: rf'(?P<{m.group(1)}>\d+)', re.escape(template))
    return re.compile(rf'^{body}\.(?P<param>\w+)$')


def _fill(template: str, groups: Dict[str, str]) -> str:
    fields = {}
    if 'i' in groups:
        fields['i'] = int(groups['i'])
    if 'k' in groups:
        fields['k'] = int(groups['k'])
        fields['j'] = fields['k'] - 1
    elif 'j' in groups:
        fields['j'] = int(groups['j'])
        fields['k'] = fields['j'] + 1
    return template.format(**fields) + '.' + groups['param']


class KeyMap:
    """A bidirectional renaming built from one of the tables above.

    Args:
        table (list[tuple[str, str]]): ``(foreign, mmx3d)`` templates.
    """

    def __init__(self, table: List[Tuple[str, str]]) -> None:
        self.table = table
        self._to = [(_compile(src), dst) for src, dst in table]
        self._from = [(_compile(dst), src) for src, dst in table]

    @staticmethod
    def _rename(key: str, rules) -> Optional[str]:
        for pattern, template in rules:
            m = pattern.match(key)
            if m:
                return _fill(template, m.groupdict())
        return None

    def to_mmx3d(self, key: str) -> Optional[str]:
        """The mmx3d name of a foreign key, or None if no rule matches."""
        return self._rename(key, self._to)

    def from_mmx3d(self, key: str) -> Optional[str]:
        """The foreign name of an mmx3d key, or None if no rule matches."""
        return self._rename(key, self._from)


KEYMAPS: Dict[str, KeyMap] = {
    'pyslowfast': KeyMap(PYSLOWFAST),
    'pytorchvideo': KeyMap(PYTORCHVIDEO),
    'mmaction2': KeyMap(MMACTION2),
}
