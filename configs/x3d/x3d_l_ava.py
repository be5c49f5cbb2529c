# X3D-L on AVA v2.2: as X3D-S (configs/x3d/x3d_s_ava.py) with X3D-L's
# backbone and Kinetics clips: 16 frames x stride 5, 312 train crop
# (short side in [356, 446]), full frames at short side 312 for testing.
_base_ = [
    './x3d_l_kinetics400.py', '../_base_/models/x3d_ava.py',
    '../_base_/datasets/ava_v2.2.py'
]

# any X3D format: mmx3d, PySlowFast (x3d_l.pyth), PyTorchVideo, MMAction2
kinetics_checkpoint = 'checkpoints/x3d_l_kinetics400.pth'

model = dict(
    _delete_=True,
    **_base_.ava_model,
    backbone=dict(
        **_base_.model.backbone,
        init_cfg=dict(
            type='Pretrained', checkpoint=kinetics_checkpoint,
            prefix='backbone.')),
    data_preprocessor=_base_.model.data_preprocessor)

clip_len, frame_interval = _base_.clip_len, _base_.frame_interval
train_crop, scale_range = _base_.train_crop, _base_.scale_range
train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len,
         frame_interval=frame_interval),
    dict(type='RawFrameDecode'),
    dict(type='RandomRescale', scale_range=scale_range),
    dict(type='RandomCrop', size=train_crop),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len,
         frame_interval=frame_interval, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, train_crop)),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        _delete_=True, **_base_.ava_train_dataset, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,  # AVA videos differ in frame size
    dataset=dict(
        _delete_=True, **_base_.ava_val_dataset, pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, **_base_.ava_val_evaluator)
test_evaluator = val_evaluator

train_cfg = _base_.ava_train_cfg
param_scheduler = _base_.ava_param_scheduler
optim_wrapper = dict(optimizer=dict(weight_decay=1e-7))
# lr 1.6 is for a total batch of 1024 (128 GPUs x 8), scaled at start
auto_scale_lr = dict(enable=True, base_batch_size=1024)
custom_hooks = []  # no precise BN: BN statistics follow the fine-tuning
default_hooks = dict(
    checkpoint=dict(interval=2000, by_epoch=False, save_best='auto'))
log_processor = dict(by_epoch=False)
