"""Readers for the prepared datasets, plus a generic reader for Hugging Face ``datasets`` data.

Every reader returns samples ``{"image": uint8 (3, H, W) RGB, "label": int64 (H, W)}`` (what the optional
``transform`` returns, when one is given; :class:`~dabnet_zoo.data.transforms.TrainTransform` gives float
``pixel_values`` in "image"). Label conventions come from :mod:`dabnet_zoo.presets`, the one table the model,
the processor and the metrics also read, so a reader cannot silently disagree with them.

Nothing is skipped silently:

* a missing folder, an empty split or images without a label file raise :class:`InputError` naming the folder,
  a few example files and the expected layout;
* a label value that is neither a class index nor the ignore index (the classic "labelIds instead of
  trainIds" or "forgot reduce_zero_label" mistake) raises by default, naming the file and the values. With
  ``invalid_labels="ignore"`` such pixels become the ignore index instead, and each file is reported once in
  a warning with a running count (:attr:`SegmentationDataset.invalid_label_report`, per worker process).

Deterministic augmentation: with ``seed`` set, each sample gets its own ``torch.Generator`` seeded from
``(seed, epoch, index)`` and passed to ``transform(image, label, generator=...)``. The augmentation of a
sample then depends on nothing else (not on the worker, the rank or how many samples came before it), so
one-process and multi-process runs, and a resumed run, see identical crops. Call :meth:`set_epoch` each epoch
(with ``persistent_workers=True`` the workers hold a copy of the dataset: recreate the loader instead).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import image_processing_dabnet as protocol
from ..errors import InputError
from ..presets import get_dataset_preset

logger = logging.getLogger(__name__)

Transform = Callable[..., tuple[torch.Tensor, torch.Tensor]]
InvalidLabels = Literal["error", "ignore"]

_SPLIT_ALIASES = {
    # accepted split names → folder names, per dataset
    "coco_stuff10k": {"train": "train2014", "test": "test2014", "val": "test2014"},
    "coco_stuff164k": {"train": "train2017", "val": "val2017"},
}


# --------------------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------------------


def image_to_tensor(image: Any) -> torch.Tensor:
    """A PIL image or an (H, W, 3) / (H, W) array → uint8 (3, H, W) RGB tensor, converted as the image processor
    converts in-memory images (:func:`dabnet_zoo.image_processing_dabnet.to_rgb_uint8`: grey replicated, alpha
    dropped, 16-bit reduced as OpenCV does)."""
    from PIL import Image

    if not isinstance(image, (Image.Image, np.ndarray, torch.Tensor)):
        image = np.asarray(image)  # e.g. nested lists from a datasets column in "python" format
    try:
        array = protocol.to_rgb_uint8(image)
    except (TypeError, ValueError) as error:
        raise InputError(f"Expected an RGB image: {error}") from None
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """Decode an image file as uint8 (3, H, W) RGB exactly as the original does, with OpenCV
    (:func:`dabnet_zoo.image_processing_dabnet.read_image`: grey replicated, alpha dropped, EXIF orientation
    applied)."""
    return image_to_tensor(_decode(path))


def _decode(path: str | os.PathLike) -> np.ndarray:
    """:func:`dabnet_zoo.image_processing_dabnet.read_image`, (H, W, 3) uint8, with a missing, unreadable or
    damaged file as a one-line :class:`InputError` naming it (in every worker of a run, not a traceback)."""
    try:
        return protocol.read_image(path)
    except (OSError, ValueError) as error:
        raise InputError(str(error)) from None


def label_to_array(label: Any, source: str = "label") -> np.ndarray:
    """A single-channel label image (PIL modes L, P, I, I;16, 1) or a 2-D integer array → an (H, W) array.

    Palette ("P") images give their palette indices, which is how segmentation labels are usually stored.
    """
    from PIL import Image

    if isinstance(label, Image.Image):
        if label.mode not in ("L", "P", "I", "I;16", "1"):
            raise InputError(
                f"{source}: label is a {label.mode} image; expected a single-channel index map (mode L or P). "
                "Colour-coded labels must be converted to class indices first (e.g. `dabnet-zoo prepare camvid`)."
            )
        label = np.asarray(label)
    array = np.asarray(label)
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise InputError(f"{source}: expected a 2-D integer label map, got shape {array.shape} {array.dtype}.")
    return array


def read_label(path: str | os.PathLike) -> np.ndarray:
    """Decode a label PNG as an (H, W) integer array, values unchanged."""
    from PIL import Image

    with Image.open(path) as label:
        return label_to_array(label, str(path))


def reduce_zero_label(label: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """mmseg's ``reduce_zero_label``: 0 (unlabelled) → ignore, every other value v → v − 1, ignore stays
    (:func:`dabnet_zoo.image_processing_dabnet.reduce_labels`, shared with the image processor)."""
    return protocol.reduce_labels(label, ignore_index)


# --------------------------------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------------------------------


class SegmentationDataset(Dataset):
    """Common logic of every reader: label checks, ``reduce_zero_label``, the transform hook and seeding.

    Subclasses implement ``__len__``, :meth:`_load` (returning a PIL/array image, a label and a source name
    for messages) and set the label convention in ``__init__``.

    Args:
        num_labels: number of classes; valid label values are ``0 .. num_labels - 1`` and ``ignore_index``.
        ignore_index: the ignored label value.
        reduce_zero_label: apply :func:`reduce_zero_label` after decoding (COCO-Stuff-10k).
        transform: called as ``transform(image, label)`` (or with ``generator=`` when ``seed`` is set) on the
            uint8 image and int64 label; returns the pair to put in the sample.
        seed: per-sample augmentation seeding (see the module docstring); ``None`` uses torch's global RNG.
        invalid_labels: ``"error"`` (default) or ``"ignore"`` for out-of-range label values.
    """

    def __init__(
        self,
        num_labels: int,
        ignore_index: int = 255,
        reduce_zero_label: bool = False,
        transform: Transform | None = None,
        seed: int | None = None,
        invalid_labels: InvalidLabels = "error",
    ) -> None:
        if invalid_labels not in ("error", "ignore"):
            raise InputError(f"invalid_labels must be 'error' or 'ignore', got {invalid_labels!r}.")
        self.num_labels = num_labels
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.transform = transform
        self.seed = seed
        self.epoch = 0
        self.invalid_labels = invalid_labels
        self.invalid_label_report: dict[str, int] = {}  # source → pixels set to ignore (this process only)

    def set_epoch(self, epoch: int) -> None:
        """Change the per-sample augmentation seeds (only matters when ``seed`` is set)."""
        self.epoch = epoch

    def sample_generator(self, index: int) -> torch.Generator | None:
        """The generator sample ``index`` is augmented with this epoch (``None`` without a seed)."""
        if self.seed is None:
            return None
        state = np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1, dtype=np.uint64)[0]
        return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)

    def _load(self, index: int) -> tuple[Any, Any, str]:
        raise NotImplementedError

    def _check_values(self, label: np.ndarray, source: str) -> np.ndarray:
        if label.dtype == np.uint8:
            counts = np.bincount(label.ravel(), minlength=256)
            values = np.flatnonzero(counts)
        else:
            values, counts_of_values = np.unique(label, return_counts=True)
            counts = dict(zip(values.tolist(), counts_of_values.tolist()))
        bad = [int(v) for v in values if (v < 0 or v >= self.num_labels) and v != self.ignore_index]
        if not bad:
            return label
        if self.invalid_labels == "error":
            hint = (" The file looks like Cityscapes labelIds: use *_gtFine_labelTrainIds.png "
                    "(`dabnet-zoo prepare cityscapes ROOT`)." if max(bad) <= 33 and self.num_labels == 19 else "")
            raise InputError(
                f"{source}: label values {bad[:10]} are outside 0..{self.num_labels - 1} and not the ignore index "
                f"{self.ignore_index} (after reduce_zero_label={self.reduce_zero_label}).{hint} Check the label "
                "convention (trainIds, reduce_zero_label), or pass invalid_labels='ignore' to count and ignore them."
            )
        pixels = int(sum(counts[v] for v in bad))
        label = label.astype(np.int64, copy=True)
        label[np.isin(label, bad)] = self.ignore_index
        self.invalid_label_report[source] = pixels
        logger.warning("%s: %d pixels with label values %s set to ignore (%d files so far in this process)",
                       source, pixels, bad[:10], len(self.invalid_label_report))
        return label

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for a dataset of {len(self)} samples")
        raw_image, raw_label, source = self._load(index)
        image = image_to_tensor(raw_image)
        label = label_to_array(raw_label, source)
        if tuple(label.shape) != tuple(image.shape[1:]):
            raise InputError(f"{source}: label size {label.shape} differs from image size {tuple(image.shape[1:])}.")
        if self.reduce_zero_label:
            label = reduce_zero_label(label, self.ignore_index)
        label = self._check_values(label, source)
        label_tensor = torch.from_numpy(np.ascontiguousarray(label).astype(np.int64, copy=False))
        if self.transform is not None:
            generator = self.sample_generator(index)
            if generator is None:
                image, label_tensor = self.transform(image, label_tensor)
            else:
                image, label_tensor = self.transform(image, label_tensor, generator=generator)
        return {"image": image, "label": label_tensor}


# --------------------------------------------------------------------------------------------------------------
# Folder readers
# --------------------------------------------------------------------------------------------------------------


def _listing(paths: Sequence[Path], limit: int = 5) -> str:
    shown = ", ".join(str(p) for p in paths[:limit])
    return shown + (f" … ({len(paths)} in all)" if len(paths) > limit else "")


def pair_files(
    image_dir: Path, image_pattern: str, label_for: Callable[[Path], Path], layout: str
) -> list[tuple[Path, Path]]:
    """(image, label) pairs for every image matching ``image_pattern`` under ``image_dir``, sorted by file name
    (as mmseg does). Raises when the folder is missing or empty, or when any image has no label file."""
    if not image_dir.is_dir():
        raise InputError(f"Expected folder {image_dir} does not exist. The dataset root must look like:\n{layout}")
    images = sorted((p for p in image_dir.glob(image_pattern) if not p.name.startswith(".")), key=lambda p: p.name)
    if not images:
        raise InputError(f"No images matching {image_pattern} in {image_dir}. Expected:\n{layout}")
    pairs = [(image, label_for(image)) for image in images]
    missing = [label for _, label in pairs if not label.is_file()]
    if missing:
        raise InputError(
            f"{len(missing)} of {len(images)} images in {image_dir} have no label file, e.g. {_listing(missing)}. "
            f"Run `dabnet-zoo prepare` on the dataset root first, or check the layout:\n{layout}"
        )
    return pairs


class SegmentationFolderDataset(SegmentationDataset):
    """A dataset from explicit (image path, label path) pairs; the folder readers below build the pairs."""

    def __init__(self, files: Sequence[tuple[Path, Path]], num_labels: int, **kwargs: Any) -> None:
        super().__init__(num_labels, **kwargs)
        self.files = [(Path(image), Path(label)) for image, label in files]

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, index: int) -> tuple[Any, Any, str]:
        image_path, label_path = self.files[index]
        return _decode(image_path), read_label(label_path), str(label_path)


def _preset_kwargs(dataset: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    preset = get_dataset_preset(dataset)
    kwargs.setdefault("ignore_index", preset.ignore_index)
    kwargs.setdefault("reduce_zero_label", preset.reduce_zero_label)
    return kwargs


CITYSCAPES_READER_LAYOUT = """  ROOT/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png
  ROOT/gtFine/<split>/<city>/<name>_gtFine_labelTrainIds.png   (from `dabnet-zoo prepare cityscapes ROOT`)"""


class CityscapesDataset(SegmentationFolderDataset):
    """Cityscapes ``leftImg8bit`` images with ``gtFine`` trainId labels (19 classes, 255 ignore).

    Where an image has no ``*_gtFine_labelTrainIds.png`` but has the official ``*_gtFine_labelIds.png``, the
    labelIds are mapped to trainIds with cityscapesscripts' table on the fly (so a fresh download works
    without ``prepare``, only a little slower).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", **kwargs: Any) -> None:
        root = Path(root)
        gt_dir = root / "gtFine" / split

        def label_for(image: Path) -> Path:
            stem = image.name[: -len("_leftImg8bit.png")]
            train_ids = gt_dir / image.parent.name / f"{stem}_gtFine_labelTrainIds.png"
            label_ids = train_ids.with_name(f"{stem}_gtFine_labelIds.png")
            return train_ids if train_ids.is_file() or not label_ids.is_file() else label_ids

        files = pair_files(root / "leftImg8bit" / split, "*/*_leftImg8bit.png", label_for, CITYSCAPES_READER_LAYOUT)
        super().__init__(files, get_dataset_preset("cityscapes").num_labels, **_preset_kwargs("cityscapes", kwargs))

    def _load(self, index: int) -> tuple[Any, Any, str]:
        image, label, source = super()._load(index)
        if source.endswith("_gtFine_labelIds.png"):
            from ..cityscapes import label_ids_to_train_ids  # cityscapesscripts' table, checked for unknown ids

            try:
                label = label_ids_to_train_ids(label)
            except InputError as error:
                raise InputError(f"{source}: {error}") from None
        return image, label, source


