# X3D-XS on Kinetics-600: the Kinetics-400 recipe with 600 classes and 2x the epochs.
_base_ = ['./x3d_xs_kinetics400.py', '../_base_/datasets/kinetics600_video.py']
_base_.pop('kinetics600')(_base_)
