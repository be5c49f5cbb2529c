# X3D-M on Kinetics-400: 16 frames x stride 5, train crop 224
# (short side jittered in [256, 320]), test crop 256 (3-crop).
# 4.73 GFLOPs per 16x224x224 clip. Published top-1 (10-/30-view): 75.1 / 76.2.
_base_ = ['../_base_/models/x3d.py', '../_base_/datasets/kinetics400_video.py',
          '../_base_/schedules/sgd_cosine_256e.py', '../_base_/default_runtime.py']

model = dict(backbone=dict(arch='m'))
_base_.pop('x3d_clip')(_base_, clip_len=16, frame_interval=5,
                       train_crop=224, test_crop=256, scale_range=(256, 320))
