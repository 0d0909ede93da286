"""Cityscapes helpers: trainId ↔ labelId conversion and the test-server submission (PNGs, check, zip).

The model predicts the 19 Cityscapes *trainIds*; the official tools and the test server read *labelIds* (road is
7, not 0). Both conversions come from ``cityscapesscripts.helpers.labels``, the table the official evaluation
uses, so they cannot drift from it. The submission follows what the original writes with ``--format-only``
(docs/architecture.md §8.2): one 8-bit palette PNG of labelIds per test image, named
``<image basename without extension>.png`` (``berlin_000000_000019_leftImg8bit.png``), all in one folder, then
zipped flat.

Every file is written with :func:`dabnet_zoo.fileio.atomic_file`, so an interrupted export never leaves a
half-written PNG or zip; existing files are never replaced unless ``overwrite=True``.
Several processes may write PNGs into the same folder (distributed ``--format-only``); check and zip once at the
end, on the main process.

``cityscapesscripts`` is an optional dependency (``pip install "dabnet-zoo[eval]"``), imported when first needed.
"""

from __future__ import annotations

import functools
import os
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import InputError, OutputExistsError
from .fileio import atomic_file

SUBMISSION_SUFFIX = ".png"
_LISTED = 10  # names shown per list in error messages


# --------------------------------------------------------------------------------------------------------------
# Label tables
# --------------------------------------------------------------------------------------------------------------


@functools.cache
def _tables() -> dict[str, np.ndarray]:
    """Lookup tables over 0..255 built from cityscapesscripts' label list (with validity masks)."""
    try:
        from cityscapesscripts.helpers import labels as cs_labels
    except ImportError:
        raise ImportError(
            "The Cityscapes helpers need cityscapesscripts; install it with: pip install \"dabnet-zoo[eval]\""
        ) from None
    train_to_label = np.zeros(256, dtype=np.uint8)
    train_known = np.zeros(256, dtype=bool)
    for train_id, label in cs_labels.trainId2label.items():
        if 0 <= train_id <= 255:  # 255 → "unlabeled" (id 0), as the original's conversion does
            train_to_label[train_id] = label.id
            train_known[train_id] = True
    label_to_train = np.full(256, 255, dtype=np.uint8)
    label_known = np.zeros(256, dtype=bool)
    palette = np.zeros((256, 3), dtype=np.uint8)
    for label_id, label in cs_labels.id2label.items():
        if 0 <= label_id <= 255:  # the license plate's id is -1 and never appears in a label image
            label_to_train[label_id] = label.trainId if 0 <= label.trainId < 255 else 255
            label_known[label_id] = True
            palette[label_id] = label.color
    return {
        "train_to_label": train_to_label,
        "train_known": train_known,
        "label_to_train": label_to_train,
        "label_known": label_known,
        "palette": palette,
    }


def _as_uint8_map(values: Any, what: str) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, possibly on a GPU; avoids importing torch here
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 2:
        raise InputError(f"Expected an H×W map of {what}; got shape {array.shape}.")
    if array.dtype.kind not in "iub":
        raise InputError(f"Expected integer {what}; got dtype {array.dtype}. Take the argmax of the logits first.")
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InputError(f"{what.capitalize()} must lie in 0..255; got values from {array.min()} to {array.max()}.")
        array = array.astype(np.uint8)
    return array


def _lookup(array: np.ndarray, table: np.ndarray, known: np.ndarray, what: str) -> np.ndarray:
    if not known[array].all():
        bad = np.unique(array[~known[array]]).tolist()
        raise InputError(f"Unknown Cityscapes {what} {bad[:_LISTED]}; valid ones are {np.flatnonzero(known).tolist()}.")
    return table[array]


def train_ids_to_label_ids(train_ids: Any) -> np.ndarray:
    """Convert an H×W map of trainIds (0..18, or 255) into Cityscapes labelIds (uint8), as the server expects."""
    tables = _tables()
    return _lookup(_as_uint8_map(train_ids, "trainIds"), tables["train_to_label"], tables["train_known"], "trainIds")


def label_ids_to_train_ids(label_ids: Any) -> np.ndarray:
    """Convert an H×W map of Cityscapes labelIds into trainIds (uint8; classes ignored in evaluation → 255).

    This is the ground truth our metric compares with; it gives the same per-class IoU as the official
    ``evalPixelLevelSemanticLabeling`` on the labelId images.
    """
    tables = _tables()
    return _lookup(_as_uint8_map(label_ids, "labelIds"), tables["label_to_train"], tables["label_known"], "labelIds")


def label_id_palette() -> list[int]:
    """The flat 768-entry RGB palette of the Cityscapes labelIds (official colours), for 'P' mode PNGs."""
    return _tables()["palette"].reshape(-1).tolist()


