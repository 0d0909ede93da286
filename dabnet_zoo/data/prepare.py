"""``prepare_dataset(name, root)``: turn a downloaded dataset into the label files training reads.

One entry point for the four datasets (the ``dabnet-zoo prepare`` command maps onto it); each dataset's
rules live in its own ``prepare_<dataset>.py`` and all share the loop in :mod:`.conversion`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError, UnknownModelError, unknown_name_message
from .conversion import ConversionSummary
from .prepare_camvid import prepare_camvid
from .prepare_cityscapes import prepare_cityscapes
from .prepare_coco_stuff import prepare_coco_stuff10k, prepare_coco_stuff164k

logger = logging.getLogger(__name__)

PREPARERS: dict[str, Callable[..., ConversionSummary]] = {
    "cityscapes": prepare_cityscapes,
    "camvid": prepare_camvid,
    "coco_stuff10k": prepare_coco_stuff10k,
    "coco_stuff164k": prepare_coco_stuff164k,
}


def prepare_dataset(dataset: str, root: str | Path, nproc: int = 1, progress: bool = True) -> ConversionSummary:
    """Convert the labels of a downloaded dataset in place (new files only; originals are never changed).

    Args:
        dataset: ``cityscapes``, ``camvid``, ``coco_stuff10k`` or ``coco_stuff164k``.
        root: the dataset's root folder, laid out as downloaded (each ``prepare_<dataset>`` module documents it).
        nproc: worker processes.
        progress: show a progress bar.

    Returns:
        What was written and what was already there (a re-run writes nothing).
    """
    if dataset not in PREPARERS:
        raise UnknownModelError(unknown_name_message("dataset", dataset, PREPARERS))
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"Dataset root {root} does not exist or is not a folder.")
    summary = PREPARERS[dataset](root, nproc=nproc, progress=progress)
    logger.info("%s: %s", dataset, summary)
    return summary


__all__ = ["PREPARERS", "prepare_dataset"]
