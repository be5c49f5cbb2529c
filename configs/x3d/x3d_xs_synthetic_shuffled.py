# Ablation of x3d_xs_synthetic.py: frames are shuffled inside every clip
# (train, val and test), so the order of the brightness profile over time is
# destroyed. Trained or tested this way, accuracy falls towards chance (25%):
# the task needs time.
_base_ = ['./x3d_xs_synthetic.py']


def shuffled(pipeline):
    """``pipeline`` with ShuffleFrames between sampling and decoding."""
    i = [step['type'] for step in pipeline].index('DecordDecode')
    return [*pipeline[:i], dict(type='ShuffleFrames'), *pipeline[i:]]


train_pipeline = shuffled(_base_.train_pipeline)
val_pipeline = shuffled(_base_.val_pipeline)
test_pipeline = shuffled(_base_.test_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
