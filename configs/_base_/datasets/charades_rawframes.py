# Charades from the official extracted frames (Charades_v1_rgb/<id>/
# <id>-000001.jpg ..., 24 fps), same CSV annotations. The pipelines are those
# of charades_video.py (X3D-S; `x3d_clip` sets another clip), read from frames.
_base_ = ['./charades_video.py']

dataset_type = 'CharadesRawframeDataset'
data_root = 'data/charades/Charades_v1_rgb'


def from_frames(pipeline):
    """The video ``pipeline`` with RawFrameDecode in place of decord."""
    return [
        dict(type='RawFrameDecode') if step['type'] == 'DecordDecode' else step
        for step in pipeline if step['type'] != 'DecordInit'
    ]


train_pipeline = from_frames(_base_.train_pipeline)
val_pipeline = from_frames(_base_.val_pipeline)
test_pipeline = from_frames(_base_.test_pipeline)
charades_frames = dict(
    type=dataset_type,
    data_prefix=dict(_delete_=True, img=data_root),
    fps=24)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline, **charades_frames))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline, **charades_frames))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline, **charades_frames))
