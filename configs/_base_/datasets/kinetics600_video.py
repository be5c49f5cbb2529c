# Kinetics-600 from video files, in the layout of Kinetics-400
# (kinetics400_video.py). It sits next to a Kinetics-400 variant config in
# `_base_` and turns it into the Kinetics-600 recipe: 600 classes, the
# other list files, twice the epochs (512, warm-up 68):
#   _base_ = ['./x3d_s_kinetics400.py', '../_base_/datasets/kinetics600_video.py']
#   _base_.pop('kinetics600')(_base_)
# (MMEngine forbids a key in two bases, so this file defines no other.)


def use_kinetics600(cfg):
    """Turn the Kinetics-400 config ``cfg`` into Kinetics-600, in place."""
    root = 'data/kinetics600'
    cfg.max_epochs, cfg.warmup_epochs = 512, 68
    cfg.model.cls_head.num_classes = 600
    cfg.train_cfg.max_epochs = cfg.max_epochs
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0,
             end=cfg.warmup_epochs, convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', T_max=cfg.max_epochs, eta_min=0,
             by_epoch=True, begin=0, end=cfg.max_epochs,
             convert_to_iter_based=True),
    ]
    cfg.train_dataloader.dataset.update(
        ann_file=f'{root}/kinetics600_train_list_videos.txt',
        data_prefix=dict(video=f'{root}/videos_train'))
    for split in ('val', 'test'):
        cfg[f'{split}_dataloader'].dataset.update(
            ann_file=f'{root}/kinetics600_val_list_videos.txt',
            data_prefix=dict(video=f'{root}/videos_val'))


# a function's bound `__call__`: MMEngine drops the functions of a config
kinetics600 = use_kinetics600.__call__
