# Copyright (c) mmx3d contributors. All rights reserved.
"""Imports inside ``mmx3d`` point one way.

Every module under ``mmx3d/`` is parsed with :mod:`ast` (imports inside
functions included, relative imports resolved) and checked against
:data:`FORBIDDEN`: the data side never reaches into evaluation, evaluation
never into models, models into neither nor into the APIs, the shared
readers and helpers (``fileio``, ``structures``) into none of them, and
nothing into ``tools``.
"""
import ast
import os
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PACKAGE = osp.join(ROOT, 'mmx3d')

#: importing package -> packages it must not import
FORBIDDEN = {
    'mmx3d.datasets': ('mmx3d.evaluation', 'mmx3d.models', 'mmx3d.apis'),
    'mmx3d.evaluation': ('mmx3d.models', 'mmx3d.datasets', 'mmx3d.apis'),
    'mmx3d.models': ('mmx3d.datasets', 'mmx3d.evaluation', 'mmx3d.apis'),
    'mmx3d.fileio': ('mmx3d.datasets', 'mmx3d.evaluation', 'mmx3d.models',
                     'mmx3d.apis', 'mmx3d.engine'),
    'mmx3d.structures': ('mmx3d.datasets', 'mmx3d.evaluation',
                         'mmx3d.models', 'mmx3d.apis', 'mmx3d.engine'),
    'mmx3d': ('tools', ),
}


def module_name(path: str) -> str:
    rel = osp.relpath(path, ROOT)[:-len('.py')].split(os.sep)
    if rel[-1] == '__init__':
        rel = rel[:-1]
    return '.'.join(rel)


def imported_names(path: str):
    """``(lineno, absolute module name)`` of every import in a file."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    name = module_name(path)
    package = name if path.endswith('__init__.py') else name.rpartition(
        '.')[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                mod = '.'.join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            yield node.lineno, mod
            for alias in node.names:  # `from mmx3d import models`
                yield node.lineno, f'{mod}.{alias.name}'


def violations(root: str = PACKAGE):
    found = []
    for dirpath, _, files in os.walk(root):
        for fname in sorted(files):
            if not fname.endswith('.py'):
                continue
            path = osp.join(dirpath, fname)
            name = module_name(path)
            seen = set()
            for lineno, imported in imported_names(path):
                if lineno in seen:  # one report per import statement
                    continue
                for src, banned in FORBIDDEN.items():
                    if name != src and not name.startswith(src + '.'):
                        continue
                    for dst in banned:
                        if imported == dst or imported.startswith(dst + '.'):
                            seen.add(lineno)
                            found.append(f'{osp.relpath(path, ROOT)}:'
                                         f'{lineno}: {name} imports '
                                         f'{imported} ({src} must not '
                                         f'import {dst})')
    return found


def test_no_import_points_the_wrong_way():
    found = violations()
    assert not found, 'imports against the layering:\n' + '\n'.join(found)


@pytest.mark.parametrize('line', [
    'from ..evaluation.functional import read_labelmap',
    'from mmx3d.evaluation import functional',
    'import mmx3d.evaluation.functional',
    'from mmx3d import evaluation',
])
def test_checker_sees_each_import_form(tmp_path, line):
    """The checker itself: a datasets module importing evaluation in each
    spelling is caught, with file and line."""
    pkg = tmp_path / 'mmx3d' / 'datasets'
    pkg.mkdir(parents=True)
    (tmp_path / 'mmx3d' / '__init__.py').write_text('')
    (pkg / '__init__.py').write_text('')
    (pkg / 'bad.py').write_text(f'import os\n\n\ndef f():\n    {line}\n')
    global ROOT
    saved, ROOT = ROOT, str(tmp_path)
    try:
        found = violations(str(tmp_path / 'mmx3d'))
    finally:
        ROOT = saved
    assert len(found) >= 1
    assert found[0].startswith(osp.join('mmx3d', 'datasets', 'bad.py') +
                               ':5: mmx3d.datasets.bad imports '
                               'mmx3d.evaluation')
