"""COCO-Stuff-10k (``.mat``) and COCO-Stuff-164k (``stuffthingmaps``) → 171-class ``*_labelTrainIds.png``.

Both follow mmseg's standard scripts, which the original uses (docs/architecture.md §9.3-9.4). COCO-Stuff numbers 182
classes, but 11 COCO "thing" ids were never used; the table drops them and renumbers the rest in order:

* **10k** (cocostuff-10k-v1.1): ``S`` in ``annotations/<name>.mat`` holds 0 = unlabelled and ids 1..182;
  0 stays 0 and the 171 used ids become 1..171. Training reads these files with ``reduce_zero_label=True``
  (0 → 255, v → v − 1), giving 0..170.
* **164k** (stuffthingmaps_trainval2017): PNGs hold 0-based ids 0..181 and 255 = unlabelled; the 171 used ids
  become 0..170 and 255 stays. ``reduce_zero_label=False``.

One deliberate difference: the original leaves an id that is not in its table unchanged (it would then be read
as some other class); we write 255 (ignored) and log how many pixels of which file were affected. Such ids do
not occur in the official releases. The original also asserts the official file counts (10,000 / 123,287); we
only warn, so subsets and test trees work.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError
from .conversion import ConversionSummary, ConversionTask, require_directory, run_conversions, split_label_files

logger = logging.getLogger(__name__)

LABEL_SUFFIX = "_labelTrainIds.png"

# The 11 unused COCO thing ids, 1-based (10k .mat files) and 0-based (164k stuffthingmaps).
UNUSED_IDS_10K = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91)
UNUSED_IDS_164K = tuple(i - 1 for i in UNUSED_IDS_10K)

COCO_STUFF10K_LAYOUT = """  ROOT/images/<name>.jpg
  ROOT/annotations/<name>.mat      (field S: 0 = unlabelled, 1..182)
  ROOT/imageLists/train.txt, ROOT/imageLists/test.txt   (one <name> per line)
(unzip cocostuff-10k-v1.1.zip into ROOT)"""
COCO_STUFF164K_LAYOUT = """  ROOT/images/{train2017,val2017}/<name>.jpg
  ROOT/annotations/{train2017,val2017}/<name>.png   (stuffthingmaps: ids 0..181, 255 unlabelled)
