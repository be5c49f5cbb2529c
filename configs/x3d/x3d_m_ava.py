# X3D-M on AVA v2.2: as X3D-S (configs/x3d/x3d_s_ava.py) with X3D-M's
# Kinetics clips: 16 frames x stride 5, 224 train crop (short side in
# [256, 320]), full frames at short side 224 for testing. Published:
# 23.2 mAP (X3D paper, AVA v2.2).
_base_ = ['./x3d_m_kinetics400.py', '../_base_/models/x3d_ava.py',
          '../_base_/datasets/ava_v2.2.py']

# any X3D format: mmx3d, PySlowFast (x3d_m.pyth), PyTorchVideo, MMAction2
_base_.pop('ava_detector')(
    _base_, kinetics_checkpoint='checkpoints/x3d_m_kinetics400.pth')
