"""Evaluate a segmentation model on a dataset with the original test protocol, exactly, on one or many processes.

:func:`evaluate_model` runs the model over a dataset and returns the original's mIoU, mAcc, aAcc and the
per-class IoU and accuracy by class name; :func:`export_cityscapes_submission` writes the Cityscapes test-server
PNGs and zip instead (the original's ``--format-only``). ``recipes/evaluate.py`` is the command-line front end,
and the training recipe calls :func:`evaluate_model` for its periodic validation.

The dataset gives samples ``{"image", "label"}`` (or ``{"pixel_values", "labels"}``): the image either already
prepared by :class:`~dabnet_zoo.data.transforms.TestTransform` (float, resized to the test size of the dataset
or of the processor saved beside the model, and normalised; the label keeps its own size) or as a uint8 (3, H, W)
image, which is then normalised with the model's ``config.image_mean``/``image_std`` at its own size. The label
is an (H, W) class-index map.

Inference modes (``mode=``); every mode ends with a bilinear resize (``align_corners=False``) of the scores to
the label's size and an argmax (the first maximum wins), as the original does:

* ``"whole"`` (default, the original protocol, see docs/architecture.md): one forward pass on the whole
  test-size image; the 1/8 logits are resized bilinearly to the network input size, then to the label size, and
  the argmax taken, by :func:`dabnet_zoo.image_processing_dabnet.logits_to_label_map`, the post-processing the
  image processor and ``predict`` use too (in bounded memory). The only mode used for reported numbers.
* ``"slide"``: mmseg's sliding window on the network input. Windows of ``crop_size`` every ``stride`` pixels
  (the last row and column of windows are moved back inside the image, and an image smaller than the crop is
  one window); each window's logits are resized to the window and summed into the image, and every pixel is
  divided by the number of windows covering it (averaged *logits*). A crop at least as large as the image gives
  exactly the whole-image result.
* ``"ms+flip"``: mmseg's ``aug_test`` (``--aug-test``). For every scale s the network input is resized
  bilinearly to ``int(h·s + 0.5) × int(w·s + 0.5)`` and run whole-image, and with ``flip`` once more mirrored
  horizontally; each pass's logits are resized to that pass's input size, then to the label size, turned into
  *softmax probabilities* and flipped back; the probabilities are averaged over the passes. mmseg resizes the
  uint8 image for each scale; we resize the normalised image (at most half a grey level apart). With
  ``scales=(1.0,)`` and ``flip=False`` this is exactly ``"whole"``.

Distributed evaluation (``accelerator=``): the dataset is split over the processes with accelerate's sampler
(``even_batches``: the last batch is padded with repeated samples), every process computes one confusion
matrix per sample (:meth:`~dabnet_zoo.metrics.ConfusionMatrixMeter.confusion_matrices`, on the device) and
``accelerator.gather_for_metrics`` drops the repeated samples, so the result is exactly the one-process result
and the same on every process. Evaluation never goes through a DDP wrapper (no collective per forward pass), and
the loader is not registered with the accelerator, so ``save_state``/``load_state`` of a training run are
unaffected. A bad sample on one process stops every process with an error naming it, instead of leaving the
others waiting.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from .cityscapes import (
    check_submission,
    find_test_images,
    submission_file_name,
    write_submission_png,
    zip_submission,
)
from .data.datasets import read_image
from .data.transforms import TestTransform
from .errors import DabnetZooError, InputError, OutputExistsError
from .image_processing_dabnet import logits_to_label_map, normalize_image, resize_logits
from .metrics import ConfusionMatrixMeter, format_table
from .presets import IMAGENET_MEAN, IMAGENET_STD, get_dataset_preset
from .registry import ModelRef, resolve_model
from .results import EVAL_METRICS, EVAL_MODES, EVAL_SCHEMA

DEFAULT_SCALES: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
"""The original's ``--aug-test`` ratios (docs/architecture.md §7.3), used by ``mode="ms+flip"``."""


