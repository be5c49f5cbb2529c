# X3D-XS on the built-in synthetic dataset (4 classes: how the brightness of
# drifting shapes evolves over time; neither a single frame nor the frames in
# shuffled order can tell them apart). The Kinetics X3D-XS recipe with
# small clips and crops, the data and a short schedule, so that `make demo`
# trains it with 2 CPU processes in minutes.
#   python tools/data/synthetic/generate.py data/synthetic
#   tools/dist_train.sh configs/x3d/x3d_xs_synthetic.py 2
_base_ = ['../_base_/models/x3d.py', '../_base_/datasets/kinetics400_video.py',
          '../_base_/schedules/sgd_cosine_256e.py', '../_base_/default_runtime.py']

data_root = 'data/synthetic'
model = dict(backbone=dict(arch='xs'), cls_head=dict(num_classes=4))
# 4 frames x stride 3 of 96x72 videos; 3 test clips x 3 crops
_base_.pop('x3d_clip')(_base_, clip_len=4, frame_interval=3, train_crop=64,
                       test_crop=72, scale_range=(72, 84), test_clips=3)

videos = dict(data_prefix=dict(video=f'{data_root}/videos'), num_classes=4)
train_dataloader = dict(
    batch_size=8, num_workers=1,
    dataset=dict(ann_file=f'{data_root}/train_list_videos.txt', **videos))
val_dataloader = dict(
    batch_size=8, num_workers=1,
    dataset=dict(ann_file=f'{data_root}/val_list_videos.txt', **videos))
test_dataloader = dict(
    num_workers=1,
    dataset=dict(ann_file=f'{data_root}/val_list_videos.txt', **videos))

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
