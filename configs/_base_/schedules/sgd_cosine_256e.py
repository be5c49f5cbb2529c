# The X3D Kinetics schedule (paper, supp. A.3): SGD momentum 0.9 Nesterov,
# weight decay 5e-5 and none on BN, half-period cosine over the whole run with a
# linear warm-up multiplied in during the first epochs:
#   lr(n) = base * 0.5 * (cos(pi * n / N) + 1) * w(n),
#   w(n) = f0 + (1 - f0) * n / (W - 1) for n < W else 1  (n, N, W in iterations;
#   MMEngine's LinearLR reaches its end factor at iteration W - 1)
# base = 1.6 for a total batch of 1024 clips, scaled linearly by auto_scale_lr.
max_epochs = 256
warmup_epochs = 34  # 8k of 60k iterations
train_cfg = dict(
    # MMEngine's epoch loop + exact mid-epoch resume (preemption checkpoints)
    type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
    val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=1.6, momentum=0.9, nesterov=True, weight_decay=5e-5),
    paramwise_cfg=dict(norm_decay_mult=0.0),
    clip_grad=None)

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]

# lr above is for 1024 clips (128 GPUs x 8); it is scaled to the real total
# batch (GPUs x batch per GPU) at start.
auto_scale_lr = dict(enable=True, base_batch_size=1024)
custom_hooks = [dict(type='PreciseBNHook', num_batches=200)]