# --------------------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Protocol:
    """Validated inference settings."""

    mode: str
    scales: tuple[float, ...]
    flip: bool
    crop_size: tuple[int, int] | None
    stride: tuple[int, int] | None


def _pair(value: Any, name: str) -> tuple[int, int] | None:
    if value is None:
        return None
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise InputError(f"{name} must be a positive int or a (height, width) pair of positive ints; got {value!r}.")
    return pair


def _protocol(mode: str, scales: Sequence[float], flip: bool, crop_size: Any, stride: Any) -> _Protocol:
    if mode not in EVAL_MODES:
        raise InputError(f"Unknown evaluation mode {mode!r}; choose one of {', '.join(EVAL_MODES)}.")
    scales = tuple(float(s) for s in scales)
    if mode == "ms+flip" and (not scales or not all(math.isfinite(s) and s > 0 for s in scales)):
        raise InputError(f"scales must be a non-empty sequence of positive numbers; got {scales!r}.")
    crop, step = _pair(crop_size, "crop_size"), _pair(stride, "stride")
    if mode == "slide":
        if crop is None:
            raise InputError("mode='slide' needs crop_size=(height, width), e.g. the training crop (1024, 1024).")
        if step is None:  # mmseg's Cityscapes configs: 512x1024 crops every 341x683 pixels, two thirds
            step = (max(1, round(2 * crop[0] / 3)), max(1, round(2 * crop[1] / 3)))
        if step[0] > crop[0] or step[1] > crop[1]:
            raise InputError(f"stride {step} is larger than crop_size {crop}: some pixels would be in no window.")
    return _Protocol(mode, scales, bool(flip), crop, step)


# --------------------------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------------------------


