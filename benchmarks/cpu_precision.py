"""Every CPU path side by side, with the accuracy of each reduced precision measured on a trained model.

For each variant and each path (PyTorch eager FP32 / BF16 autocast, ONNX Runtime FP32, OpenVINO FP32 / BF16 /
INT8) this times ``dabnet-zoo benchmark``'s protocol (:func:`dabnet_zoo.benchmark.run_benchmark`) at one size,
all in one process on the same machine, with the CPU's precision instructions recorded in every result.

Accuracy is measured on the README's demo model (DABNet-R-P2 trained on the synthetic Cityscapes-layout scenes of
``dabnet-zoo make-synthetic``: synthetic data, not Cityscapes): on its validation split, each reduced precision's
labels are compared with the same backend in FP32 (label agreement) and both are scored against the ground truth
(mIoU). The P2 rows are timed with the demo's weights, so speed and accuracy describe the same model (for INT8,
the same quantised model); the other variants are timed with random weights (speed does not depend on them).
INT8 is calibrated on the synthetic training split, prepared by the demo model's own processor, never on random
data.

Usage::

    python benchmarks/cpu_precision.py                     # makes the data and trains the demo (~5 min), then runs
    python benchmarks/cpu_precision.py --run runs/demo     # reuse a demo run (README's training command)
    python benchmarks/cpu_precision.py --run runs/demo --models dabnet_r18_p2 --size 128x256 --iterations 1 \\
        --warmup 0 --paths openvino-int8 --no-save        # a rehearsal (a minute or two)

Results land in ``benchmarks/results/<variant>.cityscapes/`` (one file per backend x precision; the INT8 path with
BF16 float layers is printed but not filed, its file name would be INT8's), and a Markdown table is printed. The
original implementation is not part of dabnet-zoo; pass its measured latency with ``--original-ms`` to print the
speed-ups against it (benchmarks/README.md records how it was measured).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from dabnet_zoo.benchmark import AccuracyData, run_benchmark
from dabnet_zoo.deploy import ProcessedImages, cpu_precision_flags
from dabnet_zoo.export import export_onnx
from dabnet_zoo.registry import list_models
from dabnet_zoo.results import benchmark_file_name, benchmark_results_dir, write_benchmark_result

ROOT = Path(__file__).resolve().parent.parent
# path name -> (backend, precision, precision of int8's floating-point layers)
PATHS = {
    "eager-fp32": ("eager", "fp32", "fp32"),
    "eager-bf16": ("eager", "bf16", "fp32"),
    "onnxruntime-fp32": ("onnxruntime", "fp32", "fp32"),
    "openvino-fp32": ("openvino", "fp32", "fp32"),
    "openvino-bf16": ("openvino", "bf16", "fp32"),
    "openvino-int8": ("openvino", "int8", "fp32"),
    "openvino-int8-bf16": ("openvino", "int8", "bf16"),
}
NOT_FILED = {"openvino-int8-bf16"}
DEMO_VARIANT = "dabnet_r18_p2"
logger = logging.getLogger("cpu_precision")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from dabnet_zoo.cli.export import parse_size, positive_int

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=None,
                        help="an existing demo run (its final/ folder is used); default: train one under --work")
    parser.add_argument("--data", type=Path, default=None,
                        help="the synthetic dataset (default: --work/synthetic, made if missing)")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "cpu_precision",
                        help="where the data and the demo run are made (default: runs/cpu_precision, git-ignored)")
    parser.add_argument("--train-iters", type=positive_int, default=None,
                        help="train the demo for N iterations instead of the recipe's 200 (rehearsals only)")
    parser.add_argument("--models", nargs="+", default=list_models(), help="variants to time (default: all)")
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS), help="paths to time")
    parser.add_argument("--size", type=parse_size, default=(1024, 2048), help="timed input HxW (default 1024x2048)")
    parser.add_argument("--threads", type=positive_int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs (default 2)")
    parser.add_argument("--iterations", type=positive_int, default=5, help="timed runs (default 5: median of 5)")
    parser.add_argument("--calibration-count", type=positive_int, default=200,
                        help="INT8 calibration images from the synthetic train split (default: all 200)")
    parser.add_argument("--original-ms", type=float, default=None,
                        help="the original implementation's latency for P2 at this size on this machine, to print "
                             "the speed-ups against it")
    parser.add_argument("--no-save", action="store_true", help="print only; write no result files")
    return parser.parse_args(argv)


def demo_model_folder(args: argparse.Namespace) -> tuple[Path, Path]:
    """The trained demo model's folder and the synthetic dataset, making and training them where missing."""
    from dabnet_zoo.data.synthetic import is_synthetic_root, make_synthetic_cityscapes

    data = args.data or args.work / "synthetic"
    if not is_synthetic_root(data):
        logger.info("Making the synthetic dataset in %s", data)
        make_synthetic_cityscapes(data)
    if args.run is not None:
        run = args.run
    else:
        run = args.work / "demo"
        if not (run / "final" / "config.json").is_file():
            command = [sys.executable, str(ROOT / "recipes" / "train.py"), "--config",
                       str(ROOT / "recipes" / "configs" / "demo.synthetic.yaml"), "--data-root", str(data),
                       "--output-dir", str(run), "--cpu", "--no-progress"]
            command += ["--max-iters", str(args.train_iters)] if args.train_iters else []
            logger.info("Training the demo model (about 5 minutes on 2 cores): %s", shlex.join(command))
            subprocess.run(command, check=True)
    folder = run / "final" if (run / "final" / "config.json").is_file() else run
    return folder, data


