"""``dabnet-zoo evaluate``: mIoU of a model on a prepared dataset (one process), or the Cityscapes test-server
export."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  dabnet-zoo evaluate converted/dabnet_r18_p2.cityscapes --data-root data/cityscapes
  dabnet-zoo evaluate converted/dabnet_r18_p2.cityscapes --data-root data/cityscapes --mode slide --crop-size 1024 1024
  dabnet-zoo evaluate converted/dabnet_r18_p2.cityscapes --data-root data/cityscapes --format-only --out submission

MODEL is a save_pretrained folder, a Hub repo id or a zoo name (a zoo name without published weights builds
random ones: useful only to try the command). The default is the original test protocol: whole-image inference
at the dataset's test size. Prints the per-class table. For several GPUs and for the results JSON that the model
cards read, use `accelerate launch recipes/evaluate.py` (same options).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="mIoU on a prepared dataset, or the Cityscapes test-server export", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="save_pretrained folder, Hub repo id or zoo name")
    parser.add_argument("--data-root", required=True, metavar="ROOT", help="the prepared dataset's root folder")
    parser.add_argument("--dataset", help="dataset preset (default: the zoo name's .dataset tag, else cityscapes)")
    parser.add_argument("--split", help="split to evaluate (default: val; test for camvid and --format-only)")
    parser.add_argument("--mode", choices=("whole", "slide", "ms+flip"), default="whole",
                        help="inference mode (default: whole, the original protocol)")
    parser.add_argument("--crop-size", type=int, nargs=2, metavar=("H", "W"),
                        help="slide: window size (default: the dataset's training crop)")
    parser.add_argument("--stride", type=int, nargs=2, metavar=("H", "W"),
                        help="slide: window step (default: two thirds of the crop)")
    parser.add_argument("--scales", type=float, nargs="+", metavar="S",
                        help="ms+flip: scale factors (default: 0.5 0.75 1.0 1.25 1.5 1.75)")
    parser.add_argument("--no-flip", action="store_true", help="ms+flip: no mirrored passes")
    parser.add_argument("--test-size", type=int, nargs=2, metavar=("H", "W"),
                        help="override the dataset's test size (faster, but not the original protocol)")
    parser.add_argument("--batch-size", type=int, default=1, metavar="N", help="images per step (default 1)")
    parser.add_argument("--num-workers", type=int, default=2, help="data-loading workers (default 2)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--format-only", action="store_true",
                        help="Cityscapes: write test-server PNGs and a zip instead of computing metrics")
    parser.add_argument("--out", metavar="DIR", help="--format-only: folder for the PNGs")
    parser.add_argument("--zip", metavar="FILE", help="--format-only: the archive (default: <out>.zip)")
    parser.add_argument("--overwrite", action="store_true", help="--format-only: replace existing PNGs and zip")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..data import TestTransform, create_dataset
    from ..errors import InputError
    from ..evaluation import DEFAULT_SCALES, evaluate_model, export_cityscapes_submission, format_results_table
    from ..presets import DATASETS, get_dataset_preset
    from ..zoo import load_model

    tag = str(args.model).partition(".")[2] if not Path(args.model).exists() else ""
    dataset = args.dataset or (tag if tag in DATASETS else "cityscapes")
    preset = get_dataset_preset(dataset)
    if args.format_only and not args.out:
        raise InputError("--format-only needs --out DIR.")
    transform = TestTransform.from_preset(dataset, **({"size": tuple(args.test_size)} if args.test_size else {}))
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = load_model(args.model, dataset).to(device)
    options = dict(
        batch_size=args.batch_size, mode=args.mode, scales=args.scales or DEFAULT_SCALES, flip=not args.no_flip,
        crop_size=tuple(args.crop_size or preset.train_crop_size), stride=tuple(args.stride) if args.stride else None,
        num_workers=args.num_workers, progress=not args.no_progress,
    )
    if args.format_only:
        if dataset != "cityscapes":
            raise InputError(f"--format-only writes the Cityscapes test-server format; got --dataset {dataset}.")
        out = Path(args.out)
        zip_path = Path(args.zip) if args.zip else out.with_name(out.name + ".zip")
        submission = export_cityscapes_submission(model, args.data_root, out, zip_path, split=args.split or "test",
                                                  transform=transform, overwrite=args.overwrite, **options)
        print(f"Wrote {submission.num_images} PNGs to {submission.png_dir} and {submission.zip_path}.")
        return 0
    split = args.split or ("test" if dataset == "camvid" else "val")
    results = evaluate_model(model, create_dataset(dataset, args.data_root, split, transform=transform), **options)
    print(format_results_table(results))
    print(f"{results['num_images']} images, {dataset} {split}, {args.mode} mode")
    return 0


__all__ = ["EXAMPLES", "register", "run"]
