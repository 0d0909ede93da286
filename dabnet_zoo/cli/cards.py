"""``dabnet-zoo cards``: write (or check) the model cards of every variant x dataset."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  dabnet-zoo cards                      # model_cards/<variant>.<dataset>/README.md from the registry + results
  dabnet-zoo cards --check              # exit 1 if a committed card differs from a fresh render
  dabnet-zoo cards --out /tmp/cards --pattern 'dabnet_effb1*'

Cards read results/<name>/*.json (recipes/evaluate.py) and benchmarks/results/<name>/*.json
(dabnet-zoo benchmark) under --root; only those measured numbers enter the model-index metadata.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cards",
        help="generate the model cards (model_cards/<model>/README.md)",
        description="Generate one Hugging Face model card per variant x dataset from the registry and the results.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="model_cards", metavar="DIR", help="output folder (default model_cards)")
    parser.add_argument("--root", default=".", metavar="DIR",
                        help="repository root holding results/ and benchmarks/results/ (default .)")
    parser.add_argument("--pattern", default="*", help="shell-style filter on the model names (default: all)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any card is stale")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cards import stale_model_cards, write_model_cards

    if args.check:
        stale = stale_model_cards(args.out, args.root, args.pattern)
        for name in stale:
            print(f"stale: {args.out}/{name}/README.md")
        print(f"{len(stale)} stale model card(s); regenerate with `dabnet-zoo cards --out {args.out}`." if stale
              else "All model cards are up to date.")
        return 1 if stale else 0
    paths = write_model_cards(args.out, args.root, args.pattern)
    print(f"Wrote {len(paths)} model cards under {args.out}/.")
    return 0
