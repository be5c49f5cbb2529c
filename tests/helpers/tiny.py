# Copyright (c) mmx3d contributors. All rights reserved.
"""Tiny runnable configs derived from the shipped ones."""
import os.path as osp

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def tiny_synthetic_cfg(data_root: str, work_dir: str, max_epochs: int = 2,
                       batch_size: int = 4) -> Config:
    """``x3d_xs_synthetic.py`` shrunk to a few seconds of CPU work."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs/x3d/x3d_xs_synthetic.py'))
    cfg.work_dir = work_dir
    cfg.model.backbone.update(gamma_d=1.0, stage_blocks=(1, 1, 1, 1))
    for split in ('train', 'val', 'test'):
        dl = cfg[f'{split}_dataloader']
        dl.num_workers = 0
        dl.persistent_workers = False
        ds = dl.dataset
        ds.ann_file = osp.join(
            data_root,
            ('train' if split == 'train' else 'val') + '_list_videos.txt')
        ds.data_prefix = dict(video=osp.join(data_root, 'videos'))
        for step in ds.pipeline:
            if step['type'] in ('RandomCrop', ):
                step['size'] = 32
            elif step['type'] == 'CenterCrop':
                step['crop_size'] = 32
            elif step['type'] == 'ThreeCrop':
                step['crop_size'] = 36
            elif step['type'] == 'RandomRescale':
                step['scale_range'] = (36, 40)
            elif step['type'] == 'Resize':
                step['scale'] = (-1, 36)
    cfg.train_dataloader.batch_size = batch_size
    cfg.val_dataloader.batch_size = batch_size
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = max_epochs
    cfg.param_scheduler[0].end = 1
    cfg.param_scheduler[1].T_max = max_epochs
    cfg.param_scheduler[1].end = max_epochs
    cfg.custom_hooks = [dict(type='PreciseBNHook', num_batches=2)]
    cfg.default_hooks.logger.interval = 1
    cfg.log_processor = dict(type='LogProcessor', window_size=1,
                             by_epoch=True)
    return cfg
