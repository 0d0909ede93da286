"""CamVid: 32-class colour labels → the 11-class index maps the original trains on (docs/architecture.md §9.2).

The mapping is the original converter's (``tools/convert_datasets/camvid.py``), kept exactly so our labels
equal the ones its models were trained and evaluated on:

=====  ============  ===============
index  class         RGB (exact)
=====  ============  ===============
0      Sky           128, 128, 128
1      Building      128, 0, 0
2      Column-Pole   192, 192, 128
3      Road          128, 64, 128
4      Sidewalk      0, 0, 192
5      Tree          128, 128, 0
6      Sign-Symbol   192, 128, 128
7      Fence         64, 64, 128
8      Car           64, 0, 128
9      Pedestrain    64, 64, 0
10     Bicyclist     0, 128, 192
=====  ============  ===============

Every other colour becomes 255 (ignored). That includes "Void" (0, 0, 0) *and the other 21 CamVid classes*:
the original does not merge sub-classes into the 11, unlike the common SegNet-style 11-class CamVid (which
folds LaneMkgsDriv into Road, SUVPickupTruck into Car, Child into Pedestrian, VegetationMisc into Tree, …);
here all of those stay ignored. Models trained this way never see
those pixels; if you want the merged convention, convert with your own table instead. Other problems of the
original script that this one fixes: hard-coded absolute paths and a 720×960 size (we use each file's size),
per-pixel Python loops (we match colours vectorised), and a float64 array written with OpenCV (we write uint8).

Layout, as the original's dataset config expects (``images`` and ``annotations`` are the inputs)::

    ROOT/images/{train,val,test}/<name>.png         (e.g. 0001TP_006690.png)
    ROOT/annotations/{train,val,test}/<name>_L.png  (colour labels, e.g. 0001TP_006690_L.png)
    ROOT/TrainID/{train,val,test}/<name>_L_TrainID.png   ← written here
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..presets import DATASETS
from .conversion import ConversionSummary, ConversionTask, run_conversions, split_label_files

CAMVID_SPLITS = ("train", "val", "test")
CAMVID_LAYOUT = """  ROOT/images/{train,val,test}/<name>.png
  ROOT/annotations/{train,val,test}/<name>_L.png   (CamVid's colour-coded labels)
(for the Kaggle copy: move train/ -> images/train/ and train_labels/ -> annotations/train/, same for val, test)"""

# The converter's colours are the preset's palette (one table, docs/architecture.md §9.2).
CAMVID_COLOURS: tuple[tuple[int, int, int], ...] = DATASETS["camvid"].palette
_IGNORE = DATASETS["camvid"].ignore_index


def _pack_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


# The packed colours in sorted order (for searchsorted) and the class index of each.
_KEYS = _pack_rgb(np.array(CAMVID_COLOURS, dtype=np.uint8))
_SORTED_INDICES = np.argsort(_KEYS).astype(np.uint8)
_SORTED_KEYS = _KEYS[_SORTED_INDICES]


def camvid_colours_to_index(rgb: np.ndarray) -> np.ndarray:
    """Map an (H, W, 3) uint8 colour label to (H, W) uint8 class indices: exact colour match, else 255."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"Expected an (H, W, 3) colour label, got shape {rgb.shape}.")
    keys = _pack_rgb(rgb)
    position = np.clip(np.searchsorted(_SORTED_KEYS, keys), 0, len(_SORTED_KEYS) - 1)
    return np.where(_SORTED_KEYS[position] == keys, _SORTED_INDICES[position], np.uint8(_IGNORE)).astype(np.uint8)


def _colour_label_to_train_ids(source: Path, temporary_output: Path) -> str | None:
    from PIL import Image

    with Image.open(source) as label:
        if label.mode in ("1", "L", "I", "I;16"):  # palette ("P") files are colour labels and are read as such
            raise InputError(
                f"expected a colour-coded label, got a single-channel {label.mode} image. Labels that already hold "
                "class indices (e.g. the SegNet-style 11-class CamVid) must not be converted with the colour table; "
                "put them in TrainID/<split>/<name>_L_TrainID.png directly if they use the same 11 classes"
            )
        rgb = np.asarray(label.convert("RGB"))
    train_ids = camvid_colours_to_index(rgb)
    Image.fromarray(train_ids).save(temporary_output, format="PNG")
    if (train_ids == _IGNORE).all():
        return f"{source}: no pixel has one of the 11 CamVid colours, so the whole label is ignored (255)"
    return None


def camvid_output_name(label_name: str) -> str:
    """The original's rule: the name up to its first dot + ``_TrainID.png`` (``a_L.png`` → ``a_L_TrainID.png``)."""
    return label_name.split(".", 1)[0] + "_TrainID.png"


def camvid_tasks(root: str | Path) -> list[ConversionTask]:
    """One task per colour label in ``ROOT/annotations/<split>`` for every split present."""
    root = Path(root)
    tasks = []
    for split, labels in split_label_files(root, CAMVID_SPLITS, CAMVID_LAYOUT, "colour label PNGs").items():
        out_dir = root / "TrainID" / split
        tasks += [ConversionTask(p, out_dir / camvid_output_name(p.name), _colour_label_to_train_ids) for p in labels]
    return tasks


def prepare_camvid(root: str | Path, nproc: int = 1, progress: bool = True) -> ConversionSummary:
    """Write ``ROOT/TrainID/<split>/<name>_L_TrainID.png`` for every colour label; existing outputs are skipped."""
    return run_conversions(camvid_tasks(root), nproc=nproc, description="camvid TrainID", progress=progress)


__all__ = [
    "CAMVID_COLOURS",
    "CAMVID_LAYOUT",
    "CAMVID_SPLITS",
    "camvid_colours_to_index",
    "camvid_output_name",
    "camvid_tasks",
    "prepare_camvid",
]
