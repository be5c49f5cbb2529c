# Tutorial (docs/config.md): X3D-S on your own video dataset, by inheriting
# the Kinetics-400 recipe and stating only what differs.
#
#   data/my_dataset/videos/...             your videos (any decord format)
#   data/my_dataset/train_list.txt         "relative/path.mp4 <label>" lines
#   data/my_dataset/val_list.txt
#
#   python tools/train.py configs/x3d/x3d_s_custom_dataset.py
_base_ = ['./x3d_s_kinetics400.py']

data_root = 'data/my_dataset'
num_classes = 10

# 1. the classifier size
model = dict(cls_head=dict(num_classes=num_classes))

# 2. where the videos and list files are (pipelines are inherited)
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        ann_file=f'{data_root}/train_list.txt',
        data_prefix=dict(video=f'{data_root}/videos'),
        num_classes=num_classes))
val_dataloader = dict(
    dataset=dict(
        ann_file=f'{data_root}/val_list.txt',
        data_prefix=dict(video=f'{data_root}/videos'),
        num_classes=num_classes))
test_dataloader = val_dataloader

# 3. a shorter schedule that starts from a Kinetics-400 checkpoint (any
#    format mmx3d converts: PySlowFast, PyTorchVideo, MMAction2, mmx3d)
load_from = None  # e.g. 'checkpoints/x3d_s.pyth'
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
custom_hooks = [dict(type='PreciseBNHook', num_batches=50)]
