# X2D on the built-in synthetic dataset: the start point of the X3D expansion
# (tools/expand.py, docs/expansion.md). All expansion factors are 1: one
# frame, widths 16/24/48/96 (the stem's 12 rounds up to 16), bottleneck
# width = stage width, blocks 1/2/5/3; the crops are x3d_xs_synthetic.py's.
# The single frame is taken at stride 12, XS's 4 x 3 span: gamma_tau is the
# stride X-Fast and X-Temporal divide when they add frames (1 x 12 -> 2 x 6
# -> 4 x 3 is XS's clip). A single frame cannot tell the four classes apart:
# X2D stays near chance (25%) until a temporal axis is expanded.
#   python tools/expand.py configs/x3d/x3d_x2d_synthetic.py --steps 3
_base_ = ['./x3d_xs_synthetic.py']

model = dict(
    backbone=dict(gamma_w=1.0, gamma_b=1.0, gamma_d=1.0),
    cls_head=dict(in_channels=96, mid_channels=96))
clip_len, frame_interval = 1, 12


def one_frame(pipeline):
    """``pipeline`` sampling ``clip_len`` frames at ``frame_interval``."""
    return [
        dict(step, clip_len=clip_len, frame_interval=frame_interval)
        if step['type'].endswith('SampleFrames') else step
        for step in pipeline
    ]


train_pipeline = one_frame(_base_.train_pipeline)
val_pipeline = one_frame(_base_.val_pipeline)
test_pipeline = one_frame(_base_.test_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
