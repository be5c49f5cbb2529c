# X3D-M on AVA v2.1: x3d_m_ava.py with the v2.1 annotation files.
_base_ = ['./x3d_m_ava.py', '../_base_/datasets/ava_v2.1.py']
_base_.pop('ava21_annotations')(_base_)
