# X3D-L on Kinetics-400: 16 frames x stride 5, train crop 312
# (short side jittered in [356, 446]), test crop 356 (3-crop).
# 18.37 GFLOPs per 16x312x312 clip. Published top-1 (10-/30-view): 76.9 / 77.5.
_base_ = ['../_base_/models/x3d.py', '../_base_/datasets/kinetics400_video.py',
          '../_base_/schedules/sgd_cosine_256e.py', '../_base_/default_runtime.py']

model = dict(backbone=dict(arch='l'))
_base_.pop('x3d_clip')(_base_, clip_len=16, frame_interval=5,
                       train_crop=312, test_crop=356, scale_range=(356, 446))
train_dataloader = dict(batch_size=8)
