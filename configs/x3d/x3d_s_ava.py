# X3D-S on AVA v2.2: Fast R-CNN with pre-computed person proposals, res5 at
# stride 32, initialised from the X3D-S Kinetics-400 model. 13 frames x
# stride 6 around the key frame, 160 train crop (short side in [182, 228]),
# full frames at short side 160 for testing.
_base_ = ['./x3d_s_kinetics400.py', '../_base_/models/x3d_ava.py',
          '../_base_/datasets/ava_v2.2.py']

# any X3D format: mmx3d, PySlowFast (x3d_s.pyth), PyTorchVideo, MMAction2
_base_.pop('ava_detector')(
    _base_, kinetics_checkpoint='checkpoints/x3d_s_kinetics400.pth')
