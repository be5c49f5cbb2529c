# Shared runtime: every mmx3d config inherits this.
default_scope = 'mmx3d'
custom_imports = dict(imports=['mmx3d'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic writes (best checkpoints too): a kill while saving never
    # corrupts a checkpoint; NaN/inf weights are never saved
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=1, save_best='auto',
        max_keep_ckpts=3),
    # a NaN/inf loss or gradient stops training (after max_skips skipped
    # steps) naming the iteration, the loss terms and the last checkpoint
    invalid_loss=dict(type='InvalidLossHook', max_skips=0),
    # one training per work dir: a second one stops at once naming the first
    work_dir_lock=dict(type='WorkDirLockHook'),
    # unreadable files replaced per epoch, over workers and ranks
    # ("skipped: N" in the epoch's log line)
    skipped_samples=dict(type='SkippedSamplesHook'),
    # SIGTERM/SIGUSR1 (preemption, Slurm --signal): every rank finishes its
    # iteration, iter_N.pth is saved atomically, exit status 75
    preemption=dict(type='PreemptionHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # timeout (s) of collectives: a frozen rank ends the job with a message
    # (tools/dist_train.sh sets it from MMX3D_DIST_TIMEOUT)
    dist_cfg=dict(backend='nccl', timeout=1800),
    # glibc malloc keeps freed tensor memory for the next step instead of
    # page-faulting fresh large blocks every step (CPU steps ~25% faster,
    # same numbers; mmx3d/utils/malloc.py). None: the C library's defaults.
    cpu_malloc=dict(mmap_threshold=1 << 30, trim_threshold=(1 << 31) - 1))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
