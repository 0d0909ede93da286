"""``dabnet-zoo models``: the registry as a table."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  dabnet-zoo models
  dabnet-zoo models 'dabnet_r18_*'
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="list the DABNet variants", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pattern", nargs="?", default="*", help="shell-style filter on the name (default: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..registry import VARIANTS, list_models

    header = ("model", "context path", "P", "params (M)", "GMACs@1024x2048", "paper Cityscapes val mIoU")
    rows = []
    for name in list_models(args.pattern):
        v = VARIANTS[name]
        paper = v.paper.get("cityscapes")
        rows.append((name, v.context_path, str(v.patch_size), f"{v.num_params / 1e6:.2f}", f"{v.gmacs:.1f}",
                     f"{paper.miou_val:.1f}" if paper and paper.miou_val else "-"))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0
