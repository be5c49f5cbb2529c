# X3D-S on Kinetics-400: 13 frames x stride 6, train crop 160
# (short side jittered in [182, 228]), test crop 182 (3-crop).
# 1.96 GFLOPs per 13x160x160 clip. Published top-1 (10-/30-view): 73.1 / 73.5.
_base_ = ['../_base_/models/x3d.py', '../_base_/datasets/kinetics400_video.py',
          '../_base_/schedules/sgd_cosine_256e.py', '../_base_/default_runtime.py']

model = dict(backbone=dict(arch='s'))
_base_.pop('x3d_clip')(_base_, clip_len=13, frame_interval=6,
                       train_crop=160, test_crop=182, scale_range=(182, 228))
