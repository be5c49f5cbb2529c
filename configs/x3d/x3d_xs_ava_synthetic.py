# X3D-XS detector on the built-in synthetic AVA-format dataset (actors doing
# 1-2 of 4 animated actions; see mmx3d/datasets/ava_synthetic.py). Inherits
# the X3D-S AVA config (XS is the same network with smaller clips) and
# changes the data, the clip, res5 (dilated: stride 16 on 96x72 frames) and
# the schedule; trained from scratch, it reaches frame-mAP@0.5 >= 0.8 on the
# held-out videos in a few CPU minutes:
#   python tools/data/ava/generate_synthetic.py data/ava_synthetic
#   python tools/train.py configs/x3d/x3d_xs_ava_synthetic.py
_base_ = ['./x3d_s_ava.py']

data_root = 'data/ava_synthetic'
anno_root = f'{data_root}/annotations'
clip_len, frame_interval = 4, 4

model = dict(
    backbone=dict(arch='xs', res5_dilation=2, init_cfg=None),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_stride=16),
        # 5 actions + the background slot
        bbox_head=dict(num_classes=6, topk=(1, 3), dropout_ratio=0.2)))

train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len,
         frame_interval=frame_interval),
    dict(type='RawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len,
         frame_interval=frame_interval, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
synthetic = dict(
    data_prefix=dict(img=f'{data_root}/rawframes'),
    label_file=f'{anno_root}/ava_action_list_v2.2.pbtxt',
    num_classes=6)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        **synthetic,
        ann_file=f'{anno_root}/ava_train_v2.2.csv',
        exclude_file=f'{anno_root}/ava_train_excluded_timestamps_v2.2.csv',
        proposal_file=f'{anno_root}/ava_dense_proposals_train.synthetic.pkl',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        **synthetic,
        ann_file=f'{anno_root}/ava_val_v2.2.csv',
        exclude_file=f'{anno_root}/ava_val_excluded_timestamps_v2.2.csv',
        proposal_file=f'{anno_root}/ava_dense_proposals_val.synthetic.pkl',
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=f'{anno_root}/ava_val_v2.2.csv',
    exclude_file=f'{anno_root}/ava_val_excluded_timestamps_v2.2.csv',
    # the 4 evaluated actions (as AVA evaluates 60 of its 80)
    label_file=f'{anno_root}/ava_action_list_v2.2_for_activitynet_2019.pbtxt',
    num_classes=6)
test_evaluator = val_evaluator

max_iters, warmup_iters = 120, 15
train_cfg = dict(max_iters=max_iters, val_interval=40)
optim_wrapper = dict(optimizer=dict(lr=0.2, weight_decay=1e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min=0,
         by_epoch=False, begin=0, end=max_iters),
]
# lr 0.2 is for the batch of 8 above
auto_scale_lr = dict(enable=True, base_batch_size=8)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=40, max_keep_ckpts=1))
randomness = dict(seed=0)
