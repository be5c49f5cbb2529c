# X3D-L on Kinetics-400: 16 frames x stride 5, train crop 312
# (short side jittered in [356, 446]), test crop 356 (3-crop).
# 18.37 GFLOPs per 16x312x312 clip. Published top-1 (10-/30-view): 76.9 / 77.5.
_base_ = [
    '../_base_/models/x3d.py', '../_base_/datasets/kinetics400_video.py',
    '../_base_/schedules/sgd_cosine_256e.py', '../_base_/default_runtime.py'
]

clip_len, frame_interval = 16, 5
train_crop, test_crop = 312, 356
scale_range = (356, 446)

model = dict(backbone=dict(arch='l'))

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
         frame_interval=frame_interval, num_clips=10, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, test_crop)),
    dict(type='ThreeCrop', crop_size=test_crop),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
