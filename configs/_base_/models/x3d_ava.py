# The X3D spatio-temporal action detector for AVA (X3D paper, supp. A.1):
# MMDetection's Fast R-CNN with pre-computed person proposals, an X3D
# backbone returning res5, and the video RoI head (key-frame proposal
# replicated over time, RoIAlign + temporal average pooling, spatial max
# pooling, dropout, per-class sigmoid classifier trained with BCE).
#
# It defines `ava_model`, not `model`, so that it can sit next to a Kinetics
# config in `_base_` (MMEngine forbids a key in two bases). An AVA leaf
# builds its model from it and the Kinetics config's backbone:
#   model = dict(_delete_=True, **_base_.ava_model,
#                backbone=dict(**_base_.model.backbone, ...),
#                data_preprocessor=_base_.model.data_preprocessor)
# res5 keeps stride 32 by default; the reference's 2x-resolution variant is
# backbone res5_dilation=2 with bbox_roi_extractor featmap_stride=16.
ava_model = dict(
    type='mmdet.FastRCNN',
    roi_head=dict(
        type='X3DRoIHead',
        bbox_roi_extractor=dict(
            type='X3DRoIExtractor',
            featmap_stride=32,
            output_size=7,
            temporal_pool_first=True),
        bbox_head=dict(
            type='X3DBBoxHead',
            in_channels=192,  # res5 of XS..L; 280 for XL
            num_classes=81,  # 80 AVA actions + the background slot 0
            dropout_ratio=0.5)),
    train_cfg=dict(
        rcnn=dict(
            # positives: the ground-truth boxes (always added as proposals)
            # and proposals with IoU >= 0.9 to one; the loss sees only them
            # (MMDetection task modules: built in its scope)
            assigner=dict(
                _scope_='mmdet',
                type='MaxIoUAssignerAVA',
                pos_iou_thr=0.9,
                neg_iou_thr=0.9,
                min_pos_iou=0.9),
            sampler=dict(
                _scope_='mmdet',
                type='RandomSampler',
                num=32,
                pos_fraction=1,
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            pos_weight=1.0)),
    test_cfg=dict(rcnn=None))
