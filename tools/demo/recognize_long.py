# Copyright (c) mmx3d contributors. All rights reserved.
"""Recognise actions over a whole video in sliding windows, or in a live
stream (a thin CLI over :mod:`mmx3d.apis.long_video`).

Long video: one prediction per window, decoded in one streaming pass::

    python tools/demo/recognize_long.py video.mp4 \
        configs/x3d/x3d_xs_kinetics400.py x3d_xs.pyth \
        --window 2 --hop 1 --topk 3 --out-csv windows.csv \
        --out-json windows.json --timeline timeline.png \
        --out-video overlay.mp4

Live stream: a camera index, a URL, or a file played at its native rate;
the current top-k is printed ``--rate`` times a second::

    python tools/demo/recognize_long.py configs/x3d/x3d_xs_kinetics400.py \
        x3d_xs.pyth --source 0 --rate 2 --duration 60
    python tools/demo/recognize_long.py configs/x3d/x3d_xs_kinetics400.py \
        x3d_xs.pyth --source rtsp://camera/stream

With ``--source`` the VIDEO argument is left out. The checkpoint may be in
any format ``tools/model_converters/convert.py`` reads, or, with
``--backend onnxruntime``, a model exported from the same config by
``tools/deployment/export_onnx.py``.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import DictAction


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Recognise actions over a long video in sliding windows '
        'or in a live stream with an X3D model',
        usage='%(prog)s [VIDEO] CONFIG CHECKPOINT [options]  (no VIDEO with '
        '--source)')
    parser.add_argument('paths', nargs='+', metavar='[VIDEO] CONFIG '
                        'CHECKPOINT', help='the video file (unless --source), '
                        'the model config and the checkpoint (any X3D format, '
                        'or the .onnx file with --backend onnxruntime)')
    parser.add_argument('--window', type=float, help='window length in '
                        'seconds (default: one clip span of the config, e.g. '
                        '1.6 s for X3D-XS)')
    parser.add_argument('--hop', type=float, help='seconds between window '
                        'starts (default: the window length)')
    parser.add_argument('--no-tail', action='store_true', help='do not add '
                        'the end-aligned last window that covers what the '
                        'regular grid leaves over')
    parser.add_argument('--topk', type=int, default=5,
                        help='classes per window (default: 5)')
    parser.add_argument('--batch', type=int, default=4,
                        help='windows per model call (default: 4)')
    parser.add_argument('--out-csv', help='per-window top-k as CSV')
    parser.add_argument('--out-json', help='per-window top-k as JSON')
    parser.add_argument('--timeline', help='timeline plot (PNG)')
    parser.add_argument('--out-video', help='video with the current label '
                        'drawn on it (mp4)')
    parser.add_argument(
        '--backend', choices=['pytorch', 'onnxruntime'], default='pytorch',
        help='run the model with PyTorch (BN folded) or ONNX Runtime')
    parser.add_argument('--source', help='live mode: a camera index (0), a '
                        'stream URL (rtsp://...) or a video file played at '
                        'its native rate')
    parser.add_argument('--rate', type=float, default=2.0,
                        help='live mode: predictions per second (default 2)')
    parser.add_argument('--duration', type=float, help='live mode: stop '
                        'after this many seconds (default: at the end of '
                        'the source)')
    parser.add_argument('--threads', type=int, help='PyTorch / ONNX Runtime '
                        'threads (live mode: on a machine with few cores '
                        'leave one to the reader; default: the libraries\' '
                        'own)')
    parser.add_argument(
        '--label-map', help='class names, one per line (default: the '
        'Kinetics-400 map shipped with mmx3d)')
    parser.add_argument('--device', default='cpu',
                        help='device, e.g. cpu or cuda:0 (default: cpu)')
    parser.add_argument('--no-progress', action='store_true',
                        help='no progress bar')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
    args = parser.parse_args(argv)
    want = 2 if args.source is not None else 3
    if len(args.paths) != want:
        expected = ('CONFIG CHECKPOINT with --source' if want == 2 else
                    'VIDEO CONFIG CHECKPOINT')
        parser.error(f'expected {expected}, got {len(args.paths)} paths: '
                     f'{args.paths}')
    if want == 3:
        args.video, args.config, args.checkpoint = args.paths
    else:
        args.video = None
        args.config, args.checkpoint = args.paths
    return args


def segments(windows) -> List[str]:
    """Runs of windows with the same top-1 class, one line each."""
    lines, run = [], []
    for w in windows + [None]:
        if run and (w is None or not w.topk
                    or w.topk[0][1] != run[0].topk[0][1]):
            mean = sum(x.topk[0][2] for x in run) / len(run)
            lines.append(f'{float(run[0].start):8.2f} - '
                         f'{float(run[-1].end):8.2f} s  {mean:.4f}  '
                         f'{run[0].topk[0][1]}')
            run = []
        if w is not None and w.topk:
            run.append(w)
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.video is not None and not osp.isfile(args.video):
        print(f'error: cannot read video {args.video!r}: no such file',
              file=sys.stderr)
        return 1
    from mmengine.logging import MMLogger

    from mmx3d.apis.inference import VideoReadError, read_label_map
    from mmx3d.apis.long_video import (
        load_scorer,
        plot_timeline,
        recognize_long,
        run_stream,
        write_csv,
        write_json,
        write_overlay_video,
    )
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    try:
        names = read_label_map(args.label_map)
        if args.threads:
            import torch
            torch.set_num_threads(args.threads)
        scorer = load_scorer(args.config, args.checkpoint, args.backend,
                             args.device, args.cfg_options,
                             args.threads or 0)
        if args.source is not None:
            def show(t, lag, top):
                text = ', '.join(f'{s:.3f} {n}' for _, n, s in top)
                print(f'[{t:7.2f} s, lag {lag:.3f} s] {text}', flush=True)

            report = run_stream(scorer, args.source, args.rate,
                                args.duration, args.topk, names, show,
                                args.out_video, args.threads)
            print(report.summary())
            return 0
        result = recognize_long(scorer, args.video, args.window, args.hop,
                                args.topk, names, args.batch,
                                tail=not args.no_tail,
                                progress=not args.no_progress)
        written = []
        if args.out_csv:
            written.append(write_csv(result, args.out_csv))
        if args.out_json:
            written.append(write_json(result, args.out_json))
        if args.timeline:
            written.append(plot_timeline(result, args.timeline))
        if args.out_video:
            written.append(write_overlay_video(result, args.out_video))
    except (VideoReadError, OSError, ValueError, ImportError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    finally:
        logger.setLevel(level)
    print(f'{args.video}: {result.num_frames} frames at '
          f'{float(result.fps):.3f} fps ({float(result.duration):.2f} s), '
          f'{len(result.windows)} windows of {float(result.window):g} s '
          f'every {float(result.hop):g} s')
    print('\n'.join(segments(result.windows)))
    print(f'{result.backend}: {result.wall_s:.2f} s, real-time factor '
          f'{result.realtime_factor:.1f}x, at most '
          f'{result.max_frames_held} decoded frames held')
    for path in written:
        print(f'written: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
