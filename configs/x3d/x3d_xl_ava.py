# X3D-XL on AVA v2.2: as X3D-S (configs/x3d/x3d_s_ava.py) with X3D-XL's
# backbone (res5 280 channels) and Kinetics clips: 16 frames x stride 5,
# 312 train crop (short side in [356, 446]), full frames at short side
# 312 for testing.
_base_ = ['./x3d_xl_kinetics400.py', '../_base_/models/x3d_ava.py',
          '../_base_/datasets/ava_v2.2.py']

# any X3D format: mmx3d, PySlowFast (x3d_xl.pyth), PyTorchVideo, MMAction2
_base_.pop('ava_detector')(
    _base_, kinetics_checkpoint='checkpoints/x3d_xl_kinetics400.pth')
# res5 of X3D-XL has 280 channels
model = dict(roi_head=dict(bbox_head=dict(in_channels=280)))
