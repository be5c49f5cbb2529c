# Copyright (c) mmx3d contributors. All rights reserved.
"""Export an X3D recognizer to ONNX (BN folded, dynamic batch) and check it
with ONNX Runtime against PyTorch on a random clip batch.

Examples::

    python tools/deployment/export_onnx.py \
        configs/x3d/x3d_s_kinetics400.py x3d_s.pyth --out x3d_s.onnx
    # logits instead of probabilities, a 13x160x160 clip
    python tools/deployment/export_onnx.py \
        configs/x3d/x3d_s_kinetics400.py x3d_s.pyth --output logits \
        --shape 13 160 160

Needs ``onnx`` and ``onnxruntime``: ``pip install mmx3d[deploy]``.
"""
import argparse
import sys

from mmx3d.apis.deploy import (
    DeployDependencyError,
    OnnxCheckError,
    export_onnx,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export an X3D recognizer to ONNX and check it with '
        'ONNX Runtime')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint', nargs='?', default=None,
        help='checkpoint (mmx3d, PySlowFast, PyTorchVideo or MMAction2); '
        'omitted: random weights')
    parser.add_argument('--out', default='x3d.onnx',
                        help='output file (default: x3d.onnx)')
    parser.add_argument(
        '--output', choices=['probs', 'logits'], default='probs',
        help='graph output: class probabilities or the head scores '
        '(default: probs)')
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument(
        '--shape', nargs=3, type=int, metavar=('T', 'H', 'W'),
        help='clip shape (default: the config\'s test clip shape)')
    shape.add_argument(
        '--variant-shape', action='store_true',
        help='use the config\'s test clip shape (the default)')
    parser.add_argument('--opset', type=int, default=17,
                        help='ONNX opset (default: 17)')
    parser.add_argument(
        '--atol', type=float, default=1e-4,
        help='largest allowed ORT-vs-PyTorch difference of a probability '
        '(default: 1e-4)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        info = export_onnx(args.config, args.checkpoint, out=args.out,
                           output=args.output, shape=args.shape,
                           opset=args.opset, atol=args.atol)
    except DeployDependencyError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except (OSError, ValueError, OnnxCheckError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f"wrote {info['path']}: input clips (N, 3, "
          f"{', '.join(map(str, info['shape']))}) float32, "
          f"N dynamic (videos x views; average a video's views yourself), "
          f"output {info['output']} (N, {info['num_classes']})")
    print(f"input normalisation: RGB in [0, 255], (x - mean) / std with "
          f"mean={info['mean']} std={info['std']}")
    print(f"ONNX Runtime vs PyTorch (unfused BN): max abs difference of "
          f"probabilities {info['max_abs_diff']:.3g} (allowed "
          f'{args.atol:g})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
