"""The ``dabnet-zoo`` command: a dispatcher that registers one module per subcommand.

Each ``dabnet_zoo/cli/<command>.py`` exposes ``register(subparsers)`` (adding its parser and setting
``func=run``) and ``run(args) -> int``, imports heavy dependencies inside ``run``, and maps its arguments onto
one library function, so everything the CLI does is also available from Python.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .. import __version__
from ..errors import DabnetZooError

# Subcommand modules, in the order `dabnet-zoo --help` lists them.
COMMANDS = ("models", "convert", "predict", "export", "benchmark", "prepare", "synthetic", "cards", "push")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand. Building it imports no torch: parsing and ``--help`` stay instant."""
    parser = argparse.ArgumentParser(
        prog="dabnet-zoo",
        description="DABNet real-time semantic segmentation: models, conversion, inference, evaluation, speed.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a known error prints one line (the traceback with DABNET_ZOO_DEBUG=1) and exits 2.
    Without a command, print the help."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    args.argv = argv  # lets a command record how it was run (results files)
    # -v is about dabnet-zoo's own progress: other libraries (torch.onnx, onnxscript ...) keep WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("dabnet_zoo").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except DabnetZooError as error:
        if os.environ.get("DABNET_ZOO_DEBUG"):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
