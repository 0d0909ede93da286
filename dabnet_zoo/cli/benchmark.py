"""``dabnet-zoo benchmark``: latency of one or more models on one backend, as a table and a results JSON."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from .export import parse_size, positive_int

EXAMPLES = """examples:
  dabnet-zoo benchmark dabnet_r18_p2 --backend eager --size 1024x2048 --threads 2
  dabnet-zoo benchmark all --backend onnxruntime --save        # -> benchmarks/results/<model>/...json
  dabnet-zoo benchmark dabnet_r18_p2 --backend tensorrt --device cuda --precision fp16 --include-postprocess
  dabnet-zoo benchmark dabnet_r18_p1.camvid --size 768x960 --save   # -> benchmarks/results/dabnet_r18_p1.camvid/

Speed does not depend on the weights' values: zoo names run with random weights when none are published.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..results import BACKENDS, PRECISIONS  # plain data: parsing imports no torch

    parser = subparsers.add_parser(
        "benchmark", help="measure latency (median/p90 ms, FPS) with one protocol for every backend",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("models", nargs="+", help="zoo names (dabnet_r18_p2, dabnet_r18_p2.camvid), folders or Hub "
                                                  "ids; 'all' for every variant")
    parser.add_argument("--dataset", default=None,
                        help="dataset preset: a zoo name's weights and class count (default: the name's, else "
                             "cityscapes); for a folder or Hub id, which results folder it files under")
    parser.add_argument("--backend", choices=BACKENDS, default="eager",
                        help="eager (plain model.eval()), optimized (BN folded, channels-last), compile "
                             "(torch.compile), onnxruntime or tensorrt (default: eager)")
    parser.add_argument("--size", type=parse_size, default=(1024, 2048), help="input HxW (default 1024x2048)")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="images per run (default 1)")
    parser.add_argument("--precision", choices=list(PRECISIONS), default="fp32",
                        help="arithmetic: fp32 (strict IEEE), fp16 or bf16 (default: fp32)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed runs (default 3 CPU / 50 GPU)")
    parser.add_argument("--iterations", type=positive_int, default=None,
                        help="timed runs (default 10 CPU / 500 GPU)")
    parser.add_argument("--include-postprocess", action="store_true", help="time resize to input size + argmax too")
    parser.add_argument("--json", type=Path, default=None, help="write the result of one model to this file")
    parser.add_argument("--save", action="store_true",
                        help="write each result to benchmarks/results/<model>.<dataset>/ (read by the model cards)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..benchmark import run_benchmark
    from ..errors import DabnetZooError, InputError
    from ..registry import identify_config, list_models, resolve_model
    from ..results import benchmark_file_name, benchmark_results_dir, write_benchmark_result
    from ..weights import weights_sha256
    from ..zoo import load_model

    names = list_models() if args.models == ["all"] else args.models
    if args.json is not None and len(names) > 1:
        raise DabnetZooError("--json takes the result of one model; use --save for several.")
    refs = [resolve_model(name, args.dataset) for name in names]  # every name is checked before the first timing
    rows = []
    for ref in refs:
        model = load_model(ref)
        ref = ref.with_config(model.config)
        if args.save and ref.name is None:
            raise InputError(f"--save files a result under a zoo model's name, but {ref} is "
                             f"{identify_config(model.config).describe()}; pass --dataset for its classes, or write "
                             "the result with --json FILE.")
        result = run_benchmark(
            model, args.backend, *args.size, batch_size=args.batch_size, precision=args.precision,
            device=args.device, threads=args.threads, warmup=args.warmup, iterations=args.iterations,
            include_postprocess=args.include_postprocess, progress=not args.no_progress,
            model_name=ref.variant or "", dataset=ref.dataset or "", weights_sha256=weights_sha256(ref, model),
        )
        result["command"] = "dabnet-zoo " + shlex.join(args.argv)
        rows.append(result)
        if args.json is not None:
            write_benchmark_result(args.json, result, overwrite=True)
        if args.save:
            folder = benchmark_results_dir(ref.name)
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
