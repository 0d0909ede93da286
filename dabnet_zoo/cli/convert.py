"""``dabnet-zoo convert``: an original mmsegmentation checkpoint -> a ``save_pretrained`` folder."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  dabnet-zoo convert dabnet_r18_p2_cityscapes.pth converted/dabnet_r18_p2.cityscapes \\
      --variant dabnet_r18_p2 --dataset cityscapes
  dabnet-zoo convert iter_80000.pth out/ --variant dabnet_effb1 --dataset coco_stuff10k --overwrite
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert an original DABNet checkpoint (mmsegmentation 0.x) to a from_pretrained folder",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", help="original checkpoint (.pth): mmcv dict with 'state_dict', or a bare one")
    parser.add_argument("output_dir", help="folder to write config.json + model.safetensors into")
    parser.add_argument("--variant", required=True,
                        help="zoo name, e.g. dabnet_r18_p2 or dabnet_r18_p2.camvid (see `dabnet-zoo models`)")
    parser.add_argument("--dataset", default=None,
                        help="cityscapes (default, unless --variant names one), camvid, coco_stuff10k or "
                             "coco_stuff164k")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..convert import convert_checkpoint
    from ..registry import get_weights

    name = get_weights(args.variant, args.dataset).name  # checked before the checkpoint is read
    out = convert_checkpoint(args.checkpoint, args.output_dir, args.variant, args.dataset, overwrite=args.overwrite)
    print(f"Converted {args.checkpoint} -> {out} ({name}). "
          f"Load it with DabnetForSemanticSegmentation.from_pretrained({str(out)!r}).")
    return 0
