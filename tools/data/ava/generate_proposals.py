# Copyright (c) mmx3d contributors. All rights reserved.
"""Turn any MMDetection detector into an AVA person-proposal file.

Runs the detector on the key frame of every ``video_id,timestamp`` key (the
frame at that second: ``img_{30 (t - 900) + 1:05d}.jpg`` in AVA's rawframe
layout), keeps the person boxes scoring at least ``--score-thr`` and writes
them normalised to [0, 1], in MMAction2's proposal format::

    {'video_id,0902': array([[x1, y1, x2, y2, score], ...], float32), ...}

(``.pkl``), or as CSV rows ``video_id,timestamp,x1,y1,x2,y2,score``
(``.csv``). The dataset keeps boxes scoring >= 0.8 for training and testing
(``person_det_score_thr``), so write a lower ``--score-thr`` to tune that
later. The work is done by :mod:`mmx3d.apis.proposals`.

Examples::

    # key frames of an annotation file (e.g. the val split)
    python tools/data/ava/generate_proposals.py DET_CONFIG DET_CHECKPOINT \\
        data/ava/rawframes data/ava/annotations/my_proposals_val.pkl \\
        --ann-file data/ava/annotations/ava_val_v2.2.csv
    # every key frame 902..1798 of every video folder
    python tools/data/ava/generate_proposals.py DET_CONFIG DET_CHECKPOINT \\
        data/ava/rawframes proposals.pkl --score-thr 0.5
"""
import argparse
from typing import Optional, Sequence

from mmx3d.apis.proposals import (
    VALID_TIMESTAMPS,
    detect_keys,
    init_person_detector,
    keys_from_annotations,
    keys_from_folders,
    person_label_of,
    write_proposals,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('det_config', help='MMDetection detector config')
    p.add_argument('det_checkpoint', help='its checkpoint (path or URL)')
    p.add_argument('frame_root', help='AVA rawframes: <root>/<video_id>/'
                   'img_00001.jpg ...')
    p.add_argument('out', help='output .pkl (MMAction2 format) or .csv')
    p.add_argument('--ann-file', help='take the keys of this AVA CSV '
                   '(default: every key frame of every video folder)')
    p.add_argument('--timestamps', type=int, nargs=2,
                   default=list(VALID_TIMESTAMPS),
                   help='key-frame range without --ann-file')
    p.add_argument('--score-thr', type=float, default=0.5,
                   help='keep person boxes scoring at least this')
    p.add_argument('--person-class', default='person',
                   help='name of the person class in the detector')
    p.add_argument('--person-label', type=int, default=None,
                   help='index of the person class (overrides the name)')
    p.add_argument('--filename-tmpl', default='img_{:05d}.jpg')
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)



def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.ann_file:
        keys = keys_from_annotations(args.ann_file)
    else:
        keys = keys_from_folders(args.frame_root, args.timestamps,
                                 filename_tmpl=args.filename_tmpl)
    detector = init_person_detector(args.det_config, args.det_checkpoint,
                                    args.device)
    label = args.person_label
    if label is None:
        label = person_label_of(detector, args.person_class)
    props = detect_keys(detector, args.frame_root, keys, label,
                        args.score_thr, filename_tmpl=args.filename_tmpl)
    write_proposals(props, args.out)
    n = sum(len(v) for v in props.values())
    print(f'{n} person proposals for {len(props)} key frames -> {args.out}')


if __name__ == '__main__':
    main()