CAMVID_READER_LAYOUT = """  ROOT/images/<split>/<name>.png
  ROOT/TrainID/<split>/<name>_L_TrainID.png   (from `dabnet-zoo prepare camvid ROOT`)"""


class CamVidDataset(SegmentationFolderDataset):
    """CamVid as the original trains on it: ``images/<split>/*.png`` with ``TrainID/<split>/*_L_TrainID.png``
    (11 classes, 255 ignore). The original validates and tests on the ``test`` split."""

    def __init__(self, root: str | os.PathLike, split: str = "train", **kwargs: Any) -> None:
        root = Path(root)
        label_dir = root / "TrainID" / split
        files = pair_files(root / "images" / split, "*.png", lambda p: label_dir / f"{p.stem}_L_TrainID.png",
                           CAMVID_READER_LAYOUT)
        super().__init__(files, get_dataset_preset("camvid").num_labels, **_preset_kwargs("camvid", kwargs))


COCO_STUFF_READER_LAYOUT = """  ROOT/images/<split>/<name>.jpg
  ROOT/annotations/<split>/<name>_labelTrainIds.png   (from `dabnet-zoo prepare coco_stuff10k|coco_stuff164k ROOT`)
  with <split> = train2014/test2014 (10k) or train2017/val2017 (164k)"""


