# The X3D Charades schedule (paper, supp. A.2), by iteration: SGD as for
# Kinetics (momentum 0.9, Nesterov, no decay on BN), lr 0.02 for a total
# batch of 16 clips (scaled linearly by auto_scale_lr), weight decay 1e-5,
# x0.1 at 16k and 20k iterations (where validation mAP saturates), 24k
# iterations (~48 epochs of Charades' 7985 videos); validation, checkpoints
# and logs every so many iterations.
_base_ = ['./sgd_cosine_256e.py', '../default_runtime.py']

max_iters = 24000
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
    val_interval=2000)
optim_wrapper = dict(optimizer=dict(lr=0.02, weight_decay=1e-5))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[16000, 20000], gamma=0.1),
]
auto_scale_lr = dict(enable=True, base_batch_size=16)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2000))
log_processor = dict(by_epoch=False)
