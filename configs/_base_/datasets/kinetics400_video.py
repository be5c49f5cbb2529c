# Kinetics-400 from video files, decoded with decord. List files have one
# `relative/path.mp4 label` per line. The pipelines are written once, here,
# with X3D-S's clip and crops; a variant config sets its own with
# `x3d_clip` (end of this file), which rewrites them in place.
dataset_type = 'VideoDataset'
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
ann_file_test = 'data/kinetics400/kinetics400_val_list_videos.txt'

# X3D-S: 13 frames x stride 6, train crop 160 out of a short side jittered in
# [182, 228], test crop 182 (3-crop of the short side resized to 182).
# Clips are sampled as PySlowFast samples them (the published weights were
# trained and tested so): the video is treated as resampled to 30 fps, so a
# clip spans clip_len x frame_interval frames at 30 fps (PySlowFastSampleFrames).
# Test views are downscaled with area averaging (PySlowFast's decoder scales
# with an area filter; cv2's INTER_AREA is close, not identical).
clip_len, frame_interval = 13, 6
train_crop, test_crop = 160, 182
scale_range = (182, 228)

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='PySlowFastSampleFrames', clip_len=clip_len,
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
    dict(type='PySlowFastSampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, test_crop), interpolation='area'),
    dict(type='CenterCrop', crop_size=train_crop),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# 10 clips x 3 crops (left/centre/right) at the test crop; the head scores
# the 182 crop fully convolutionally with the 160 crop's pooling kernel
# (X3DClsHead.train_crop_size, set by `x3d_clip`)
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='PySlowFastSampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=10, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, test_crop), interpolation='area'),
    dict(type='ThreeCrop', crop_size=test_crop),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='RobustVideoDataset',
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='RobustVideoDataset',
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='RobustVideoDataset',
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator


def set_clip(cfg, *, clip_len, frame_interval, train_crop, test_crop,
             scale_range, test_clips=None):
    """Give the pipelines of ``cfg`` another clip and crops, in place.

    Rewrites the top-level ``clip_len``, ``frame_interval``, ``train_crop``,
    ``test_crop`` and ``scale_range``, and every transform below that takes
    one of them, in ``{train,val,test}_pipeline`` and in the dataloaders'
    pipelines (the two are separate copies once MMEngine has merged a
    config). ``test_clips`` changes the number of test clips too. It is
    written for the pipelines of this file and of the files that inherit it
    (rawframes, Charades): this table is the one place that says which
    transform argument is which setting. An ``X3DClsHead`` learns the
    training crop (``train_crop_size``), for fully convolutional testing.
    """
    cfg.update(
        clip_len=clip_len, frame_interval=frame_interval,
        train_crop=train_crop, test_crop=test_crop, scale_range=scale_range)
    head = cfg.get('model', {}).get('cls_head', {})
    if head.get('type') == 'X3DClsHead':
        head['train_crop_size'] = train_crop
    sample = dict(clip_len=clip_len, frame_interval=frame_interval)
    args = dict(
        SampleFrames=sample,
        PySlowFastSampleFrames=sample,
        RandomRescale=dict(scale_range=scale_range),
        RandomCrop=dict(size=train_crop),
        CenterCrop=dict(crop_size=train_crop),
        Resize=dict(scale=(-1, test_crop)),
        ThreeCrop=dict(crop_size=test_crop))
    for split in ('train', 'val', 'test'):
        for pipeline in (cfg[f'{split}_pipeline'],
                         cfg[f'{split}_dataloader']['dataset']['pipeline']):
            for step in pipeline:
                step.update(args.get(step['type'], {}))
                if split == 'test' and test_clips and 'num_clips' in step:
                    step['num_clips'] = test_clips


# MMEngine drops the functions of a config, not their bound `__call__`. A
# variant config takes it out of its bases, so that only plain settings are
# left in the config it resolves to, and calls it:
#   _base_.pop('x3d_clip')(_base_, clip_len=4, frame_interval=12, ...)
x3d_clip = set_clip.__call__
