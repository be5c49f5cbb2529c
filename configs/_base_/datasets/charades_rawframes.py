# Charades from the official extracted frames (Charades_v1_rgb/<id>/
# <id>-000001.jpg ..., 24 fps), same CSV annotations. X3D-S pipelines.
_base_ = ['./charades_video.py']

dataset_type = 'CharadesRawframeDataset'
data_root = 'data/charades/Charades_v1_rgb'

train_pipeline = [
    dict(type='SampleFrames', clip_len=13, frame_interval=12, num_clips=1),
    dict(type='ClipLabelFromIntervals'),
    dict(type='RawFrameDecode'),
    dict(type='RandomRescale', scale_range=(182, 228)),
    dict(type='RandomCrop', size=160),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='SampleFrames', clip_len=13, frame_interval=12, num_clips=3,
         test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 182)),
    dict(type='CenterCrop', crop_size=160),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='SampleFrames', clip_len=13, frame_interval=12, num_clips=10,
         test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 182)),
    dict(type='ThreeCrop', crop_size=182),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
charades_frames = dict(
    type=dataset_type,
    data_prefix=dict(_delete_=True, img=data_root),
    fps=24)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline, **charades_frames))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline, **charades_frames))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline, **charades_frames))