# --------------------------------------------------------------------------------------------------------------
# Submission
# --------------------------------------------------------------------------------------------------------------


def submission_file_name(image_path: str | os.PathLike[str]) -> str:
    """The server's name for an image's prediction: ``<image basename without extension>.png``."""
    return Path(image_path).stem + SUBMISSION_SUFFIX


def write_submission_png(
    train_ids: Any, image_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write one test-server PNG: the prediction's labelIds as an 8-bit palette image.

    Args:
        train_ids: H×W predicted trainIds (array or tensor) at the image's full resolution (1024×2048).
        image_path: the test image the prediction belongs to; only its name is used.
        out_dir: the submission folder (created if missing).
        overwrite: replace an existing file of the same name instead of raising :class:`OutputExistsError`.

    Returns:
        The path of the written PNG.
    """
    label_ids = train_ids_to_label_ids(train_ids)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / submission_file_name(image_path)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} already exists. Choose an empty output folder or pass overwrite=True.")
    image = Image.fromarray(label_ids)
    image.putpalette(label_id_palette())  # 'L' → 'P': the colours only help people looking at the files
    with atomic_file(target, overwrite=overwrite) as temporary:
        image.save(temporary, format="PNG")
    return target


def find_test_images(cityscapes_root: str | os.PathLike[str], split: str = "test") -> list[Path]:
    """List ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` under a Cityscapes root, sorted by file name."""
    folder = Path(cityscapes_root) / "leftImg8bit" / split
    images = sorted(folder.glob("*/*_leftImg8bit.png"), key=lambda path: path.name)
    if not images:
        raise InputError(f"No Cityscapes images found in {folder}/<city>/*_leftImg8bit.png. Is the root right?")
    return images


def check_submission(
    png_dir: str | os.PathLike[str], image_paths: Iterable[str | os.PathLike[str]]
) -> list[Path]:
    """Check that ``png_dir`` holds exactly one submission PNG per test image, and nothing else.

    Returns:
        The PNG paths, in the order of ``image_paths``.

    Raises:
        InputError: listing the missing and the unexpected files (and duplicate image names, if any).
    """
    folder = Path(png_dir)
    names = [submission_file_name(path) for path in image_paths]
    if not names:
        raise InputError("No test images were given to check the submission against.")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    found = {path.name for path in folder.glob(f"*{SUBMISSION_SUFFIX}") if not path.name.startswith(".")}
    missing = sorted(set(names) - found)
    extra = sorted(found - set(names))
    if duplicates or missing or extra:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing: {_listing(missing)}")
        if extra:
            problems.append(f"{len(extra)} unexpected: {_listing(extra)}")
        if duplicates:
            problems.append(f"{len(duplicates)} image names occur twice: {_listing(duplicates)}")
        raise InputError(
            f"The submission in {folder} does not match the {len(set(names))} test images; "
            + "; ".join(problems)
            + ". Re-run the export for the missing images and remove the unexpected files."
        )
    return [folder / name for name in names]


def zip_submission(
    png_dir: str | os.PathLike[str],
    zip_path: str | os.PathLike[str],
    *,
    image_paths: Sequence[str | os.PathLike[str]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Zip the submission PNGs flat (no folders inside the archive), ready to upload.

    Args:
        png_dir: the folder :func:`write_submission_png` wrote into.
        zip_path: the archive to create.
        image_paths: the test images; when given, :func:`check_submission` runs first, so an incomplete
            submission is never zipped. Without it, every ``*.png`` in ``png_dir`` goes in.
        overwrite: replace an existing archive instead of raising :class:`OutputExistsError`.

    Returns:
        The path of the archive.
    """
    folder = Path(png_dir)
    if image_paths is not None:
        files = check_submission(folder, image_paths)
    else:
        files = sorted(path for path in folder.glob(f"*{SUBMISSION_SUFFIX}") if not path.name.startswith("."))
        if not files:
            raise InputError(f"No submission PNGs in {folder}; write them with write_submission_png first.")
    target = Path(zip_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} already exists. Choose another name or pass overwrite=True.")
    with atomic_file(target, overwrite=overwrite) as temporary:
        # PNGs are already deflate-compressed; storing them is as small and much faster.
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED) as archive:
            for path in files:
                archive.write(path, arcname=path.name)
    return target


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f", … and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


__all__ = [
    "OutputExistsError",
    "SUBMISSION_SUFFIX",
    "check_submission",
    "find_test_images",
    "label_id_palette",
    "label_ids_to_train_ids",
    "submission_file_name",
    "train_ids_to_label_ids",
    "write_submission_png",
    "zip_submission",
]
