"""Peak memory of ``dabnet-zoo predict`` on a 24-megapixel photo with a 171-class (COCO-Stuff) model.

The original's post-processing resizes every class's logits to the full image before the argmax: 171 classes x
6000 x 4000 pixels x 4 bytes is 16.4 GB for the resized scores alone. dabnet-zoo computes the same labels in
groups of classes (``dabnet_zoo.image_processing_dabnet.logits_to_label_map``); this script measures what a
whole ``predict()`` call on such a photo takes (target: under 2 GB). It reports, it does not time-test.

Usage::

    python benchmarks/predict_memory.py                    # writes benchmarks/results/predict_memory.json
    python benchmarks/predict_memory.py --size 4000x6000 --no-save

Each measurement runs in a fresh process (Linux: peak resident set size from ``/proc/self/status``, ``VmHWM``),
so the figures do not depend on what ran before: the process imports dabnet-zoo, builds the model (random
weights: weights do not change memory) and writes the photo (a JPEG of smooth noise), then resets its peak and
calls ``predict()`` on the photo, writing label, colour and overlay PNGs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "predict_memory.json"
MODEL = "dabnet_r18_p2.coco_stuff10k"
LIMIT_MB = 2048


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: peak since start or the last reset), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status (this script needs Linux)")


def measure(height: int, width: int, threads: int) -> dict:
    """In this process: set up, reset the peak, run predict() on one photo; the memory figures in MB."""
    import numpy as np
    import torch
    from PIL import Image

    from dabnet_zoo import create_model, create_processor
    from dabnet_zoo.predict import predict

    torch.set_num_threads(threads)
    model = create_model(MODEL).eval()
    processor = create_processor("coco_stuff10k")
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "photo.jpg"
        rng = np.random.default_rng(0)
        coarse = rng.integers(0, 256, (height // 64 + 1, width // 64 + 1, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR).save(photo, quality=90)
        del coarse
        before = _status_mb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        summary = predict(model, [photo], Path(folder) / "out", processor=processor, device="cpu", progress=False)
        peak = _status_mb("VmHWM")
        if summary.num_segmented != 1:
            raise RuntimeError(f"predict() did not segment the photo: {summary.skipped}")
        labels = np.asarray(Image.open(Path(folder) / "out" / "labels" / "photo.png"))
    return {
        "rss_before_predict_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
        "predict_increase_mb": round(peak - before, 1),
        "label_map_shape": list(labels.shape),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="4000x6000", help="photo HEIGHTxWIDTH (default 4000x6000, 24 MP)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the results JSON")
    parser.add_argument("--no-save", action="store_true", help="print only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    height, width = (int(side) for side in args.size.lower().split("x"))
    if args.child:
        print(json.dumps(measure(height, width, args.threads)))
        return 0

    child = subprocess.run([sys.executable, __file__, "--child", "--size", args.size, "--threads", str(args.threads)],
                           capture_output=True, text=True, check=True)
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    num_classes = 171
    one_shot_gb = num_classes * height * width * 4 / 1e9
    record = {
        "what": "peak resident memory of predict() on one photo with a 171-class model (labels, colour, overlay)",
        "model": MODEL,
        "photo": f"{height}x{width} JPEG ({height * width / 1e6:.1f} MP)",
        **figures,
        "one_shot_resized_scores_gb": round(one_shot_gb, 1),
        "limit_mb": LIMIT_MB,
        "within_limit": figures["peak_rss_mb"] < LIMIT_MB,
        "command": " ".join(["python benchmarks/predict_memory.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "threads": args.threads,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print(json.dumps(record, indent=2))
    if not args.no_save:
        from dabnet_zoo.fileio import write_atomic

        write_atomic(args.output, json.dumps(record, indent=2) + "\n")
        print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
