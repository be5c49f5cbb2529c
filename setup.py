# Copyright (c) mmx3d contributors. All rights reserved.
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    scope = {}
    with open(osp.join(HERE, 'mmx3d', 'version.py')) as f:
        exec(compile(f.read(), 'mmx3d/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Requirement lines of ``requirements/<fname>`` (comments dropped)."""
    reqs = []
    with open(osp.join(HERE, 'requirements', fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension() -> None:
    """Expose configs/tools under ``mmx3d/.mim`` so ``mim`` finds them:
    symlinks for editable installs, copies otherwise."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(a in sys.argv for a in ('sdist', 'bdist_wheel', 'install')):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'mmx3d', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('configs', 'tools', 'requirements', 'setup.py'):
        src, dst = osp.join(HERE, name), osp.join(mim_path, name)
        if osp.lexists(dst):
            if osp.isdir(dst) and not osp.islink(dst):
                shutil.rmtree(dst)
            else:
                os.remove(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmx3d',
        version=get_version(),
        description='X3D video models on OpenMMLab: train, evaluate, deploy',
        long_description=open(osp.join(HERE, 'README.md')).read()
        if osp.exists(osp.join(HERE, 'README.md')) else '',
        long_description_content_type='text/markdown',
        license='Apache License 2.0',
        python_requires='>=3.9',
        packages=find_packages(exclude=('configs', 'tools', 'tools.*',
                                        'tests', 'tests.*', 'docs')),
        include_package_data=True,
        package_data={'mmx3d': ['.mim/**/*', 'datasets/label_maps/*.txt']},
        # torch: the tested minor release, CPU or CUDA build (runtime.txt
        # pins the exact CPU wheel the install step uses)
        install_requires=[
            r for r in parse_requirements('runtime.txt')
            if not r.startswith('torch')
        ] + ['torch>=2.13,<2.14'] + parse_requirements('mminstall.txt'),
        extras_require={
            'tests': parse_requirements('tests.txt'),
            'docs': parse_requirements('docs.txt'),
            'deploy': parse_requirements('deploy.txt'),
        },
        zip_safe=False)
