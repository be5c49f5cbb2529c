# X3D-XS on the built-in synthetic dataset (4 classes: how the brightness of
# drifting shapes evolves over time; neither a single frame nor the frames in
# shuffled order can tell them apart). Inherits the
# Kinetics recipe and changes only the data and the schedule, so that
# `make demo` trains it with 2 CPU processes in minutes.
#   python tools/data/synthetic/generate.py data/synthetic
#   tools/dist_train.sh configs/x3d/x3d_xs_synthetic.py 2
_base_ = ['./x3d_xs_kinetics400.py']

data_root = 'data/synthetic'
clip_len, frame_interval = 4, 3
train_crop, test_crop = 64, 72
scale_range = (72, 84)

model = dict(cls_head=dict(num_classes=4))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='RandomRescale', scale_range=scale_range),
    dict(type='RandomCrop', size=train_crop),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, test_crop)),
    dict(type='CenterCrop', crop_size=train_crop),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=3, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, test_crop)),
    dict(type='ThreeCrop', crop_size=test_crop),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        ann_file=f'{data_root}/train_list_videos.txt',
        data_prefix=dict(video=f'{data_root}/videos'),
        num_classes=4,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        ann_file=f'{data_root}/val_list_videos.txt',
        data_prefix=dict(video=f'{data_root}/videos'),
        num_classes=4,
        pipeline=val_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        ann_file=f'{data_root}/val_list_videos.txt',
        data_prefix=dict(video=f'{data_root}/videos'),
        num_classes=4,
        pipeline=test_pipeline))

# schedule: 12 epochs of 400 clips, warm-up over the first
max_epochs, warmup_epochs = 12, 1
train_cfg = dict(max_epochs=max_epochs, val_begin=1, val_interval=2)
optim_wrapper = dict(optimizer=dict(lr=1.6))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
# lr 1.6 is for a total batch of 512 here (2 processes x 8 = 16 -> 0.05)
auto_scale_lr = dict(enable=True, base_batch_size=512)
custom_hooks = [dict(type='PreciseBNHook', num_batches=10)]
default_hooks = dict(logger=dict(interval=10))
