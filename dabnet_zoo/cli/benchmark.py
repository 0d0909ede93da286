"""``dabnet-zoo benchmark``: latency of one or more models on one backend, as a table and a results JSON."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from .export import parse_size

EXAMPLES = """examples:
  dabnet-zoo benchmark dabnet_r18_p2 --backend eager --size 1024x2048 --threads 2
  dabnet-zoo benchmark all --backend onnxruntime --json benchmarks/results/
  dabnet-zoo benchmark dabnet_r18_p2 --backend tensorrt --device cuda --precision fp16 --include-postprocess
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..benchmark import BACKENDS, PRECISIONS

    parser = subparsers.add_parser(
        "benchmark", help="measure latency (median/p90 ms, FPS) with one protocol for every backend",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("models", nargs="+", help="zoo names, folders or Hub ids; 'all' for every variant")
    parser.add_argument("--dataset", default=None, help="dataset preset for zoo names (default: cityscapes)")
    parser.add_argument("--backend", choices=BACKENDS, default="eager")
    parser.add_argument("--size", type=parse_size, default=(1024, 2048), help="input HxW (default 1024x2048)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--precision", choices=list(PRECISIONS), default="fp32")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed runs (default 3 CPU / 50 GPU)")
    parser.add_argument("--iterations", type=int, default=None, help="timed runs (default 10 CPU / 500 GPU)")
    parser.add_argument("--include-postprocess", action="store_true", help="time resize to input size + argmax too")
    parser.add_argument("--json", type=Path, default=None,
                        help="write results: a .json file (one model) or a folder (one file per model)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..benchmark import run_benchmark
    from ..registry import list_models
    from ..zoo import load_model

    names = list_models() if args.models == ["all"] else args.models
    command = "dabnet-zoo " + shlex.join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("dabnet-zoo") else ""
    rows = []
    for name in names:
        model = load_model(name, args.dataset)
        result = run_benchmark(
            model, args.backend, *args.size, batch_size=args.batch_size, precision=args.precision,
            device=args.device, threads=args.threads, warmup=args.warmup, iterations=args.iterations,
            include_postprocess=args.include_postprocess, progress=not args.no_progress,
            model_name=name.partition(".")[0], dataset=args.dataset or "cityscapes",
        )
        result["command"] = command
        rows.append(result)
        if args.json is not None:
            target = args.json if args.json.suffix == ".json" and len(names) == 1 else args.json / _file_name(result)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(result, indent=2) + "\n")
    _print_table(rows)
    return 0


def _file_name(result: dict) -> str:
    post = "-postprocess" if result["includes_resize_argmax"] else ""
    return (f"{result['model']}.{result['dataset']}-{result['backend']}-{result['precision']}-{result['device']}-"
            f"{result['height']}x{result['width']}-b{result['batch_size']}{post}.json")


def _print_table(rows: list[dict]) -> None:
    header = ("model", "backend", "device", "precision", "size", "batch", "median ms", "p90 ms", "FPS")
    lines = [header] + [
        (r["model"], r["backend"], r["device"], r["precision"], f"{r['height']}x{r['width']}", str(r["batch_size"]),
         f"{r['latency_ms']['median']:.1f}", f"{r['latency_ms']['p90']:.1f}", f"{r['fps']:.2f}")
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    if rows:
        print(f"hardware: {rows[0]['hardware']}; threads: {rows[0]['environment']['threads']}; "
              f"resize+argmax {'included' if rows[0]['includes_resize_argmax'] else 'excluded'}")
