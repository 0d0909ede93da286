"""``dabnet-zoo models``: the registry as a table, one row per variant x dataset."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  dabnet-zoo models
  dabnet-zoo models 'dabnet_r18_*'
  dabnet-zoo models --dataset camvid
  dabnet-zoo models --pretrained        # only models with published weights

params and GMACs are counted from dabnet-zoo's models at each dataset's test size; the paper columns are
reported by the original paper (not measured here), with their hardware in the footnotes.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the DABNet variants x datasets with their numbers and weights",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pattern", nargs="?", default="*", help="shell-style filter on the name (default: all)")
    parser.add_argument("--dataset", help="only this dataset: cityscapes, camvid, coco_stuff10k or coco_stuff164k")
    parser.add_argument("--pretrained", action="store_true", help="only models whose weights are published")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..registry import format_models_table

    print(format_models_table(args.pattern, args.dataset, pretrained=args.pretrained))
    return 0
