# X3D recognizer. The backbone preset `arch` selects XS/S/M/L/XL; XS, S and M
# share one network and differ only in their input clips.
# The fast path is the default: channels-last-3D memory format end to end and
# the fused memory-saving block operations in training (same results to float
# rounding, tested; docs/benchmarks.md). Set both to False for the plain path.
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='X3DBackbone',
        arch='s',
        drop_connect_rate=0.0,
        channels_last=True,
        fused_ops=True,
        norm_cfg=dict(type='BN3d', requires_grad=True)),
    cls_head=dict(
        type='X3DClsHead',
        num_classes=400,
        in_channels=192,
        mid_channels=432,
        fc_channels=2048,
        dropout_ratio=0.5,
        average_clips='prob'),
    data_preprocessor=dict(
        type='X3DDataPreprocessor',
        channels_last=True,
        # RGB mean 0.45 / std 0.225 in [0, 1] units
        mean=[114.75, 114.75, 114.75],
        std=[57.375, 57.375, 57.375],
        format_shape='NCTHW'))