def validation_data(data: Path, processor) -> AccuracyData:
    """The synthetic val split, prepared by the demo model's processor, with its labels at the input size."""
    from dabnet_zoo.data.datasets import create_dataset

    dataset = create_dataset("cityscapes", data, "val")
    inputs, labels = [], []
    for sample in dataset:
        prepared = processor(sample["image"], segmentation_maps=sample["label"], return_tensors="pt")
        inputs.append(prepared["pixel_values"])
        labels.append(prepared["labels"][0])
    height, width = inputs[0].shape[-2:]
    return AccuracyData(inputs, f"synthetic val ({len(inputs)} scenes at {height}x{width}; not Cityscapes)", labels)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # the libraries' INFO lines are noise here
    for name in ("cpu_precision", "dabnet_zoo"):
        logging.getLogger(name).setLevel(logging.INFO)
    args = parse_args(argv)
    from dabnet_zoo.weights import weights_sha256
    from dabnet_zoo.zoo import create_model, load_model, saved_processor

    logger.info("CPU precision instructions: %s", cpu_precision_flags())
    folder, data = demo_model_folder(args)
    demo = load_model(folder)
    processor = saved_processor(folder)
    if processor is None:
        raise SystemExit(f"{folder} has no preprocessor_config.json: pass the demo run's final/ folder.")
    accuracy = validation_data(data, processor)
    train_images = data / "leftImg8bit" / "train"
    calibration = ProcessedImages(train_images, processor, args.calibration_count)
    command = "python benchmarks/cpu_precision.py " + shlex.join(sys.argv[1:] if argv is None else argv)

    rows = []
    for variant in args.models:
        is_demo = variant == DEMO_VARIANT
        model = demo if is_demo else create_model(variant)
        with tempfile.TemporaryDirectory(prefix="cpu-precision-") as workdir:
            onnx_path = None  # one dynamic export per variant, converted by every OpenVINO path
            if any(PATHS[path][0] == "openvino" for path in args.paths):
                onnx_path = export_onnx(model, Path(workdir) / f"{variant}.onnx", *args.size)
            for path in args.paths:
                backend, precision, float_precision = PATHS[path]
                logger.info("%s %s", variant, path)
                result = run_benchmark(
                    model, backend, *args.size, precision=precision, threads=args.threads, warmup=args.warmup,
                    iterations=args.iterations, progress=False, model_name=variant, dataset="cityscapes",
                    weights_sha256=weights_sha256(folder, demo) if is_demo else None,
                    onnx_path=onnx_path if backend == "openvino" else None,
                    calibration=calibration if precision == "int8" else None,
                    accuracy=accuracy if is_demo and precision != "fp32" else None,
                    float_precision=float_precision,
                )
                result["command"] = command
                rows.append((path, result))
                if not args.no_save and path not in NOT_FILED:
                    target = benchmark_results_dir(f"{variant}.cityscapes", ROOT)
                    write_benchmark_result(target / benchmark_file_name(result), result, overwrite=True)
    print(render(rows, args.original_ms))
    return 0


def render(rows: list[tuple[str, dict]], original_ms: float | None) -> str:
    """A Markdown table: latency, speed-up against eager FP32 (and the original), accuracy where measured."""
    if not rows:
        return "Nothing measured."
    first = rows[0][1]
    header = ["model", "path", "computes in", "median / p90 ms", "vs eager fp32"]
    header += ["vs original"] if original_ms else []
    header += ["label agreement", "mIoU (FP32 -> this)"]
    eager = {r["model"]: r["latency_ms"]["median"] for path, r in rows if path == "eager-fp32"}
    lines = [
        f"{first['hardware']}, {first['environment']['threads']} threads, {first['height']}x{first['width']}, "
        f"batch {first['batch_size']}, median of {first['iterations']}; CPU precision instructions: "
        f"{first['environment']['cpu_precision_flags']}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for path, r in rows:
        median = r["latency_ms"]["median"]
        computes = r["environment"].get("inference_precision", r["precision"])
        computes = f"int8 + {computes}" if r["precision"] == "int8" else computes
        cells = [f"`{r['model']}`", path, computes, f"{median:.0f} / {r['latency_ms']['p90']:.0f}",
                 f"{eager[r['model']] / median:.2f}x" if r["model"] in eager else "-"]
        if original_ms:
            cells.append(f"{original_ms / median:.2f}x" if r["model"] == DEMO_VARIANT else "-")
        accuracy = r["accuracy"]
        if accuracy is None:
            cells += ["-", "-"]
        else:
            cells.append(f"{100 * accuracy['label_agreement']:.2f}%")
            cells.append(f"{100 * accuracy['mean_iou_reference']:.2f} -> {100 * accuracy['mean_iou']:.2f} "
                         f"({100 * (accuracy['mean_iou'] - accuracy['mean_iou_reference']):+.2f})")
        lines.append("| " + " | ".join(cells) + " |")
    measured = next((r["accuracy"]["data"] for _, r in rows if r["accuracy"] is not None), None)
    if measured:
        lines += ["", f"Accuracy: the demo model ({DEMO_VARIANT}) on {measured}, against the same backend in FP32."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
