# Ablation of x3d_xs_synthetic.py: frames are shuffled inside every clip
# (train, val and test), so the direction of motion is destroyed. Trained or
# tested this way, accuracy falls towards chance (25%): the task needs time.
_base_ = ['./x3d_xs_synthetic.py']

clip_len, frame_interval = 4, 3
train_crop, test_crop = 64, 72
scale_range = (72, 84)

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=1),
    dict(type='ShuffleFrames'),
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
    dict(type='ShuffleFrames'),
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
    dict(type='ShuffleFrames'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, test_crop)),
    dict(type='ThreeCrop', crop_size=test_crop),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
