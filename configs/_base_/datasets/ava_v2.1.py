# AVA v2.1 annotation files (same frames and proposals as v2.2). Names are
# `ava21_*` so that this base can sit next to an AVA v2.2 config in
# `_base_`; `ava21_annotations` switches that config to them, in place:
#   _base_ = ['./x3d_s_ava.py', '../_base_/datasets/ava_v2.1.py']
#   _base_.pop('ava21_annotations')(_base_)
ava21_anno_root = 'data/ava/annotations'
ava21_files_train = dict(
    ann_file=f'{ava21_anno_root}/ava_train_v2.1.csv',
    exclude_file=f'{ava21_anno_root}/ava_train_excluded_timestamps_v2.1.csv',
    label_file=f'{ava21_anno_root}/ava_action_list_v2.1.pbtxt')
ava21_files_val = dict(
    ann_file=f'{ava21_anno_root}/ava_val_v2.1.csv',
    exclude_file=f'{ava21_anno_root}/ava_val_excluded_timestamps_v2.1.csv',
    label_file=f'{ava21_anno_root}/ava_action_list_v2.1.pbtxt')
ava21_val_evaluator = dict(
    ann_file=ava21_files_val['ann_file'],
    exclude_file=ava21_files_val['exclude_file'],
    # the 60 classes of the ActivityNet 2018 protocol
    label_file=(f'{ava21_anno_root}/'
                'ava_action_list_v2.1_for_activitynet_2018.pbtxt'))


def use_ava21(cfg):
    """Read the v2.1 annotation files in the AVA v2.2 config ``cfg``."""
    cfg.train_dataloader.dataset.update(cfg.ava21_files_train)
    for split in ('val', 'test'):
        cfg[f'{split}_dataloader'].dataset.update(cfg.ava21_files_val)
    cfg.val_evaluator.update(cfg.ava21_val_evaluator)
    cfg.test_evaluator = cfg.val_evaluator


# a function's bound `__call__`: MMEngine drops the functions of a config
ava21_annotations = use_ava21.__call__
