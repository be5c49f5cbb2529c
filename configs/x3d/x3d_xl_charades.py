# X3D-XL fine-tuned on Charades (paper, supp. A.2): initialised from the
# Kinetics-400 X3D-XL, per-class sigmoids with binary cross-entropy, clips
# of 16 frames x stride 10 (twice the Kinetics stride, 16 x 5),
# 24k iterations of 16 clips on one machine, lr 0.02 divided by 10 twice,
# weight decay 1e-5. Test: 10 clips x 3 crops, sigmoid scores max-pooled
# over the 30 views; metric: mAP over the classes with a positive.
# Published (paper, K400 pre-training, 30 views): 47.1 mAP.
#   tools/dist_train.sh configs/x3d/x3d_xl_charades.py 8 \
#       --cfg-options load_from=<Kinetics-400 X3D-XL checkpoint>
_base_ = ['../_base_/models/x3d_charades.py', '../_base_/datasets/charades_video.py', '../_base_/schedules/sgd_multistep_24k.py']

model = dict(
    backbone=dict(arch='xl'),
    cls_head=dict(in_channels=280, mid_channels=630))
# Every Kinetics weight but the 400-way classifier is loaded (the 157-way
# one is new and reported as mismatched). Placeholder path: convert or
# download the checkpoint there, or override load_from.
load_from = 'checkpoints/x3d_xl_kinetics400.pth'
_base_.pop('x3d_clip')(_base_, clip_len=16, frame_interval=10,
                       train_crop=312, test_crop=356, scale_range=(356, 446))
