# The X3D recognizer for Charades (paper, supp. A.2): 157 per-class
# sigmoids trained with binary cross-entropy; the scores of a video's test
# views are max-pooled (an action shows in some of its clips only).
_base_ = ['./x3d.py']

model = dict(
    cls_head=dict(
        type='X3DMultiLabelHead',
        num_classes=157,
        loss_cls=dict(type='BCELossWithLogits'),
        average_clips='max'))
