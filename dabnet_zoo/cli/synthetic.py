"""``dabnet-zoo make-synthetic``: write small synthetic street scenes in the Cityscapes layout."""

from __future__ import annotations

import argparse

from .export import parse_size

EXAMPLES = """examples:
  dabnet-zoo make-synthetic data/synthetic
  dabnet-zoo make-synthetic data/synthetic --num-train 400 --num-val 100 --size 256x512 --seed 1
  dabnet-zoo make-synthetic data/synthetic-raw --no-train-ids && dabnet-zoo prepare cityscapes data/synthetic-raw

The scenes are clearly labelled synthetic (ROOT/README.txt) and are not Cityscapes; they exist so that the
training demo and the tests run anywhere in minutes.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "make-synthetic", help="write synthetic street scenes in the Cityscapes layout", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("root", help="output folder (new, empty, or an earlier synthetic root)")
    parser.add_argument("--num-train", type=int, default=200, help="training images (default 200)")
    parser.add_argument("--num-val", type=int, default=50, help="validation images (default 50)")
    parser.add_argument("--size", type=parse_size, default=(128, 256), help="HEIGHTxWIDTH (default 128x256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--no-polygons", action="store_true", help="do not write *_gtFine_polygons.json")
    parser.add_argument("--no-train-ids", action="store_true",
                        help="do not write *_gtFine_labelTrainIds.png (leave them to `dabnet-zoo prepare cityscapes`)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.synthetic import make_synthetic_cityscapes

    root = make_synthetic_cityscapes(
        args.root, num_train=args.num_train, num_val=args.num_val, size=args.size, seed=args.seed,
        polygons=not args.no_polygons, train_ids=not args.no_train_ids, progress=not args.no_progress,
    )
    print(f"wrote {args.num_train} train + {args.num_val} val synthetic scenes "
          f"({args.size[0]}x{args.size[1]}) to {root}")
    return 0
