# X3D-S on Kinetics-400 from extracted frames (img_00001.jpg, ...; see
# configs/_base_/datasets/kinetics400_rawframes.py): x3d_s_kinetics400.py
# with RawFrameDecode instead of decord.
_base_ = ['../_base_/models/x3d.py', '../_base_/datasets/kinetics400_rawframes.py',
          '../_base_/schedules/sgd_cosine_256e.py', '../_base_/default_runtime.py']

model = dict(backbone=dict(arch='s'))
_base_.pop('x3d_clip')(_base_, clip_len=13, frame_interval=6,
                       train_crop=160, test_crop=182, scale_range=(182, 228))
