# X3D-S fine-tuned on Charades (paper, supp. A.2): initialised from the
# Kinetics-400 X3D-S, per-class sigmoids with binary cross-entropy, clips
# of 13 frames x stride 12 (twice the Kinetics stride, 13 x 6),
# 24k iterations of 16 clips on one machine, lr 0.02 divided by 10 twice,
# weight decay 1e-5. Test: 10 clips x 3 crops, sigmoid scores max-pooled
# over the 30 views; metric: mAP over the classes with a positive.
#   tools/dist_train.sh configs/x3d/x3d_s_charades.py 8 \
#       --cfg-options load_from=<Kinetics-400 X3D-S checkpoint>
_base_ = ['../_base_/models/x3d_charades.py', '../_base_/datasets/charades_video.py', '../_base_/schedules/sgd_multistep_24k.py']

model = dict(backbone=dict(arch='s'))
# Every Kinetics weight but the 400-way classifier is loaded (the 157-way
# one is new and reported as mismatched). Placeholder path: convert or
# download the checkpoint there, or override load_from.
load_from = 'checkpoints/x3d_s_kinetics400.pth'
_base_.pop('x3d_clip')(_base_, clip_len=13, frame_interval=12,
                       train_crop=160, test_crop=182, scale_range=(182, 228))
