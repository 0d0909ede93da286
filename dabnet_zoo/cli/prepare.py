"""``dabnet-zoo prepare``: convert a downloaded dataset's labels into the files training reads."""

from __future__ import annotations

import argparse
import os

from ..presets import DATASETS

EXAMPLES = """examples:
  dabnet-zoo prepare cityscapes data/cityscapes --nproc 8
  dabnet-zoo prepare camvid data/CamVid
  dabnet-zoo prepare coco_stuff10k data/coco_stuff10k --nproc 16
  dabnet-zoo prepare coco_stuff164k data/coco_stuff164k --nproc 16

Only new files are written (e.g. *_gtFine_labelTrainIds.png); the download is never modified, and a re-run
skips what is already done. Expected layouts:
  cityscapes      ROOT/leftImg8bit/<split>/<city>/*_leftImg8bit.png, ROOT/gtFine/<split>/<city>/*_gtFine_polygons.json
  camvid          ROOT/images/<split>/*.png, ROOT/annotations/<split>/*_L.png (colour) -> ROOT/TrainID/<split>/
  coco_stuff10k   ROOT/images/*.jpg, ROOT/annotations/*.mat, ROOT/imageLists/{train,test}.txt
  coco_stuff164k  ROOT/images/{train2017,val2017}/*.jpg, ROOT/annotations/{train2017,val2017}/*.png
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare", help="convert a downloaded dataset's labels for training", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", choices=list(DATASETS), help="which dataset ROOT holds")
    parser.add_argument("root", help="the dataset's root folder, as downloaded and unzipped")
    parser.add_argument("--nproc", type=int, default=min(8, os.cpu_count() or 1),
                        help="worker processes (default: CPU count, at most 8)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.prepare import prepare_dataset

    summary = prepare_dataset(args.dataset, args.root, nproc=args.nproc, progress=not args.no_progress)
    print(f"{args.dataset}: {summary}" + (f"; {len(summary.notes)} files with warnings (see above)"
                                           if summary.notes else ""))
    return 0
