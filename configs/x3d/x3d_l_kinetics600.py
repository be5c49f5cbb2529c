# X3D-L on Kinetics-600: the Kinetics-400 recipe with 600 classes and 2x the epochs.
_base_ = ['./x3d_l_kinetics400.py']

max_epochs = 512
warmup_epochs = 68
model = dict(cls_head=dict(num_classes=600))
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_dataloader = dict(dataset=dict(
    ann_file='data/kinetics600/kinetics600_train_list_videos.txt',
    data_prefix=dict(video='data/kinetics600/videos_train')))
val_dataloader = dict(dataset=dict(
    ann_file='data/kinetics600/kinetics600_val_list_videos.txt',
    data_prefix=dict(video='data/kinetics600/videos_val')))
test_dataloader = val_dataloader
