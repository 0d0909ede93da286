"""``dabnet-zoo predict``: segment images, folders and videos into label PNGs, colour maps and overlays."""

from __future__ import annotations

import argparse
import sys

from .export import parse_size, positive_int

EXAMPLES = """examples:
  dabnet-zoo predict converted/dabnet_r18_p2.cityscapes street.jpg --out predictions
  dabnet-zoo predict ORG/dabnet_r18_p2.cityscapes photos/ clip.mp4 --out predictions --batch-size 8 --device cuda
  dabnet-zoo predict converted/dabnet_r18_p2.cityscapes street.jpg --out fast --size 512x1024
  dabnet-zoo predict converted/dabnet_r18_p2.cityscapes leftImg8bit/test --out submission \\
      --cityscapes-label-ids --no-color --no-overlay

MODEL is a save_pretrained folder, a Hub repo id or a zoo name (a zoo name builds random weights: useful only
to try the command). Folders are searched recursively. Outputs: OUT/labels/NAME.png (class indices),
OUT/color/NAME.png and OUT/overlay/NAME.png; a video's frames are NAME/000000.png ... (videos need PyAV).
A file that cannot be read, segmented or written is reported (with the reason) and skipped. Exit status: 0
when images were segmented (1 with --strict if any input was skipped), 1 when none could be, 2 on a usage or
model error.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="segment images, folders or videos",
        description="Segment images, folders or videos and write label PNGs, colour maps and overlays.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="save_pretrained folder, Hub repo id or zoo name")
    parser.add_argument("inputs", metavar="INPUT", nargs="+", help="image files, folders or video files")
    parser.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument("--dataset", help="dataset preset for the test protocol and palette (default: the model's)")
    parser.add_argument("--batch-size", type=positive_int, default=4, metavar="N",
                        help="images per forward pass (default 4)")
    parser.add_argument("--size", type=parse_size, metavar="HxW",
                        help="resize to this network input instead of the model's test size (Cityscapes: the box "
                             "the image is scaled into, keeping its ratio); smaller is faster, less accurate")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument(
        "--cityscapes-label-ids",
        action="store_true",
        help="write label PNGs in the official Cityscapes labelId encoding (test-server format)",
    )
    parser.add_argument("--alpha", type=float, default=0.5, help="opacity of the colours in overlays (default 0.5)")
    parser.add_argument("--no-color", action="store_true", help="do not write colour maps")
    parser.add_argument("--no-overlay", action="store_true", help="do not write overlays")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any input was skipped")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..predict import predict

    summary = predict(
        args.model,
        args.inputs,
        args.out,
        dataset=args.dataset,
        batch_size=args.batch_size,
        size=args.size,
        device=args.device,
        cityscapes_label_ids=args.cityscapes_label_ids,
        save_color=not args.no_color,
        save_overlay=not args.no_overlay,
        alpha=args.alpha,
        progress=not args.no_progress,
    )
    print(f"Segmented {summary.num_segmented} image(s) into {summary.out_dir}.")
    if summary.skipped:
        print(f"Skipped {summary.num_skipped} input(s):", file=sys.stderr)
        for source, reason in summary.skipped:
            print(f"  {source}: {reason}", file=sys.stderr)
    if summary.num_segmented == 0 or (args.strict and summary.skipped):
        return 1
    return 0

__all__ = ["EXAMPLES", "register", "run"]
