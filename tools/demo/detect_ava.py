# Copyright (c) mmx3d contributors. All rights reserved.
"""Spatio-temporal action detection demo: an annotated video out.

For every key frame (one per ``--step`` seconds) the person proposals come
from a proposal file (``.pkl`` in MMAction2's format or ``.csv``, keyed by
``video_id,timestamp``) or from an MMDetection person detector; the clip
around the key frame is classified by the AVA detector, and every frame up
to the next key frame is drawn with the boxes and their top actions. The
output is an MPEG-4 part 2 (``mp4v``) file. The work is done by
:mod:`mmx3d.apis.action_detection`.

Examples::

    # proposals from a file (video_id = the file name without extension,
    # timestamps counted from --timestamp-start seconds)
    python tools/demo/detect_ava.py configs/x3d/x3d_xs_ava_synthetic.py \\
        work_dirs/x3d_xs_ava_synthetic/iter_300.pth demo.mp4 out.mp4 \\
        --proposals data/ava_synthetic/annotations/\\
ava_dense_proposals_val.synthetic.pkl --video-id syn_val_000 \\
        --timestamp-start 900
    # proposals from any MMDetection detector (person class)
    python tools/demo/detect_ava.py configs/x3d/x3d_s_ava.py CKPT in.mp4 \\
        out.mp4 --det-config DET_CFG --det-checkpoint DET_CKPT
"""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.config import Config

from mmx3d.apis.action_detection import (
    KeyFrameResults,
    annotate,
    build_ava_detector,
    detect_actions,
    load_labels,
    read_video,
)
from mmx3d.apis.proposals import init_person_detector
from mmx3d.datasets import load_proposals
from mmx3d.datasets.synthetic import write_video


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='mmx3d AVA config')
    p.add_argument('checkpoint', help='its trained checkpoint')
    p.add_argument('video', help='input video file or folder of frames')
    p.add_argument('out', help='output .mp4')
    p.add_argument('--proposals', help='proposal .pkl/.csv keyed by '
                   'video_id,timestamp')
    p.add_argument('--video-id', help='video_id in the proposal file '
                   '(default: the input file name)')
    p.add_argument('--det-config', help='MMDetection person detector config')
    p.add_argument('--det-checkpoint', help='its checkpoint')
    p.add_argument('--det-score-thr', type=float, default=0.8,
                   help='minimum proposal score (reference: 0.8)')
    p.add_argument('--action-score-thr', type=float, default=0.4)
    p.add_argument('--topk', type=int, default=3,
                   help='actions drawn per box')
    p.add_argument('--label-map', help='AVA label map .pbtxt (default: the '
                   'config\'s label_file)')
    p.add_argument('--timestamp-start', type=float, default=0.0,
                   help='time in seconds of the first frame (900 for AVA '
                   'rawframes)')
    p.add_argument('--step', type=int, default=1,
                   help='seconds between key frames')
    p.add_argument('--fps', type=float, default=None,
                   help='frame rate (default: the video\'s)')
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)



def main(argv: Optional[Sequence[str]] = None) -> KeyFrameResults:
    args = parse_args(argv)
    if not args.proposals and not args.det_config:
        raise SystemExit('give --proposals or --det-config/--det-checkpoint')
    cfg = Config.fromfile(args.config)
    frames, fps = read_video(args.video)
    fps = args.fps or fps
    proposals = detector = None
    if args.proposals:
        proposals = load_proposals(args.proposals)
    else:
        detector = init_person_detector(args.det_config, args.det_checkpoint,
                                        args.device)
    video_id = args.video_id or osp.splitext(
        osp.basename(args.video.rstrip('/')))[0]
    keys = detect_actions(
        build_ava_detector(cfg, args.checkpoint, args.device), cfg, frames,
        fps, proposals=proposals, video_id=video_id,
        person_detector=detector, det_score_thr=args.det_score_thr,
        action_score_thr=args.action_score_thr, topk=args.topk,
        labels=load_labels(args.label_map or
                           cfg.test_dataloader.dataset.get('label_file')),
        timestamp_start=args.timestamp_start, step=args.step)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    write_video(args.out, np.stack(annotate(frames, keys, fps, args.step)),
                fps)
    n = sum(len(v[1]) for v in keys.values())
    print(f'{n} boxes on {len(keys)} key frames -> {args.out}')
    return keys


if __name__ == '__main__':
    main()
