# X3D-XL on AVA v2.1: x3d_xl_ava.py with the v2.1 annotation files.
_base_ = ['./x3d_xl_ava.py', '../_base_/datasets/ava_v2.1.py']

train_dataloader = dict(dataset=_base_.ava21_files_train)
val_dataloader = dict(dataset=_base_.ava21_files_val)
test_dataloader = val_dataloader
val_evaluator = _base_.ava21_val_evaluator
test_evaluator = val_evaluator
