# X3D-XS on the built-in Charades-format mini dataset: 6 classes (coloured
# shapes with their own motion), 0-3 overlapping actions per 3 s video, the
# official CSV format. Inherits the Kinetics XS recipe and changes the head
# (multi-label, max-pooled sigmoids), the data and a short schedule, so that
# it trains on one CPU core in about two minutes (held-out mAP ~0.98).
#   python tools/data/charades/generate_synthetic.py data/charades_synthetic
#   python tools/train.py configs/x3d/x3d_xs_charades_synthetic.py
#   python tools/test.py configs/x3d/x3d_xs_charades_synthetic.py CKPT
_base_ = ['./x3d_xs_kinetics400.py']

data_root = 'data/charades_synthetic'
num_classes = 6
# 8 fps videos of 32 x 64 pixels: 4-frame clips spanning 0.75 s, trained on
# the whole frame; tested on 3 clips x 3 square crops (left/centre/right),
# where a shape is often in one crop only, so the views are max-pooled.
clip_len, frame_interval = 4, 2
test_crop = 32

model = dict(
    cls_head=dict(
        type='X3DMultiLabelHead',
        num_classes=num_classes,
        loss_cls=dict(type='BCELossWithLogits'),
        average_clips='max',
        dropout_ratio=0.0))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=1),
    dict(type='ClipLabelFromIntervals'),
    dict(type='DecordDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=3, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='ThreeCrop', crop_size=test_crop),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

dataset_type = 'CharadesDataset'
charades_data = dict(
    type=dataset_type,
    num_classes=num_classes,
    data_prefix=dict(video=f'{data_root}/Charades_v1_480'),
    label_file=f'{data_root}/Charades_v1_classes.txt')
train_dataloader = dict(
    batch_size=8, num_workers=1,
    dataset=dict(ann_file=f'{data_root}/Charades_v1_train.csv',
                 pipeline=train_pipeline, **charades_data))
val_dataloader = dict(
    batch_size=8, num_workers=1,
    dataset=dict(ann_file=f'{data_root}/Charades_v1_test.csv',
                 pipeline=val_pipeline, **charades_data))
test_dataloader = dict(
    batch_size=4, num_workers=1,
    dataset=dict(ann_file=f'{data_root}/Charades_v1_test.csv',
                 pipeline=test_pipeline, **charades_data))
val_evaluator = dict(type='CharadesMAP')
test_evaluator = val_evaluator

# schedule: 150 iterations of 8 clips (12 passes over 96 videos)
max_iters = 150
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
    val_interval=75)
optim_wrapper = dict(
    optimizer=dict(lr=0.1, momentum=0.9, weight_decay=1e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=10),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[120], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
custom_hooks = [dict(type='PreciseBNHook', num_batches=10)]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)
