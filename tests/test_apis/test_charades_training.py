# Copyright (c) mmx3d contributors. All rights reserved.
"""End to end: the mini Charades config trains to a high held-out mAP
through the stock Runner, tested on 3 clips x 3 crops max-pooled."""
import os.path as osp
import time

import pytest
import torch

from mmx3d.apis.runner import build_runner, load_config
from mmx3d.datasets.charades_synthetic import generate_synthetic_charades
from mmx3d.models.heads import X3DMultiLabelHead


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.slow
def test_mini_charades_train_and_test(repo_root, tmp_path, monkeypatch,
                                      one_thread):
    root = str(tmp_path / 'data')
    generate_synthetic_charades(root)  # 96 train / 32 test videos
    cfg = load_config(
        osp.join(repo_root, 'configs/x3d/x3d_xs_charades_synthetic.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.num_workers, loader.persistent_workers = 0, False
        ds = loader.dataset
        for field in ('ann_file', 'label_file'):
            ds[field] = ds[field].replace('data/charades_synthetic', root)
        ds.data_prefix.video = ds.data_prefix.video.replace(
            'data/charades_synthetic', root)
    cfg.default_hooks.checkpoint.save_best = None
    cfg.randomness = dict(seed=0)

    pooled = []
    average_clip = X3DMultiLabelHead.average_clip

    def spy(self, cls_scores, num_segs=1):
        pooled.append((self.average_clips, num_segs))
        return average_clip(self, cls_scores, num_segs)

    monkeypatch.setattr(X3DMultiLabelHead, 'average_clip', spy)

    work_dir = str(tmp_path / 'work')
    runner = build_runner(cfg, work_dir=work_dir)
    start = time.time()
    runner.train()
    pooled.clear()
    metrics = runner.test()
    print(f'mini Charades: test {metrics} after {time.time() - start:.0f} s')

    assert metrics['charades/num_classes_evaluated'] == 6
    assert metrics['charades/mAP'] >= 0.8
    # every test video: 3 clips x 3 crops, max-pooled sigmoid scores
    assert pooled and set(pooled) == {('max', 9)}
    per_class = osp.join(runner.log_dir, 'charades_per_class_ap.csv')
    assert osp.isfile(per_class) and per_class.startswith(work_dir)
