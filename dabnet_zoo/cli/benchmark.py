"""``dabnet-zoo benchmark``: latency of one or more models on one backend, as a table and a results JSON."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from .export import parse_size

EXAMPLES = """examples:
  dabnet-zoo benchmark dabnet_r18_p2 --backend eager --size 1024x2048 --threads 2
  dabnet-zoo benchmark all --backend onnxruntime --save        # -> benchmarks/results/<model>/...json
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
    parser.add_argument("--json", type=Path, default=None, help="write the result of one model to this file")
    parser.add_argument("--save", action="store_true",
                        help="write each result to benchmarks/results/<model>.<dataset>/ (read by the model cards)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..benchmark import run_benchmark
    from ..errors import DabnetZooError
    from ..registry import list_models
    from ..results import benchmark_file_name, benchmark_results_dir, write_benchmark_result
    from ..weights import weights_sha256
    from ..zoo import load_model

    names = list_models() if args.models == ["all"] else args.models
    if args.json is not None and len(names) > 1:
        raise DabnetZooError("--json takes the result of one model; use --save for several.")
    rows = []
    for name in names:
        model = load_model(name, args.dataset)
        result = run_benchmark(
            model, args.backend, *args.size, batch_size=args.batch_size, precision=args.precision,
            device=args.device, threads=args.threads, warmup=args.warmup, iterations=args.iterations,
            include_postprocess=args.include_postprocess, progress=not args.no_progress,
            model_name=name.partition(".")[0], dataset=args.dataset or "cityscapes",
            weights_sha256=weights_sha256(name, model, args.dataset),
        )
        result["command"] = "dabnet-zoo " + shlex.join(args.argv)
        rows.append(result)
        if args.json is not None:
            write_benchmark_result(args.json, result, overwrite=True)
        if args.save:
            folder = benchmark_results_dir(f"{result['model']}.{result['dataset']}")
            write_benchmark_result(folder / benchmark_file_name(result), result, overwrite=True)
    _print_table(rows)
    return 0


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
