# Copyright (c) mmx3d contributors. All rights reserved.
"""Print the top-5 actions of a video with their probabilities.

Examples::

    python tools/demo/recognize.py demo.mp4 \
        configs/x3d/x3d_s_kinetics400.py x3d_s.pyth --views 3
    # another dataset: its label map, one class name per line
    python tools/demo/recognize.py video.mp4 \
        configs/x3d/x3d_xs_synthetic.py epoch_24.pth \
        --label-map data/synthetic/label_map.txt

The checkpoint may be in any format ``tools/model_converters/convert.py``
reads (mmx3d, PySlowFast, PyTorchVideo, MMAction2), or, with
``--backend onnxruntime``, a model exported from the same config by
``tools/deployment/export_onnx.py``::

    python tools/demo/recognize.py demo.mp4 \
        configs/x3d/x3d_s_kinetics400.py x3d_s.onnx --backend onnxruntime
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Recognise the actions in a video with an X3D model')
    parser.add_argument('video', help='video file')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint (any X3D format), '
                        'or the .onnx file with --backend onnxruntime')
    parser.add_argument(
        '--backend', choices=['pytorch', 'onnxruntime'], default='pytorch',
        help='run the model with PyTorch (BN folded) or ONNX Runtime')
    parser.add_argument(
        '--views', type=int, help='clips per video (default: the test '
        'pipeline\'s SampleFrames.num_clips)')
    parser.add_argument(
        '--label-map', help='class names, one per line (default: the '
        'Kinetics-400 map shipped with mmx3d)')
    parser.add_argument('--topk', type=int, default=5,
                        help='classes to print (default: 5)')
    parser.add_argument('--device', default='cpu',
                        help='device, e.g. cpu or cuda:0 (default: cpu)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.video):  # answer before the slow imports
        print(f'error: cannot read video {args.video!r}: no such file',
              file=sys.stderr)
        return 1
    from mmengine.logging import MMLogger

    from mmx3d.apis.inference import (
        VideoReadError,
        check_video,
        init_recognizer,
        read_label_map,
        recognize,
        recognize_onnx,
    )
    # keep the output to the answer (MMEngine logs deprecation notices)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    try:
        check_video(args.video)  # before the (slower) model is built
        names = read_label_map(args.label_map)
        if args.backend == 'onnxruntime':
            top = recognize_onnx(args.checkpoint, args.config, args.video,
                                 args.views, args.topk, names)
        else:
            model = init_recognizer(args.config, args.checkpoint,
                                    args.device, args.cfg_options, fuse=True)
            top = recognize(model, args.video, args.views, args.topk, names)
    except (VideoReadError, OSError, ValueError, ImportError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    finally:
        logger.setLevel(level)
    for name, prob in top:
        print(f'{prob:.4f}  {name}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
