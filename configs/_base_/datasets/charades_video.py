# Charades from the official videos (Charades_v1_480/<id>.mp4), decoded with
# decord, annotated by the official CSV files (157 classes, multi-label).
# Training targets are the classes whose intervals overlap the sampled clip
# (ClipLabelFromIntervals, right after SampleFrames); validation/test targets
# are all the classes of the video. It inherits the Kinetics video base for
# its loaders and `x3d_clip`; the pipelines here are X3D-S's for Charades
# (13 frames x stride 12: twice the Kinetics stride), and a variant config
# sets its own clip and crops with `x3d_clip`. Clips are sampled as
# PySlowFast's Charades loader samples them: stride frame_interval at the
# native frame rate (not Kinetics' 30 fps resampling), test clips evenly
# spaced, indices clamped in videos shorter than a clip (repeat_last).
_base_ = ['./kinetics400_video.py']

dataset_type = 'CharadesDataset'
data_root = 'data/charades/Charades_v1_480'
ann_file_train = 'data/charades/annotations/Charades_v1_train.csv'
ann_file_val = 'data/charades/annotations/Charades_v1_test.csv'
ann_file_test = 'data/charades/annotations/Charades_v1_test.csv'
label_file = 'data/charades/annotations/Charades_v1_classes.txt'
clip_len, frame_interval = 13, 12

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=1,
         out_of_bound_opt='repeat_last'),
    dict(type='ClipLabelFromIntervals'),
    dict(type='DecordDecode'),
    dict(type='RandomRescale', scale_range=(182, 228)),
    dict(type='RandomCrop', size=160),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# 3 clips x centre crop, max-pooled: a cheap video-level view for tracking
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=3, test_mode=True,
         out_of_bound_opt='repeat_last'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 182)),
    dict(type='CenterCrop', crop_size=160),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# 10 uniformly spaced clips x 3 crops, sigmoid scores max-pooled by the head
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=10, test_mode=True,
         out_of_bound_opt='repeat_last'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 182)),
    dict(type='ThreeCrop', crop_size=182),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

charades_data = dict(
    type=dataset_type,
    num_classes=157,
    label_file=label_file,
    data_prefix=dict(video=data_root))
# 16 clips in all: 2 per GPU on an 8-GPU machine, BN synchronised over them
# (sync_bn; a single-process run keeps plain BN, use batch_size=16 there)
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        ann_file=ann_file_train, pipeline=train_pipeline, **charades_data))
val_dataloader = dict(
    batch_size=8,
    dataset=dict(
        ann_file=ann_file_val, pipeline=val_pipeline, **charades_data))
test_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_test, pipeline=test_pipeline, **charades_data))
sync_bn = 'torch'

# mAP over the classes with a positive; per-class AP in the run's directory
val_evaluator = dict(type='CharadesMAP')
test_evaluator = val_evaluator
