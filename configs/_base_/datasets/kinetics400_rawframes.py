# Kinetics-400 from extracted frames (img_00001.jpg, ...). List files have one
# `relative/frame_dir total_frames label` per line. The pipelines are those of
# kinetics400_video.py (X3D-S; `x3d_clip` sets another clip), read from frames.
_base_ = ['./kinetics400_video.py']

dataset_type = 'RawframeDataset'
data_root = 'data/kinetics400/rawframes_train'
data_root_val = 'data/kinetics400/rawframes_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_rawframes.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_rawframes.txt'


# frames carry no frame rate: PySlowFastSampleFrames assumes they were
# extracted at `frames_fps` (set it to your extraction rate)
frames_fps = 30


def from_frames(pipeline):
    """The video ``pipeline`` with RawFrameDecode in place of decord."""
    return [
        dict(type='RawFrameDecode') if step['type'] == 'DecordDecode' else
        dict(step, fps=frames_fps)
        if step['type'] == 'PySlowFastSampleFrames' else step
        for step in pipeline if step['type'] != 'DecordInit'
    ]


train_pipeline = from_frames(_base_.train_pipeline)
val_pipeline = from_frames(_base_.val_pipeline)
test_pipeline = from_frames(_base_.test_pipeline)
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(_delete_=True, img=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(_delete_=True, img=data_root_val),
        pipeline=val_pipeline))
test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(_delete_=True, img=data_root_val),
        pipeline=test_pipeline))
