# X3D-XL on Kinetics-400: 16 frames x stride 5, train crop 312
# (short side jittered in [356, 446]), test crop 356 (3-crop).
# 35.84 GFLOPs per 16x312x312 clip. Published top-1 (10-/30-view): 79.1 (paper, 30-view).
_base_ = ['../_base_/models/x3d.py', '../_base_/datasets/kinetics400_video.py',
          '../_base_/schedules/sgd_cosine_256e.py', '../_base_/default_runtime.py']

# res5 of X3D-XL has 280 channels (630 in the head's 1x1x1 conv)
model = dict(
    backbone=dict(arch='xl'),
    cls_head=dict(in_channels=280, mid_channels=630))
_base_.pop('x3d_clip')(_base_, clip_len=16, frame_interval=5,
                       train_crop=312, test_crop=356, scale_range=(356, 446))
train_dataloader = dict(batch_size=8)
