# Copyright (c) mmx3d contributors. All rights reserved.
"""The docs stay true: every command shown exists with the flags shown, every
config path exists, and the new-dataset tutorial config trains."""
import functools
import glob
import os
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAGES = sorted(glob.glob(osp.join(ROOT, 'docs', '*.md'))) + [
    osp.join(ROOT, 'README.md')
]
# shell wrappers forward their extra arguments to these Python tools
FORWARDS = {
    'tools/dist_train.sh': 'tools/train.py',
    'tools/slurm_train.sh': 'tools/train.py',
    'tools/dist_test.sh': 'tools/test.py',
    'tools/slurm_test.sh': 'tools/test.py',
}


def shell_commands(path):
    """Commands in ```bash / ```shell blocks (continuation lines joined)."""
    text = open(path).read()
    cmds = []
    for block in re.findall(r'```(?:bash|shell|sh)\n(.*?)```', text, re.S):
        block = block.replace('\\\n', ' ')
        for line in block.splitlines():
            line = line.split(' #')[0].strip()
            if line and not line.startswith('#'):
                cmds.append(line)
    return cmds


def all_commands():
    out = []
    for page in PAGES:
        for cmd in shell_commands(page):
            out.append((osp.relpath(page, ROOT), cmd))
    return out


@functools.lru_cache(maxsize=None)
def help_text(script):
    res = subprocess.run([sys.executable, osp.join(ROOT, script), '--help'],
                         capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, f'{script} --help failed: {res.stderr[-500:]}'
    return res.stdout


COMMANDS = all_commands()


def test_docs_show_commands():
    assert len(COMMANDS) > 30
    pages = {p for p, _ in COMMANDS}
    assert 'README.md' in pages and 'docs/training.md' in pages


@pytest.mark.slow  # one subprocess (`--help`) per script
@pytest.mark.parametrize('page,cmd', COMMANDS,
                         ids=[f'{p}:{c[:60]}' for p, c in COMMANDS])
def test_command_exists_with_its_flags(page, cmd):
    for part in re.split(r'\s*(?:;|&&|\|)\s*', cmd):
        try:
            tokens = shlex.split(part)
        except ValueError:
            continue
        # drop leading VAR=value assignments and loop keywords
        while tokens and (re.match(r'^[A-Z_]+=', tokens[0])
                          or tokens[0] in ('do', 'done', 'then')):
            tokens = tokens[1:]
        if not tokens:
            continue
        if tokens[0] == 'make':
            makefile = open(osp.join(ROOT, 'Makefile')).read()
            for target in tokens[1:]:
                assert re.search(rf'^{target}:', makefile, re.M), (page, cmd)
            continue
        script = None
        if tokens[0] in ('python', 'python3') and len(tokens) > 1 and \
                tokens[1].startswith('tools/'):
            script, args = tokens[1], tokens[2:]
        elif tokens[0].startswith('tools/'):
            script, args = tokens[0], tokens[1:]
        elif tokens[0] == 'bash' and len(tokens) > 1:
            script, args = tokens[1], tokens[2:]
        if script is None:
            continue
        assert osp.isfile(osp.join(ROOT, script)), f'{page}: {script} missing'
        for arg in args:
            if re.match(r'^(configs|tools)/.*\.(py|sh)$', arg):
                assert osp.isfile(osp.join(ROOT, arg)), f'{page}: {arg}'
        flags = [a.split('=')[0] for a in args if a.startswith('--')]
        if not flags:
            continue
        target = FORWARDS.get(script, script)
        if target.endswith('.py'):
            text = help_text(target)
            for flag in flags:
                assert flag in text, f'{page}: {target} has no {flag}'


def test_config_paths_in_docs_exist():
    for page in PAGES:
        text = open(page).read()
        for path in set(re.findall(r'configs/[\w/{},.-]+?\.py', text)):
            if '{' in path:
                continue
            assert osp.isfile(osp.join(ROOT, path)), f'{page}: {path}'


def test_tutorial_config_trains_one_iteration(synthetic_data, tmp_path):
    from mmengine.config import Config

    from mmx3d.apis import build_runner
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/x3d/x3d_s_custom_dataset.py'))
    assert cfg.model.cls_head.num_classes == 10
    # the tutorial's layout, filled with two synthetic videos
    root = tmp_path / 'my_dataset'
    os.makedirs(root)
    os.symlink(osp.join(synthetic_data, 'videos'), root / 'videos')
    lines = open(osp.join(synthetic_data,
                          'train_list_videos.txt')).read().splitlines()[:2]
    (root / 'train_list.txt').write_text('\n'.join(lines) + '\n')
    (root / 'val_list.txt').write_text('\n'.join(lines) + '\n')
    for split in ('train', 'val', 'test'):
        ds = cfg[f'{split}_dataloader'].dataset
        ds.ann_file = ds.ann_file.replace('data/my_dataset', str(root))
        ds.data_prefix.video = str(root / 'videos')
        cfg[f'{split}_dataloader'].num_workers = 0
        cfg[f'{split}_dataloader'].persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.max_epochs = 1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    cfg.custom_hooks = []
    runner = build_runner(cfg, work_dir=str(tmp_path / 'work'))
    runner.train()
    assert runner.iter == 1
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')