(unzip train2017.zip and val2017.zip into ROOT/images, stuffthingmaps_trainval2017.zip into ROOT/annotations)"""

_SPLITS_10K = {"train": "train2014", "test": "test2014"}
_SPLITS_164K = ("train2017", "val2017")
_EXPECTED_10K = 10_000
_EXPECTED_164K = 123_287


def _lookup_table(used: list[int], first_train_id: int, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """A 256-entry table (``used`` ids in order → first_train_id, first_train_id + 1, …; ``keep`` → itself;
    everything else → 255) and the ids it defines (any other id is "not in the table" and is reported)."""
    table = np.full(256, 255, dtype=np.uint8)
    table[used] = np.arange(first_train_id, first_train_id + len(used))
    table[keep] = keep
    return table, np.array([keep, *used])


_USED_IDS_10K = [i for i in range(1, 183) if i not in UNUSED_IDS_10K]
# 10k: 0 → 0, ids 1..182 without the unused → 1..171.  164k: ids 0..181 without the unused → 0..170, 255 → 255.
COCO_STUFF10K_TABLE, _KNOWN_10K = _lookup_table(_USED_IDS_10K, first_train_id=1, keep=0)
COCO_STUFF164K_TABLE, _KNOWN_164K = _lookup_table([i - 1 for i in _USED_IDS_10K], first_train_id=0, keep=255)


def remap_coco_stuff(ids: np.ndarray, table: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, int]:
    """Apply ``table`` to an integer id map; return the uint8 result and how many pixels had an unknown id."""
    ids = np.asarray(ids)
    unknown = int(np.count_nonzero(~np.isin(ids, known)))
    # Out-of-range ids (> 255, negative) go to 255 too instead of wrapping around in a uint8 cast.
    in_range = (ids >= 0) & (ids <= 255)
    result = np.where(in_range, table[np.clip(ids, 0, 255).astype(np.intp)], np.uint8(255)).astype(np.uint8)
    return result, unknown


def _save_label(label: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(label).save(path, format="PNG")


def _unknown_note(source: Path, unknown: int) -> str | None:
    return f"{source}: {unknown} pixels with ids outside the COCO-Stuff table were set to 255" if unknown else None


def _mat_to_train_ids(source: Path, temporary_output: Path) -> str | None:
    from scipy.io import loadmat

    annotation = loadmat(str(source))
    if "S" not in annotation:
        fields = sorted(k for k in annotation if not k.startswith("__"))
        raise InputError(f"no field 'S' in the .mat file (fields: {fields}); is this a cocostuff-10k annotation?")
    label, unknown = remap_coco_stuff(annotation["S"], COCO_STUFF10K_TABLE, _KNOWN_10K)
    _save_label(label, temporary_output)
    return _unknown_note(source, unknown)


def _stuffthingmap_to_train_ids(source: Path, temporary_output: Path) -> str | None:
    from PIL import Image

    with Image.open(source) as image:
        if image.mode not in ("L", "P", "I", "I;16"):
            raise InputError(f"expected a single-channel id map, got a {image.mode} image")
        ids = np.asarray(image)
    label, unknown = remap_coco_stuff(ids, COCO_STUFF164K_TABLE, _KNOWN_164K)
    _save_label(label, temporary_output)
    return _unknown_note(source, unknown)


def _copy_file(source: Path, temporary_output: Path) -> None:
    shutil.copyfile(source, temporary_output)


def coco_stuff10k_tasks(root: str | Path) -> list[ConversionTask]:
    """Copy each listed image to ``images/<split>2014/`` and write its ``annotations/<split>2014/`` label."""
    root = Path(root)
    images = require_directory(root / "images", COCO_STUFF10K_LAYOUT)
    annotations = require_directory(root / "annotations", COCO_STUFF10K_LAYOUT)
    lists = require_directory(root / "imageLists", COCO_STUFF10K_LAYOUT)
    tasks: list[ConversionTask] = []
    missing: list[str] = []
    total = 0
    for list_name, split in _SPLITS_10K.items():
        list_file = lists / f"{list_name}.txt"
        if not list_file.is_file():
            raise InputError(f"Expected file {list_file} does not exist. The dataset root must look like:\n"
                             f"{COCO_STUFF10K_LAYOUT}")
        names = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
        total += len(names)
        for name in names:
            image, mat = images / f"{name}.jpg", annotations / f"{name}.mat"
            missing += [str(p) for p in (image, mat) if not p.is_file()]
            tasks.append(ConversionTask(image, images / split / image.name, _copy_file))
            tasks.append(ConversionTask(mat, annotations / split / f"{name}{LABEL_SUFFIX}", _mat_to_train_ids))
    if missing:
        raise InputError(f"{len(missing)} files named in {lists} are missing, e.g. {', '.join(missing[:5])}. "
                         f"The dataset root must look like:\n{COCO_STUFF10K_LAYOUT}")
    if total != _EXPECTED_10K:
        logger.warning("imageLists name %d images; the full COCO-Stuff-10k has %d (converting what is listed).",
                       total, _EXPECTED_10K)
    return tasks


def coco_stuff164k_tasks(root: str | Path) -> list[ConversionTask]:
    """One task per stuffthingmap PNG in ``annotations/{train2017,val2017}``; the output sits next to it."""
    # Our own outputs live in the same folders: never take them as inputs on a re-run.
    by_split = split_label_files(Path(root), _SPLITS_164K, COCO_STUFF164K_LAYOUT, "stuffthingmap PNGs",
                                 exclude_suffix=LABEL_SUFFIX)
    tasks = [ConversionTask(p, p.with_name(p.name.split(".", 1)[0] + LABEL_SUFFIX), _stuffthingmap_to_train_ids)
             for maps in by_split.values() for p in maps]
    if len(tasks) != _EXPECTED_164K:
        logger.warning("Found %d label maps; the full COCO-Stuff-164k has %d (converting what is there).",
                       len(tasks), _EXPECTED_164K)
    return tasks


def prepare_coco_stuff10k(root: str | Path, nproc: int = 1, progress: bool = True) -> ConversionSummary:
    """Copy images into ``images/{train2014,test2014}`` and write ``annotations/{train2014,test2014}/
    <name>_labelTrainIds.png`` (0 = unlabelled, 1..171); the release's own files are left as they are."""
    return run_conversions(coco_stuff10k_tasks(root), nproc=nproc, description="coco-stuff-10k",
                           progress=progress)


def prepare_coco_stuff164k(root: str | Path, nproc: int = 1, progress: bool = True) -> ConversionSummary:
    """Write ``<name>_labelTrainIds.png`` (0..170, 255) next to every stuffthingmap PNG."""
    return run_conversions(coco_stuff164k_tasks(root), nproc=nproc, description="coco-stuff-164k",
                           progress=progress)


__all__ = [
    "COCO_STUFF10K_LAYOUT",
    "COCO_STUFF10K_TABLE",
    "COCO_STUFF164K_LAYOUT",
    "COCO_STUFF164K_TABLE",
    "LABEL_SUFFIX",
    "UNUSED_IDS_10K",
    "UNUSED_IDS_164K",
    "coco_stuff10k_tasks",
    "coco_stuff164k_tasks",
    "prepare_coco_stuff10k",
    "prepare_coco_stuff164k",
    "remap_coco_stuff",
]
