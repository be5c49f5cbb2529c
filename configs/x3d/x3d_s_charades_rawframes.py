# X3D-S fine-tuned on Charades from the official extracted frames
# (Charades_v1_rgb, 24 fps; see configs/_base_/datasets/charades_rawframes.py):
# x3d_s_charades.py with RawFrameDecode instead of decord.
_base_ = ['../_base_/models/x3d_charades.py', '../_base_/datasets/charades_rawframes.py', '../_base_/schedules/sgd_multistep_24k.py']

model = dict(backbone=dict(arch='s'))
load_from = 'checkpoints/x3d_s_kinetics400.pth'
_base_.pop('x3d_clip')(_base_, clip_len=13, frame_interval=12,
                       train_crop=160, test_crop=182, scale_range=(182, 228))
