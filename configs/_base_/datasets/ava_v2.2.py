# AVA v2.2 (rawframes at 30 fps, key frames 902..1798), for X3D detectors.
# It defines `ava_*` names, not `train_dataloader` & co., so that it can sit
# next to a Kinetics config in `_base_`; an AVA leaf wires them into its
# dataloaders with its own pipelines (which depend on the clip and crop):
#   train_dataloader = dict(dataset=dict(_delete_=True,
#       **_base_.ava_train_dataset, pipeline=train_pipeline))
# Layout (see docs/ava.md):
#   data/ava/rawframes/<video_id>/img_00001.jpg ...   (first frame at 15:00)
#   data/ava/annotations/ava_{train,val}_v2.2.csv, ...
ava_data_root = 'data/ava/rawframes'
ava_anno_root = 'data/ava/annotations'

ava_files_train = dict(
    ann_file=f'{ava_anno_root}/ava_train_v2.2.csv',
    exclude_file=f'{ava_anno_root}/ava_train_excluded_timestamps_v2.2.csv',
    label_file=f'{ava_anno_root}/ava_action_list_v2.2.pbtxt',
    proposal_file=(f'{ava_anno_root}/ava_dense_proposals_train.FAIR.'
                   'recall_93.9.pkl'))
ava_files_val = dict(
    ann_file=f'{ava_anno_root}/ava_val_v2.2.csv',
    exclude_file=f'{ava_anno_root}/ava_val_excluded_timestamps_v2.2.csv',
    label_file=f'{ava_anno_root}/ava_action_list_v2.2.pbtxt',
    proposal_file=(f'{ava_anno_root}/ava_dense_proposals_val.FAIR.'
                   'recall_93.9.pkl'))
# the official protocol evaluates the 60 classes of this label map
ava_label_file_eval = (f'{ava_anno_root}/'
                       'ava_action_list_v2.2_for_activitynet_2019.pbtxt')

ava_train_dataset = dict(
    type='RobustAVADataset',
    **ava_files_train,
    data_prefix=dict(img=ava_data_root),
    person_det_score_thr=0.8,  # proposals kept: score >= 0.8
    num_classes=81)
ava_val_dataset = dict(
    type='RobustAVADataset',
    **ava_files_val,
    data_prefix=dict(img=ava_data_root),
    person_det_score_thr=0.8,
    num_classes=81,
    test_mode=True)
ava_val_evaluator = dict(
    type='AVAFrameMAP',
    ann_file=ava_files_val['ann_file'],
    exclude_file=ava_files_val['exclude_file'],
    label_file=ava_label_file_eval,
    num_classes=81)

# 14k iterations, linear warm-up over the first 1k, x0.1 steps, weight decay
# 1e-7; the rest (SGD, Nesterov momentum 0.9, lr 1.6 for a batch of 1024,
# no decay on BN) as for Kinetics.
ava_max_iters = 14000
ava_train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=ava_max_iters,
    val_interval=2000)
ava_param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=1000),
    # the paper decays "when validation error saturates"; these are the
    # points where it did for the published run length
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=ava_max_iters,
         milestones=[10000, 12000], gamma=0.1),
]
