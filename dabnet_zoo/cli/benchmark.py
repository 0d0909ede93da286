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
  dabnet-zoo benchmark p2.onnx --backend onnxruntime                 # an exported file, not exported again
  dabnet-zoo benchmark runs/demo/final --backend openvino --precision bf16 --accuracy-images data/val
  dabnet-zoo benchmark runs/demo/final --backend openvino --precision int8 --calibration-images data/train \
      --accuracy-images data/val                                     # int8: calibrated on your images

Speed does not depend on the weights' values: zoo names run with random weights when none are published.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..results import BACKENDS, PRECISIONS  # plain data: parsing imports no torch

    parser = subparsers.add_parser(
        "benchmark", help="measure latency (median/p90 ms, FPS) with one protocol for every backend",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("models", nargs="+", help="zoo names (dabnet_r18_p2, dabnet_r18_p2.camvid), folders, Hub "
                                                  "ids or .onnx files of `dabnet-zoo export onnx`; 'all' for "
                                                  "every variant")
    parser.add_argument("--dataset", default=None,
                        help="dataset preset: a zoo name's weights and class count (default: the name's, else "
                             "cityscapes); for a folder or Hub id, which results folder it files under")
    parser.add_argument("--backend", choices=BACKENDS, default="eager",
                        help="eager (plain model.eval()), optimized (BN folded, channels-last), compile "
                             "(torch.compile), onnxruntime, openvino (CPU) or tensorrt (default: eager)")
    parser.add_argument("--size", type=parse_size, default=(1024, 2048), help="input HxW (default 1024x2048)")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="images per run (default 1)")
    parser.add_argument("--precision", choices=list(PRECISIONS), default="fp32",
                        help="arithmetic: fp32 (strict IEEE; asked of OpenVINO explicitly), fp16, bf16 (CPU: "
                             "PyTorch autocast or OpenVINO; needs avx512_bf16/amx_bf16) or int8 (OpenVINO + NNCF, "
                             "with --calibration-images) (default: fp32)")
    parser.add_argument("--onnx", type=Path, default=None, metavar="FILE",
                        help="time this ONNX file (exported from MODEL) with onnxruntime or openvino instead of "
                             "exporting MODEL again")
    parser.add_argument("--calibration-images", type=Path, default=None, metavar="DIR",
                        help="int8: calibrate on these images (the ones the model will see), prepared by the "
                             "model's processor; required for int8")
    parser.add_argument("--accuracy-images", type=Path, default=None, metavar="DIR",
                        help="also measure the labels' agreement with the same backend in FP32 on these images")
    parser.add_argument("--max-images", type=positive_int, default=300,
                        help="images used from each of those folders, spread over it (default 300)")
    parser.add_argument("--int8-float", choices=("fp32", "bf16"), default="fp32",
                        help="int8: precision of the layers left in floating point (default: fp32)")
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
    if args.onnx is not None and len(names) > 1:
        raise DabnetZooError("--onnx times one file; pass one MODEL with it.")
    # Every name is checked before the first timing; an .onnx file stands for the model it was exported from.
    refs = [name if _is_onnx_file(name) else resolve_model(name, args.dataset) for name in names]
    rows = []
    for ref in refs:
        onnx_path = args.onnx
        if isinstance(ref, str):
            onnx_path, (model, ref) = Path(ref), _model_of_onnx_file(Path(ref), args.dataset)
        else:
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
            model_name=ref.variant or "", dataset=ref.dataset or "",
            weights_sha256=None if onnx_path is not None else weights_sha256(ref, model), onnx_path=onnx_path,
            float_precision=args.int8_float, **_image_sets(args, ref, model),
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


def _is_onnx_file(name: str) -> bool:
    return name.lower().endswith(".onnx") and Path(name).is_file()


def _model_of_onnx_file(path: Path, dataset: str | None):
    """The model an ONNX file of ``export onnx`` was exported from, rebuilt from the config in its metadata (with
    random weights: it names the result and the processor; the file's own weights are what is timed)."""
    from ..modeling_dabnet import DabnetForSemanticSegmentation
    from ..export import onnx_config
    from ..registry import ModelRef

    model = DabnetForSemanticSegmentation(onnx_config(path)).eval()
    return model, ModelRef("folder", str(path), dataset=dataset)


def _image_sets(args: argparse.Namespace, ref, model) -> dict:
    """``calibration`` and ``accuracy`` for run_benchmark, from the image folders, prepared by the model's processor."""
    from ..benchmark import AccuracyData
    from ..deploy import ProcessedImages
    from ..zoo import model_processor

    if args.calibration_images is None and args.accuracy_images is None:
        return {}
    processor = model_processor(ref, model, ref.dataset)  # an .onnx file: its dataset's
    images = {}
    if args.calibration_images is not None:
        images["calibration"] = ProcessedImages(args.calibration_images, processor, args.max_images)
    if args.accuracy_images is not None:
        inputs = ProcessedImages(args.accuracy_images, processor, args.max_images)
        images["accuracy"] = AccuracyData(inputs, f"{args.accuracy_images} ({len(inputs)} images)")
    return images


def _print_table(rows: list[dict]) -> None:
    header = ("model", "backend", "device", "precision", "size", "batch", "median ms", "p90 ms", "FPS",
              "label agreement")
    lines = [header] + [
        (r["model"], r["backend"], r["device"], _precision(r), f"{r['height']}x{r['width']}", str(r["batch_size"]),
         f"{r['latency_ms']['median']:.1f}", f"{r['latency_ms']['p90']:.1f}", f"{r['fps']:.2f}", _agreement(r))
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    if rows:
        print(f"hardware: {rows[0]['hardware']}; threads: {rows[0]['environment']['threads']}; "
              f"resize+argmax {'included' if rows[0]['includes_resize_argmax'] else 'excluded'}; "
              f"CPU precision instructions: {rows[0]['environment'].get('cpu_precision_flags', 'unknown')}")
        for r in rows:
            if r["accuracy"] is not None:
                print(f"{r['model']} {_precision(r)}: label agreement with {r['accuracy']['reference']} measured on "
                      f"{r['accuracy']['data']}")


def _precision(result: dict) -> str:
    """The precision, with what OpenVINO computed in where it differs (int8's floating-point layers)."""
    computed = result["environment"].get("inference_precision")
    return f"{result['precision']} ({computed} float layers)" if result["precision"] == "int8" and computed \
        else result["precision"]


def _agreement(result: dict) -> str:
    accuracy = result["accuracy"]
    return "not measured" if accuracy is None else f"{100 * accuracy['label_agreement']:.2f}%"
