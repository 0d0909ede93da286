"""Cityscapes: polygon annotations → ``*_gtFine_labelTrainIds.png`` (19 classes, 255 ignore; see
docs/architecture.md §9.1).

This is what the original's ``tools/convert_datasets/cityscapes.py`` (mmseg's standard script) does: every
``gtFine/<split>/<city>/*_gtFine_polygons.json`` is drawn with cityscapesscripts' ``json2labelImg(...,
"trainIds")``, so the label table is the official one (background and every class without a train id are 255,
the license plate is not drawn). The split lists (``train.txt`` …) that script also writes are not produced:
no config reads them.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

from ..errors import InputError
from .conversion import ConversionSummary, ConversionTask, require_directory, run_conversions

logger = logging.getLogger(__name__)

POLYGONS_SUFFIX = "_gtFine_polygons.json"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"

CITYSCAPES_LAYOUT = """  ROOT/leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
  ROOT/gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_polygons.json
(unzip leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from cityscapes-dataset.com into ROOT)"""


def _polygons_to_train_ids(source: Path, temporary_output: Path) -> None:
    """Draw one polygon file with the official table; turn cityscapesscripts' sys.exit into a real error."""
    from cityscapesscripts.preparation.json2labelImg import json2labelImg

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            json2labelImg(str(source), str(temporary_output), "trainIds")
    except SystemExit:
        first_line = printed.getvalue().strip().splitlines()[:1]
        raise InputError(
            f"cityscapesscripts rejected the file ({first_line[0] if first_line else 'unknown error'}); "
            "only labels from cityscapesscripts.helpers.labels are allowed"
        ) from None


def cityscapes_tasks(root: str | Path) -> list[ConversionTask]:
    """One task per polygon file under ``ROOT/gtFine``; the output sits next to it."""
    root = Path(root)
    gt_dir = require_directory(root / "gtFine", CITYSCAPES_LAYOUT)
    polygon_files = sorted(p for p in gt_dir.glob(f"*/*/*{POLYGONS_SUFFIX}") if not p.name.startswith("."))
    if not polygon_files:
        raise InputError(
            f"No *{POLYGONS_SUFFIX} files in {gt_dir}/<split>/<city>/. The dataset root must look like:\n"
            f"{CITYSCAPES_LAYOUT}"
        )
    if not (root / "leftImg8bit").is_dir():
        logger.warning("%s is missing: labels will be prepared, but training also needs the images.",
                       root / "leftImg8bit")
    return [
        ConversionTask(path, path.with_name(path.name[: -len(POLYGONS_SUFFIX)] + TRAIN_IDS_SUFFIX),
                       _polygons_to_train_ids)
        for path in polygon_files
    ]


def prepare_cityscapes(root: str | Path, nproc: int = 1, progress: bool = True) -> ConversionSummary:
    """Write ``*_gtFine_labelTrainIds.png`` next to every ``*_gtFine_polygons.json`` under ``ROOT/gtFine``.

    Existing outputs are skipped (re-runs are cheap); nothing the download contains is modified.
    """
    return run_conversions(cityscapes_tasks(root), nproc=nproc, description="cityscapes labelTrainIds",
                           progress=progress)


__all__ = ["CITYSCAPES_LAYOUT", "POLYGONS_SUFFIX", "TRAIN_IDS_SUFFIX", "cityscapes_tasks", "prepare_cityscapes"]