def _resize(scores: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return scores if tuple(scores.shape[-2:]) == tuple(size) else resize_logits(scores, size)


class _Runner:
    """Runs the model the way the original's ``EncoderDecoder`` does at test time, in any of the three modes.

    With an accelerator the model is moved to its device and runs under its autocast; without one it stays where
    it is. Use :meth:`running` around the loop: eval mode, no gradients, the caller's train/eval mode restored.
    """

    def __init__(self, model: torch.nn.Module, protocol: _Protocol, accelerator: Any) -> None:
        if accelerator is not None:
            model.to(accelerator.device)
        parameter = next((p for p in model.parameters() if p.is_floating_point()), None)
        self.model = model
        self.protocol = protocol
        self.autocast = None if accelerator is None else accelerator.autocast
        self.dtype = parameter.dtype if parameter is not None else torch.float32
        if accelerator is not None:
            self.device = accelerator.device
        else:
            self.device = parameter.device if parameter is not None else torch.device("cpu")

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.model.train(was_training)

    def predict_images(self, images: list[torch.Tensor], sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """Class-index maps of (3, h, w) images at ``sizes``; runs of equal-size images share a forward pass."""
        predictions: list[torch.Tensor | None] = [None] * len(images)
        for group in _batches_by_size(images):
            pixel_values = torch.stack([images[i] for i in group]).to(self.device, dtype=self.dtype,
                                                                       non_blocking=True)
            for i, prediction in zip(group, self.predict(pixel_values, [sizes[i] for i in group])):
                predictions[i] = prediction
        return predictions

    def logits(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The decode head's float32 logits at 1/8 of the input (auxiliary heads are not run)."""
        if self.autocast is not None:
            with self.autocast():
                output = self.model(pixel_values)
        else:
            output = self.model(pixel_values)
        return (output.logits if hasattr(output, "logits") else output[0]).float()

    def encode_decode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """float32 logits resized to the input size (mmseg's ``encode_decode``)."""
        return _resize(self.logits(pixel_values), pixel_values.shape[-2:])

    def slide(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """mmseg's ``slide_inference`` without the final rescale: logits averaged over overlapping windows."""
        (crop_h, crop_w), (step_h, step_w) = self.protocol.crop_size, self.protocol.stride
        batch, _, height, width = pixel_values.shape
        total = count = None
        for y1, y2, x1, x2 in sliding_windows(height, width, (crop_h, crop_w), (step_h, step_w)):
            logits = self.encode_decode(pixel_values[:, :, y1:y2, x1:x2])
            if total is None:
                total = logits.new_zeros(batch, logits.shape[1], height, width)
                count = logits.new_zeros(1, 1, height, width)
            total[:, :, y1:y2, x1:x2] += logits
            count[:, :, y1:y2, x1:x2] += 1
        return total / count

    def predict(self, pixel_values: torch.Tensor, output_sizes: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
        """Class-index maps (int64, on the device), one per image of a (B, 3, h, w) batch, at ``output_sizes``."""
        mode = self.protocol.mode
        if mode == "ms+flip":
            return [self._multi_scale(pixel_values[i : i + 1], size) for i, size in enumerate(output_sizes)]
        scores = self.logits(pixel_values) if mode == "whole" else self.slide(pixel_values)
        input_size = tuple(pixel_values.shape[-2:])
        return [logits_to_label_map(scores[i], input_size, size) for i, size in enumerate(output_sizes)]

    def _multi_scale(self, image: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        height, width = image.shape[-2:]
        total, passes = None, 0
        for scale in self.protocol.scales:
            size = (int(height * scale + 0.5), int(width * scale + 0.5))
            scaled = _resize(image, size)
            for flipped in (False, True) if self.protocol.flip else (False,):
                inputs = scaled.flip(-1) if flipped else scaled
                probabilities = torch.softmax(_resize(self.encode_decode(inputs), output_size), dim=1)
                if flipped:
                    probabilities = probabilities.flip(-1)
                total = probabilities if total is None else total + probabilities
                passes += 1
        return (total / passes).argmax(dim=1)[0]


def sliding_windows(
    height: int, width: int, crop_size: tuple[int, int], stride: tuple[int, int]
) -> list[tuple[int, int, int, int]]:
    """The windows ``(y1, y2, x1, x2)`` of mmseg's sliding-window inference over a ``height × width`` input.

    Windows start every ``stride`` pixels; a window that would leave the image is moved back inside it, and a
    side shorter than the crop gets one window covering it all.
    """
    (crop_h, crop_w), (step_h, step_w) = crop_size, stride
    rows = max(height - crop_h + step_h - 1, 0) // step_h + 1
    cols = max(width - crop_w + step_w - 1, 0) // step_w + 1
    windows = []
    for row in range(rows):
        for col in range(cols):
            y2, x2 = min(row * step_h + crop_h, height), min(col * step_w + crop_w, width)
            windows.append((max(y2 - crop_h, 0), y2, max(x2 - crop_w, 0), x2))
    return windows


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


class _Indexed(Dataset):
    """Adds the dataset index to each sample and turns a reader's error into a value (see :func:`_run_batch`)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            sample = self.dataset[index]
        except DabnetZooError as error:  # e.g. a label file with out-of-range values
            return {"index": index, "error": error}
        return {"index": index, "sample": sample}


class _ImageFiles(Dataset):
    """Unlabelled images for the test-server export: the transformed image, its original size and its path."""

    def __init__(self, paths: Sequence[Path], transform: Callable[..., Any]) -> None:
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = read_image(self.paths[index])
        pixel_values = self.transform(image)
        if isinstance(pixel_values, tuple):  # TestTransform returns (image, label)
            pixel_values = pixel_values[0]
        return {"index": index, "image": pixel_values, "size": tuple(image.shape[1:]), "path": self.paths[index]}


def _collate(samples: list[Any]) -> list[Any]:
    return samples  # sizes differ from image to image: batches stay lists


def _base_dataset(dataset: Any) -> Any:
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset


def _source_name(dataset: Any, index: int) -> str:
    """``sample 7 (path/to/image.png)`` where the reader knows its files, else ``sample 7``."""
    base, position = dataset, index
    while isinstance(base, Subset):
        position = int(base.indices[position])
        base = base.dataset
    files = getattr(base, "files", None)
    if isinstance(files, Sequence) and 0 <= position < len(files):
        entry = files[position]
        path = entry[0] if isinstance(entry, (tuple, list)) else entry
        return f"sample {index} ({path})"
    return f"sample {index}"


def _field(sample: Any, names: tuple[str, ...], index_name: str) -> Any:
    if isinstance(sample, dict):
        for name in names:
            if name in sample and sample[name] is not None:
                return sample[name]
    raise InputError(
        f"{index_name}: expected a dict with {' or '.join(repr(n) for n in names)}; got "
        f"{sorted(sample) if isinstance(sample, dict) else type(sample).__name__}. Evaluation needs labelled "
        "samples (unlabelled test images go through export_cityscapes_submission)."
    )


def _dataset_length(dataset: Any) -> int:
    try:
        length = len(dataset)
    except TypeError:
        raise InputError(
            f"The evaluation dataset ({type(dataset).__name__}) has no length; pass a map-style dataset "
            "(e.g. dabnet_zoo.data.create_dataset(...))."
        ) from None
    if length == 0:
        raise InputError(
            f"The evaluation dataset ({type(_base_dataset(dataset)).__name__}) is empty: there is nothing to "
            "evaluate. Check the data root and the split."
        )
    return length


# --------------------------------------------------------------------------------------------------------------
# Model helpers
# --------------------------------------------------------------------------------------------------------------


def _unwrap(model: torch.nn.Module, accelerator: Any) -> torch.nn.Module:
    """The bare model: evaluation never runs through DDP (whose forward may be a collective)."""
    if accelerator is not None:
        return accelerator.unwrap_model(model)
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def _num_labels(model: torch.nn.Module) -> int:
    config = getattr(model, "config", None)
    num_labels = getattr(config, "num_labels", None)
    if not isinstance(num_labels, int):
        raise InputError(f"The model ({type(model).__name__}) has no config.num_labels; pass a dabnet-zoo model.")
    return num_labels


def class_names(model: torch.nn.Module) -> list[str]:
    """The model's class names in index order (``config.id2label``), made unique, for per-class results."""
    num_labels = _num_labels(model)
    id2label = getattr(model.config, "id2label", None) or {}
    names = [str(id2label.get(i, id2label.get(str(i), f"class_{i}"))) for i in range(num_labels)]
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    return [f"{name} ({i})" if seen[name] > 1 else name for i, name in enumerate(names)]


def _prepare_image(image: Any, model: torch.nn.Module, index_name: str) -> torch.Tensor:
    image = torch.as_tensor(image)
    if image.ndim != 3 or image.shape[0] != 3:
        raise InputError(f"{index_name}: the image must be a (3, H, W) tensor; got shape {tuple(image.shape)}.")
    if image.dtype == torch.uint8:
        mean = getattr(model.config, "image_mean", None) or IMAGENET_MEAN
        std = getattr(model.config, "image_std", None) or IMAGENET_STD
        return torch.from_numpy(normalize_image(image.permute(1, 2, 0).numpy(), mean, std))
    if not image.is_floating_point():
        raise InputError(
            f"{index_name}: the image has dtype {image.dtype}; expected uint8 pixels or normalised float "
            "pixel values (TestTransform)."
        )
    return image


def _prepare_label(label: Any, index_name: str) -> torch.Tensor:
    label = torch.as_tensor(label)
    if label.ndim != 2 or label.is_floating_point() or label.dtype == torch.bool:
        raise InputError(
            f"{index_name}: the label must be an (H, W) map of integer class indices; got shape "
            f"{tuple(label.shape)} and dtype {label.dtype}."
        )
    return label


def _batches_by_size(images: list[torch.Tensor]) -> list[list[int]]:
    """Runs of consecutive images of equal size, which can share one forward pass."""
    groups: list[list[int]] = []
    for i, image in enumerate(images):
        if groups and images[groups[-1][0]].shape == image.shape:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _is_main(accelerator: Any) -> bool:
    return accelerator is None or accelerator.is_main_process


def _raise_together(accelerator: Any, error: BaseException | None) -> None:
    """Raise on every process when any process failed (instead of leaving the others waiting at the next
    collective). Every process must call it at the same point, failed or not."""
    if accelerator is None or accelerator.num_processes == 1:
        if error is not None:
            raise error
        return
    flags = accelerator.gather(torch.tensor([int(error is not None)], device=accelerator.device))
    if error is not None:
        raise error
    if bool(flags.any()):
        raise InputError("Another process failed; its error message says why.")


def _progress(iterable: Any, total: int, enabled: bool, description: str) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=description, unit="batch")


# --------------------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------------------


_SAMPLE_PREFIX = re.compile(r"^Sample \d+: ")


def _run_batch(batch: list[dict[str, Any]], runner: _Runner, meter: ConfusionMatrixMeter, dataset: Any) -> torch.Tensor:
    """One confusion matrix per sample, ``(B, C, C)`` int64 on the device; raises naming the bad sample."""
    images, labels, names = [], [], []
    for item in batch:
        name = _source_name(dataset, item["index"])
        if "error" in item:
            raise InputError(f"Dataset {name}: {item['error']}")
        sample = item["sample"]
        images.append(_prepare_image(_field(sample, ("image", "pixel_values"), f"Dataset {name}"), runner.model,
                                     f"Dataset {name}"))
        labels.append(_prepare_label(_field(sample, ("label", "labels"), f"Dataset {name}"), f"Dataset {name}"))
        names.append(name)
    predictions = runner.predict_images(images, [tuple(label.shape) for label in labels])
    matrices = []
    for prediction, label, name in zip(predictions, labels, names):
        try:
            matrices.append(meter.confusion_matrices(prediction, label.to(runner.device, non_blocking=True)))
        except InputError as error:
            raise InputError(f"Dataset {name}: {_SAMPLE_PREFIX.sub('', str(error))}") from None
    return torch.cat(matrices)


def evaluate_model(
    model: torch.nn.Module,
    dataset: Any,
    *,
    accelerator: Any = None,
    batch_size: int = 1,
    mode: str = "whole",
    scales: Sequence[float] = DEFAULT_SCALES,
    flip: bool = True,
    crop_size: int | tuple[int, int] | None = None,
    stride: int | tuple[int, int] | None = None,
    num_workers: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a segmentation model on a labelled dataset: mIoU, mAcc, aAcc and per-class IoU and accuracy.

    Args:
        model (`torch.nn.Module`): a :class:`~dabnet_zoo.DabnetForSemanticSegmentation` (or a model with the same
            ``config.num_labels`` and ``model(pixel_values).logits`` interface). It is put in eval mode for the
            run and its train/eval mode restored afterwards; with ``accelerator`` it is moved to its device.
        dataset: a map-style dataset of ``{"image", "label"}`` samples (see the module docstring), e.g.
            ``create_dataset("cityscapes", root, "val", transform=TestTransform.from_preset("cityscapes"))``.
            Its ``num_labels`` and ``ignore_index`` (255 when it has none) set up the metric.
        accelerator (`accelerate.Accelerator`, *optional*): evaluate on every process of a distributed run; the
            result is exact (no sample counted twice) and returned on every process. Without one, the model
            runs on its own device in this process.
        batch_size (`int`, *optional*, defaults to 1): images per process and step. The original tests one image
            at a time; consecutive images of equal size share a forward pass, others run one by one.
        mode (`str`, *optional*, defaults to `"whole"`): ``"whole"``, ``"slide"`` or ``"ms+flip"`` (module docstring).
        scales (`Sequence[float]`, *optional*): the ``"ms+flip"`` scale factors (default: the original's
            0.5 ... 1.75).
        flip (`bool`, *optional*, defaults to `True`): also run ``"ms+flip"`` on mirrored images.
        crop_size (`int` or `(int, int)`, *optional*): the ``"slide"`` window (required for that mode).
        stride (`int` or `(int, int)`, *optional*): the ``"slide"`` step; defaults to two thirds of the crop.
        num_workers (`int`, *optional*, defaults to 0): ``DataLoader`` worker processes per process.
        progress (`bool`, *optional*, defaults to `True`): show a progress bar on the main process.

    Returns:
        `dict` with ``mean_iou``, ``mean_accuracy``, ``overall_accuracy`` (floats in [0, 1]),
        ``per_category_iou`` and ``per_category_accuracy`` (``{class name: float}``, NaN for a class absent from
        both the predictions and the labels, which the means skip) and ``num_images``.

    Raises:
        InputError: for an empty dataset, a model whose class count differs from the dataset's, bad settings,
            or a sample whose image, label or label values are wrong (the message names the sample and, where
            the reader knows it, its file).
    """
    protocol = _protocol(mode, scales, flip, crop_size, stride)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer; got {batch_size!r}.")
    net = _unwrap(model, accelerator)
    num_labels = _num_labels(net)
    num_samples = _dataset_length(dataset)
    base = _base_dataset(dataset)
    dataset_labels = getattr(base, "num_labels", None)
    if dataset_labels is not None and dataset_labels != num_labels:
        raise InputError(
            f"The model predicts {num_labels} classes (config.num_labels) but the dataset "
            f"({type(base).__name__}) has {dataset_labels}. Load the model made for this dataset, e.g. "
            "load_model(name, dataset=...), or evaluate on the dataset it was trained on."
        )
    meter = ConfusionMatrixMeter(num_labels, ignore_index=getattr(base, "ignore_index", 255))
    names = class_names(net)

    loader = DataLoader(_Indexed(dataset), batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=_collate)
    if accelerator is not None:
        from accelerate.data_loader import prepare_data_loader

        # Not accelerator.prepare: that would register the loader for save_state/load_state of a training run.
        loader = prepare_data_loader(
            loader, device=accelerator.device, num_processes=accelerator.num_processes,
            process_index=accelerator.process_index, split_batches=False, put_on_device=False, rng_types=None,
            dispatch_batches=False, even_batches=True,
        )
    runner = _Runner(net, protocol, accelerator)
    with runner.running():
        for batch in _progress(loader, len(loader), progress and _is_main(accelerator), f"evaluate ({mode})"):
            error = matrices = None
            try:
                matrices = _run_batch(batch, runner, meter, dataset)
            except DabnetZooError as caught:
                error = caught
            _raise_together(accelerator, error)
            if accelerator is not None:  # drops the samples the sampler repeated to pad the last batch
                matrices = accelerator.gather_for_metrics(matrices)
            meter.update_from_confusion_matrices(matrices)

    if meter.num_samples != num_samples:  # would mean samples were dropped or counted twice
        raise RuntimeError(f"Evaluated {meter.num_samples} samples of a dataset of {num_samples}; please report this.")
    scores = meter.compute()
    return {
        "mean_iou": scores["mean_iou"],
        "mean_accuracy": scores["mean_accuracy"],
        "overall_accuracy": scores["overall_accuracy"],
        "per_category_iou": dict(zip(names, (float(v) for v in scores["per_category_iou"]))),
        "per_category_accuracy": dict(zip(names, (float(v) for v in scores["per_category_accuracy"]))),
        "num_images": meter.num_samples,
    }


def format_results_table(results: dict[str, Any], digits: int = 2) -> str:
    """The per-class table (IoU and accuracy in %, then mIoU, mAcc, aAcc) of an :func:`evaluate_model` result."""
    names = list(results["per_category_iou"])
    table = {
        "mean_iou": results["mean_iou"],
        "mean_accuracy": results["mean_accuracy"],
        "overall_accuracy": results["overall_accuracy"],
        "per_category_iou": [results["per_category_iou"][name] for name in names],
        "per_category_accuracy": [results["per_category_accuracy"].get(name, math.nan) for name in names],
    }
    return format_table(table, names, digits)


# --------------------------------------------------------------------------------------------------------------
# Cityscapes test-server export
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CityscapesSubmission:
    """What :func:`export_cityscapes_submission` wrote: the PNG folder, the zip (if any) and the image count."""

    png_dir: Path
    zip_path: Path | None
    num_images: int


def _image_paths(images: Any, split: str) -> list[Path]:
    if isinstance(images, (str, os.PathLike)):
        return find_test_images(images, split)
    files = getattr(images, "files", None)
    if files is not None:
        paths = [Path(entry[0] if isinstance(entry, (tuple, list)) else entry) for entry in files]
    else:
        try:
            paths = [Path(path) for path in images]
        except TypeError:
            raise InputError(
                f"Expected a Cityscapes root folder, a list of image paths or a dataset with .files; got "
                f"{type(images).__name__}."
            ) from None
    if not paths:
        raise InputError("No test images to export: the image list is empty.")
    return paths


def export_cityscapes_submission(
    model: torch.nn.Module,
    images: Any,
    out_dir: str | os.PathLike,
    zip_path: str | os.PathLike | None = None,
    *,
    accelerator: Any = None,
    split: str = "test",
    transform: Callable[..., Any] | None = None,
    batch_size: int = 1,
    mode: str = "whole",
    scales: Sequence[float] = DEFAULT_SCALES,
    flip: bool = True,
    crop_size: int | tuple[int, int] | None = None,
    stride: int | tuple[int, int] | None = None,
    num_workers: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> CityscapesSubmission:
    """Write the Cityscapes test-server submission: one labelId PNG per image, checked, then zipped.

    The original's ``--format-only`` (docs/architecture.md §8.2): predictions at each image's full resolution with the
    inference ``mode`` (whole-image by default), trainIds converted to labelIds, saved as
    ``<image name without extension>.png`` in ``out_dir`` (:func:`dabnet_zoo.cityscapes.write_submission_png`).
    Then the set of PNGs is checked against the images (none missing, none extra) and zipped flat.

    Args:
        model: a 19-class Cityscapes model.
        images: a Cityscapes root (its ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` are used; no labels
            needed), a list of image paths, or a dataset with ``.files`` (its image paths are used).
        out_dir: folder for the PNGs (created; existing PNGs of the same names raise unless ``overwrite``).
        zip_path: the archive to write; ``None`` writes and checks the PNGs only.
        accelerator: split the images over the processes (each writes its own PNGs; the main process checks
            and zips once all are written).
        split: the split folder under ``leftImg8bit`` when ``images`` is a root.
        transform: the test transform; defaults to ``TestTransform.from_preset("cityscapes")`` (1024×2048).
        batch_size, mode, scales, flip, crop_size, stride, num_workers, progress: as in :func:`evaluate_model`.
        overwrite: replace existing PNGs and zip.

    Returns:
        :class:`CityscapesSubmission` (the same on every process).
    """
    protocol = _protocol(mode, scales, flip, crop_size, stride)
    net = _unwrap(model, accelerator)
    num_labels = _num_labels(net)
    cityscapes_labels = get_dataset_preset("cityscapes").num_labels
    if num_labels != cityscapes_labels:
        raise InputError(
            f"The Cityscapes test server expects the {cityscapes_labels} Cityscapes classes, but the model "
            f"predicts {num_labels} (config.num_labels)."
        )
    paths = _image_paths(images, split)
    png_dir = Path(out_dir)
    archive = None if zip_path is None else Path(zip_path)
    if archive is not None and archive.exists() and not overwrite:
        raise OutputExistsError(f"{archive} already exists. Choose another name or pass overwrite=True.")
    transform = transform if transform is not None else TestTransform.from_preset("cityscapes")

    rank, world = (0, 1) if accelerator is None else (accelerator.process_index, accelerator.num_processes)
    files = _ImageFiles(paths, transform)
    shard = Subset(files, range(rank, len(files), world))  # no padding: no image is written twice
    loader = DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=_collate)
    runner = _Runner(net, protocol, accelerator)

    error = None
    try:
        # Before any inference: an existing PNG means another export's folder; refuse it whole, not half-way.
        # Each process looks at its own images only, so it never sees another process's fresh files.
        names = [] if overwrite else [submission_file_name(paths[i]) for i in shard.indices]
        existing = [name for name in names if (png_dir / name).exists()]
        if existing:
            raise OutputExistsError(
                f"{png_dir} already holds {len(existing)} of the submission PNGs (e.g. {existing[0]}). Choose an "
                "empty output folder or pass overwrite=True."
            )
        with runner.running():
            for batch in _progress(loader, len(loader), progress and _is_main(accelerator), f"export ({mode})"):
                images_ = [_prepare_image(item["image"], net, str(item["path"])) for item in batch]
                predictions = runner.predict_images(images_, [item["size"] for item in batch])
                for item, prediction in zip(batch, predictions):
                    write_submission_png(prediction, item["path"], png_dir, overwrite=overwrite)
    except DabnetZooError as caught:
        error = caught
    _raise_together(accelerator, error)  # also the barrier: every process has written its PNGs

    error = None
    if _is_main(accelerator):
        try:
            if archive is None:
                check_submission(png_dir, paths)
            else:
                zip_submission(png_dir, archive, image_paths=paths, overwrite=overwrite)
        except DabnetZooError as caught:
            error = caught
    _raise_together(accelerator, error)
    return CityscapesSubmission(png_dir=png_dir, zip_path=archive, num_images=len(paths))


# --------------------------------------------------------------------------------------------------------------
# Results files
# --------------------------------------------------------------------------------------------------------------


def describe_weights(name_or_path: str | os.PathLike | ModelRef, model: torch.nn.Module | None = None,
                     dataset: str | None = None) -> str | None:
    """What the results file records as ``weights`` (where they came from;
    :func:`dabnet_zoo.weights.weights_sha256` says which they are): a folder as given, the Hub id with its
    revision, or the pinned registry revision of a zoo name.
    ``None`` for a zoo name without published weights (random initialisation: nothing worth recording).
    ``name_or_path`` is anything :func:`dabnet_zoo.registry.resolve_model` takes."""
    ref = resolve_model(name_or_path, dataset)
    if ref.source == "folder":
        return Path(ref.location).as_posix()
    if ref.source == "zoo":
        return f"{ref.entry.hub_repo_id}@{ref.entry.revision}"
    if ref.source == "random":
        return None
    revision = getattr(getattr(model, "config", None), "_commit_hash", None) if model is not None else None
    return f"{ref.location}@{revision}" if revision else ref.location


def evaluation_record(
    results: dict[str, Any], *, model: str, dataset: str, split: str, mode: str, test_size: tuple[int, int],
    keep_ratio: bool, weights: str, weights_sha256: str | None, command: str, evaluated_on: str | None = None,
    date: str | None = None,
) -> dict[str, Any]:
    """The ``dabnet-zoo/eval/v2`` record of an :func:`evaluate_model` result (write it with
    :func:`dabnet_zoo.results.write_evaluation_result`); NaN per-class IoUs become null.

    ``evaluated_on`` is the data the images came from: ``dataset`` (the default) or
    :data:`dabnet_zoo.results.SYNTHETIC`; ``test_size``/``keep_ratio`` the test resize that was applied."""
    get_dataset_preset(dataset)
    return {
        "schema": EVAL_SCHEMA,
        "model": model,
        "dataset": dataset,
        "evaluated_on": evaluated_on or dataset,
        "split": split,
        "mode": mode,
        "test_size": [int(side) for side in test_size],
        "keep_ratio": bool(keep_ratio),
        "num_images": int(results["num_images"]),
        "metrics": {key: float(results[key]) for key in EVAL_METRICS},
        "per_category_iou": {
            name: None if value is None or math.isnan(value) else float(value)
            for name, value in results["per_category_iou"].items()
        },
        "weights": weights,
        "weights_sha256": weights_sha256,
        "command": command,
        "date": date or datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


__all__ = [
    "CityscapesSubmission",
    "DEFAULT_SCALES",
    "class_names",
    "describe_weights",
    "evaluate_model",
    "evaluation_record",
    "export_cityscapes_submission",
    "format_results_table",
    "sliding_windows",
]
