# AVA v2.2 (rawframes at 30 fps, key frames 902..1798), for X3D detectors.
# It sits next to a Kinetics variant config and the detector model
# (models/x3d_ava.py) in `_base_`, and `ava_detector` (end of this file)
# turns the three into the AVA recipe, in place:
#   _base_ = ['./x3d_s_kinetics400.py', '../_base_/models/x3d_ava.py',
#             '../_base_/datasets/ava_v2.2.py']
#   _base_.pop('ava_detector')(_base_, kinetics_checkpoint='...')
# (MMEngine forbids a key in two bases, so the names here are `ava_*`.)
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


def use_ava(cfg, *, kinetics_checkpoint):
    """Turn a Kinetics variant config into its AVA detector, in place.

    ``cfg`` holds the Kinetics config and the AVA bases. The detector takes
    the variant's backbone, initialised from ``kinetics_checkpoint`` (any X3D
    format: mmx3d, PySlowFast, PyTorchVideo, MMAction2), its data
    preprocessor and its clip: ``clip_len`` frames x ``frame_interval``
    around the key frame, ``train_crop`` crops of a short side jittered in
    ``scale_range``, full frames at short side ``train_crop`` for testing.
    """
    cfg.kinetics_checkpoint = kinetics_checkpoint
    cfg.model = dict(
        **cfg.ava_model,
        backbone=dict(
            **cfg.model.backbone,
            init_cfg=dict(
                type='Pretrained', checkpoint=kinetics_checkpoint,
                prefix='backbone.')),
        data_preprocessor=cfg.model.data_preprocessor)

    sample = dict(type='SampleAVAFrames', clip_len=cfg.clip_len,
                  frame_interval=cfg.frame_interval)
    pack = [
        dict(type='FormatShape', input_format='NCTHW', collapse=True),
        dict(type='PackActionInputs')
    ]
    cfg.train_pipeline = [
        sample,
        dict(type='RawFrameDecode'),
        dict(type='RandomRescale', scale_range=cfg.scale_range),
        dict(type='RandomCrop', size=cfg.train_crop),
        dict(type='Flip', flip_ratio=0.5),
        *pack
    ]
    cfg.val_pipeline = [
        dict(sample, test_mode=True),
        dict(type='RawFrameDecode'),
        dict(type='Resize', scale=(-1, cfg.train_crop)),
        *pack
    ]
    cfg.train_dataloader.batch_size = 8
    cfg.train_dataloader.dataset = dict(
        **cfg.ava_train_dataset, pipeline=cfg.train_pipeline)
    for split in ('val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.batch_size = 1  # AVA videos differ in frame size
        loader.dataset = dict(**cfg.ava_val_dataset,
                              pipeline=cfg.val_pipeline)
    cfg.val_evaluator = dict(cfg.ava_val_evaluator)
    cfg.test_evaluator = cfg.val_evaluator

    cfg.train_cfg = cfg.ava_train_cfg
    cfg.param_scheduler = cfg.ava_param_scheduler
    cfg.optim_wrapper.optimizer.weight_decay = 1e-7
    # lr 1.6 is for a total batch of 1024 (128 GPUs x 8), scaled at start
    cfg.auto_scale_lr = dict(enable=True, base_batch_size=1024)
    cfg.custom_hooks = []  # no precise BN: BN statistics follow fine-tuning
    cfg.default_hooks.checkpoint.update(
        interval=2000, by_epoch=False, save_best='auto')
    cfg.log_processor.by_epoch = False


# a function's bound `__call__`: MMEngine drops the functions of a config
ava_detector = use_ava.__call__
