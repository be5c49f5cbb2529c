# X3D-S fine-tuned on Charades (paper, supp. A.2): initialised from the
# Kinetics-400 X3D-S, per-class sigmoids with binary cross-entropy, clips
# of 13 frames x stride 12 (twice the Kinetics stride, 13 x 6),
# 24k iterations of 16 clips on one machine, lr 0.02 divided by 10 twice,
# weight decay 1e-5. Test: 10 clips x 3 crops, sigmoid scores max-pooled
# over the 30 views; metric: mAP over the classes with a positive.
#   tools/dist_train.sh configs/x3d/x3d_s_charades.py 8 \
#       --cfg-options load_from=<Kinetics-400 X3D-S checkpoint>
_base_ = ['./x3d_s_kinetics400.py']

data_root = 'data/charades/Charades_v1_480'
ann_file_train = 'data/charades/annotations/Charades_v1_train.csv'
ann_file_test = 'data/charades/annotations/Charades_v1_test.csv'
label_file = 'data/charades/annotations/Charades_v1_classes.txt'

clip_len, frame_interval = 13, 12
train_crop, test_crop = 160, 182
scale_range = (182, 228)

# Every Kinetics weight but the 400-way classifier is loaded (the 157-way
# one is new and reported as mismatched). Placeholder path: convert or
# download the checkpoint there, or override load_from.
load_from = 'checkpoints/x3d_s_kinetics400.pth'

model = dict(
    cls_head=dict(
        type='X3DMultiLabelHead',
        num_classes=157,
        loss_cls=dict(type='BCELossWithLogits'),
        average_clips='max'))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len,
         frame_interval=frame_interval, num_clips=1),
    dict(type='ClipLabelFromIntervals'),
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
         frame_interval=frame_interval, num_clips=3, test_mode=True),
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

charades_data = dict(
    type='CharadesDataset',
    num_classes=157,
    label_file=label_file,
    data_prefix=dict(video=data_root))
# 16 clips in all: 2 per GPU on an 8-GPU machine, BN synchronised over them
# (sync_bn; a single-process run keeps plain BN, use batch_size=16 there).
# auto_scale_lr rescales lr 0.02 to any other total batch.
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        ann_file=ann_file_train, pipeline=train_pipeline, **charades_data))
val_dataloader = dict(
    batch_size=8,
    dataset=dict(
        ann_file=ann_file_test, pipeline=val_pipeline, **charades_data))
test_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_test, pipeline=test_pipeline, **charades_data))
val_evaluator = dict(_delete_=True, type='CharadesMAP')
test_evaluator = val_evaluator
sync_bn = 'torch'

# schedule: SGD (momentum 0.9, Nesterov, no decay on BN, as for Kinetics),
# lr 0.02 for 16 clips, x0.1 at 16k and 20k iterations (where validation
# mAP saturates), 24k iterations (~48 epochs of Charades' 7985 videos).
max_iters = 24000
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
    val_interval=2000)
optim_wrapper = dict(optimizer=dict(lr=0.02, weight_decay=1e-5))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[16000, 20000], gamma=0.1),
]
auto_scale_lr = dict(enable=True, base_batch_size=16)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2000))
log_processor = dict(by_epoch=False)
