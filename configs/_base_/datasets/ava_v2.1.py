# AVA v2.1 annotation files (same frames and proposals as v2.2). Names are
# `ava21_*` so that this base can sit next to an AVA v2.2 leaf in `_base_`:
#   _base_ = ['./x3d_s_ava.py', '../_base_/datasets/ava_v2.1.py']
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