class CocoStuffDataset(SegmentationFolderDataset):
    """COCO-Stuff-10k or -164k (171 classes): ``images/<split>/*.jpg`` with
    ``annotations/<split>/*_labelTrainIds.png``; ``reduce_zero_label`` from the preset (True for 10k).

    Args:
        root: the prepared dataset root.
        split: ``train``/``test`` (10k; ``val`` = ``test``, as the original validates on it) or
            ``train``/``val`` (164k), or a folder name such as ``train2014``.
        dataset: ``coco_stuff10k`` or ``coco_stuff164k``.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", dataset: str = "coco_stuff10k",
                 **kwargs: Any) -> None:
        if dataset not in _SPLIT_ALIASES:
            raise InputError(f"dataset must be 'coco_stuff10k' or 'coco_stuff164k', got {dataset!r}.")
        root = Path(root)
        folder = _SPLIT_ALIASES[dataset].get(split, split)
        label_dir = root / "annotations" / folder
        files = pair_files(root / "images" / folder, "*.jpg", lambda p: label_dir / f"{p.stem}_labelTrainIds.png",
                           COCO_STUFF_READER_LAYOUT)
        super().__init__(files, get_dataset_preset(dataset).num_labels, **_preset_kwargs(dataset, kwargs))


# --------------------------------------------------------------------------------------------------------------
# Hugging Face datasets
# --------------------------------------------------------------------------------------------------------------


class HuggingFaceSegmentationDataset(SegmentationDataset):
    """Any Hugging Face ``datasets`` data with an image column and a label-map column.

    Args:
        source: a Hub dataset id (``"org/name"``), a local folder (read as an ``imagefolder``: put a
            ``metadata.jsonl`` with ``file_name`` and ``label_file_name`` in each split folder), or an
            already loaded ``datasets.Dataset``.
        num_labels: number of classes.
        split: the split to load (ignored for a ``Dataset`` object).
        image_column, label_column: column names (``scene_parse_150`` uses ``annotation`` for the label).
        name: the dataset configuration name, if the Hub dataset has several.
        cache_dir: where ``datasets`` caches the Arrow files.
        **kwargs: :class:`SegmentationDataset` options (``ignore_index``, ``reduce_zero_label``,
            ``transform``, ``seed``, ``invalid_labels``).
    """

    def __init__(
        self,
        source: Any,
        num_labels: int,
        split: str = "train",
        image_column: str = "image",
        label_column: str = "label",
        name: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_labels, **kwargs)
        try:
            import datasets
        except ImportError:
            raise InputError("Reading Hugging Face datasets needs the `datasets` package: "
                             "pip install 'dabnet-zoo[data]'.") from None
        if isinstance(source, datasets.Dataset):
            data = source
        elif isinstance(source, (datasets.DatasetDict, datasets.IterableDataset, datasets.IterableDatasetDict)):
            raise InputError("Pass one split as a datasets.Dataset (e.g. dataset['train']); streaming "
                             "(IterableDataset) is not supported because training needs random access.")
        else:
            cache = None if cache_dir is None else str(cache_dir)
            if os.path.isdir(source):
                data = datasets.load_dataset("imagefolder", data_dir=str(source), split=split, cache_dir=cache)
            else:
                data = datasets.load_dataset(str(source), name, split=split, cache_dir=cache)
        missing = [column for column in (image_column, label_column) if column not in data.column_names]
        if missing:
            raise InputError(
                f"Column(s) {missing} not in the dataset (columns: {data.column_names}). Pass image_column= and "
                "label_column=; a local imagefolder needs a metadata.jsonl with file_name and label_file_name."
            )
        self.data = data
        self.image_column = image_column
        self.label_column = label_column
        self.source_name = (data.info.dataset_name or "dataset") if data is source else str(source)

    def __len__(self) -> int:
        return len(self.data)

    def _load(self, index: int) -> tuple[Any, Any, str]:
        row = self.data[index]
        source = f"{self.source_name}[{index}]"
        if row[self.image_column] is None or row[self.label_column] is None:
            raise InputError(f"{source}: the {self.image_column!r} or {self.label_column!r} entry is empty; every "
                             "image needs a label map.")
        return row[self.image_column], row[self.label_column], source


# --------------------------------------------------------------------------------------------------------------
# By name
# --------------------------------------------------------------------------------------------------------------


def create_dataset(dataset: str, root: str | os.PathLike, split: str = "train", **kwargs: Any) -> SegmentationDataset:
    """The reader for a prepared dataset by preset name: ``cityscapes``, ``camvid``, ``coco_stuff10k``,
    ``coco_stuff164k``. ``kwargs`` go to the reader (``transform``, ``seed``, ``invalid_labels`` …)."""
    get_dataset_preset(dataset)  # unknown names raise with the list of known ones
    if dataset == "cityscapes":
        return CityscapesDataset(root, split, **kwargs)
    if dataset == "camvid":
        return CamVidDataset(root, split, **kwargs)
    return CocoStuffDataset(root, split, dataset=dataset, **kwargs)


__all__ = [
    "CamVidDataset",
    "CityscapesDataset",
    "CocoStuffDataset",
    "HuggingFaceSegmentationDataset",
    "SegmentationDataset",
    "SegmentationFolderDataset",
    "create_dataset",
    "image_to_tensor",
    "label_to_array",
    "pair_files",
    "read_image",
    "read_label",
    "reduce_zero_label",
]
