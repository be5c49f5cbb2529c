# Copyright (c) mmx3d contributors. All rights reserved.
"""Convert X3D checkpoints between PySlowFast, PyTorchVideo, MMAction2 and
mmx3d. The input format is detected from the keys.

Examples::

    # PySlowFast / PyTorchVideo / MMAction2 -> mmx3d
    python tools/model_converters/convert.py x3d_s.pyth x3d_s_mmx3d.pth
    # mmx3d -> PyTorchVideo (create_x3d), e.g. for export
    python tools/model_converters/convert.py x3d_s_mmx3d.pth X3D_S.pyth \
        --to pytorchvideo
"""
import argparse
import os.path as osp
import sys

from mmx3d.converters import (
    convert_checkpoint,
    describe_state_dict,
    detect_format,
    export_pyslowfast,
    export_pytorchvideo,
    extract_state_dict,
    load_any_checkpoint,
    save_checkpoint,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an X3D checkpoint (format auto-detected)')
    parser.add_argument('src', help='input checkpoint (mmx3d, PySlowFast, '
                        'PyTorchVideo or MMAction2)')
    parser.add_argument('dst', help='output file')
    parser.add_argument(
        '--to', choices=['mmx3d', 'pytorchvideo', 'pyslowfast'],
        default='mmx3d', help='output format (default: mmx3d)')
    parser.add_argument(
        '--arch', choices=['xs', 's', 'm', 'l', 'xl'],
        help='expected variant; the checkpoint must fit it exactly')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='read a file that holds pickled objects besides tensors with '
        'torch.load(weights_only=False); only for files you trust')
    return parser.parse_args(argv)


def convert(src: str, dst: str, to: str = 'mmx3d', arch=None,
            unsafe_load: bool = False) -> str:
    """Convert ``src`` into ``dst``; return a one-line summary."""
    obj = load_any_checkpoint(src, allow_pickle=unsafe_load)
    fmt = detect_format(extract_state_dict(obj, src))
    sd = convert_checkpoint(obj, arch=arch, name=src)
    summary = describe_state_dict(sd)
    if to == 'pytorchvideo':
        sd = export_pytorchvideo(sd)
    elif to == 'pyslowfast':
        sd = export_pyslowfast(sd)
    save_checkpoint(sd, dst, fmt=to, meta=dict(converted_from=fmt,
                                               source=osp.basename(src)))
    return f'{src} ({fmt}) -> {dst} ({to}): {summary}'


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        print(convert(args.src, args.dst, args.to, args.arch,
                      args.unsafe_load))
    except (OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
