"""Time the streaming mIoU metric's update on full-resolution Cityscapes-sized maps (1024×2048) on one CPU core.

Target (issue 5): at least 50 images per second for the update itself. For comparison it also times the local
`evaluate` module and, on a couple of maps, a Hub-style path (both maps PNG-encoded through ``datasets.Image()``
as the Hub's ``mean_iou`` stores them, then per-image histograms).

Usage::

    python benchmarks/metric_update.py                 # writes benchmarks/results/metric_update.json
    python benchmarks/metric_update.py --repeats 9 --no-hub-style

Each figure is the median over ``--repeats`` runs of ``--images`` distinct image pairs. Wall time and the
thread's CPU time are both recorded: on a shared machine the CPU time is the steadier of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from dabnet_zoo.fileio import write_atomic

HEIGHT, WIDTH = 1024, 2048
NUM_LABELS = 19
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "metric_update.json"


def make_maps(count: int, seed: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Label maps as read from PNGs (uint8, 10 % ignored) and argmax-like predictions (int64, 70 % correct)."""
    generator = torch.Generator().manual_seed(seed)
    predictions, labels = [], []
    for _ in range(count):
        label = torch.randint(0, NUM_LABELS, (HEIGHT, WIDTH), generator=generator, dtype=torch.uint8)
        noise = torch.randint(0, NUM_LABELS, (HEIGHT, WIDTH), generator=generator)
        correct = torch.rand(HEIGHT, WIDTH, generator=generator) < 0.7
        predictions.append(torch.where(correct, label.long(), noise))
        label[torch.rand(HEIGHT, WIDTH, generator=generator) < 0.1] = 255
        labels.append(label)
    return predictions, labels


def measure(run: Callable[[], None], images: int, repeats: int) -> dict[str, float]:
    run()  # warm-up: first-touch page faults, lazy initialisation
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.thread_time()
        run()
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    wall_s, cpu_s = statistics.median(wall), statistics.median(cpu)
    return {
        "images_per_s": round(images / wall_s, 1),
        "ms_per_image": round(1000 * wall_s / images, 2),
        "cpu_ms_per_image": round(1000 * cpu_s / images, 2),
        "images_per_cpu_s": round(images / cpu_s, 1),
        "runs": repeats,
        "images_per_run": images,
    }


def hub_style_run(predictions: list[torch.Tensor], labels: list[torch.Tensor]) -> Callable[[], None]:
    """The Hub metric's cost model: both maps PNG-encoded into Arrow via datasets.Image(), decoded, histogrammed."""
    import datasets

    features = datasets.Features({"predictions": datasets.Image(), "references": datasets.Image()})

    def run() -> None:
        totals = np.zeros((3, NUM_LABELS))
        for pred, label in zip(predictions, labels):
            # The Hub metric receives int64 maps and casts them to int32 before PNG encoding.
            encoded = features.encode_example(
                {"predictions": pred.numpy().astype(np.int32), "references": label.numpy()}
            )
            decoded = features.decode_example(encoded)
            p, t = np.asarray(decoded["predictions"]), np.asarray(decoded["references"]).astype(np.int64)
            keep = t != 255
            p, t = p[keep], t[keep]
            bins = dict(bins=NUM_LABELS, range=(0, NUM_LABELS - 1))
            totals[0] += np.histogram(p[p == t], **bins)[0]
            totals[1] += np.histogram(p, **bins)[0]
            totals[2] += np.histogram(t, **bins)[0]

    return run


def machine() -> dict[str, object]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="distinct image pairs per timed run")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs; the median is reported")
    parser.add_argument("--hub-style-images", type=int, default=2, help="maps for the slow Hub-style path")
    parser.add_argument("--no-hub-style", action="store_true", help="skip the Hub-style comparison")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    from dabnet_zoo.metrics import ConfusionMatrixMeter

    info = machine()
    predictions, labels = make_maps(args.images)
    meter = ConfusionMatrixMeter(NUM_LABELS)

    def update_each() -> None:
        for pred, label in zip(predictions, labels):
            meter.update(pred, label)

    predictions_uint8 = [pred.to(torch.uint8) for pred in predictions]

    def update_each_uint8() -> None:
        for pred, label in zip(predictions_uint8, labels):
            meter.update(pred, label)

    batch_predictions, batch_labels = torch.stack(predictions), torch.stack(labels)

    def per_sample_batch() -> None:
        meter.update_from_confusion_matrices(meter.confusion_matrices(batch_predictions, batch_labels))

    results: dict[str, object] = {
        "update_int64_predictions_uint8_labels": measure(update_each, args.images, args.repeats),
        "update_uint8_predictions_uint8_labels": measure(update_each_uint8, args.images, args.repeats),
        "per_sample_matrices_whole_batch": measure(per_sample_batch, args.images, args.repeats),
    }

    try:
        import evaluate

        from dabnet_zoo.evaluate_metric import MEAN_IOU_PATH

        metric = evaluate.load(MEAN_IOU_PATH, keep_in_memory=True)

        def local_evaluate() -> None:
            metric.compute(predictions=predictions, references=labels, num_labels=NUM_LABELS, ignore_index=255)

        results["local_evaluate_module_compute"] = measure(local_evaluate, args.images, max(3, args.repeats // 2))
    except ImportError as error:
        results["local_evaluate_module_compute"] = f"skipped: {error}"

    if not args.no_hub_style:
        try:
            count = args.hub_style_images
            run = hub_style_run(predictions[:count], labels[:count])
            results["hub_style_png_through_arrow"] = measure(run, count, 3)
        except ImportError as error:
            results["hub_style_png_through_arrow"] = f"skipped: {error}"

    report = {
        "benchmark": "metric update, 1024x2048 maps, 19 classes, 10% ignored pixels",
        "target_images_per_s": 50,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": info,
        "results": results,
    }
    write_atomic(args.output, json.dumps(report, indent=2) + "\n")

    for name, figures in results.items():
        if isinstance(figures, dict):
            print(
                f"{name:<42} {figures['images_per_s']:>8.1f} images/s  ({figures['ms_per_image']:.2f} ms wall, "
                f"{figures['cpu_ms_per_image']:.2f} ms CPU per image)"
            )
        else:
            print(f"{name:<42} {figures}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
