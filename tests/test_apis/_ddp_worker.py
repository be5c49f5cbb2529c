# Copyright (c) mmx3d contributors. All rights reserved.
"""Run by torchrun from test_train_distributed: trains a tiny config with
the real Runner (launcher 'pytorch', gloo, DDP) and saves each rank's
parameters."""
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

import torch  # noqa: E402

from mmx3d.apis import build_runner  # noqa: E402
from tests.helpers.tiny import tiny_synthetic_cfg  # noqa: E402


def main():
    data_root, work_dir = sys.argv[1], sys.argv[2]
    cfg = tiny_synthetic_cfg(data_root, work_dir, max_epochs=1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    runner = build_runner(cfg, launcher='pytorch')
    runner.train()
    rank = int(os.environ['RANK'])
    model = runner.model.module
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
               osp.join(work_dir, f'rank{rank}_state.pth'))
    print(f'rank {rank} world {torch.distributed.get_world_size()} '
          f'backend {torch.distributed.get_backend()} '
          f'wrapper {type(runner.model).__name__}')


if __name__ == '__main__':
    main()
