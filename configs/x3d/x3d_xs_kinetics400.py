# X3D-XS on Kinetics-400: 4 frames x stride 12, train crop 160
# (short side jittered in [182, 228]), test crop 182 (3-crop).
# 0.60 GFLOPs per 4x160x160 clip. Published top-1 (10-/30-view): 68.7 / 69.5.
_base_ = ['../_base_/models/x3d.py', '../_base_/datasets/kinetics400_video.py',
          '../_base_/schedules/sgd_cosine_256e.py', '../_base_/default_runtime.py']

model = dict(backbone=dict(arch='xs'))
_base_.pop('x3d_clip')(_base_, clip_len=4, frame_interval=12,
                       train_crop=160, test_crop=182, scale_range=(182, 228))
