"""Segment image files, folders and videos, writing label PNGs, colour maps and overlays.

The library side of ``dabnet-zoo predict``: :func:`predict` does everything the command does, :func:`segment`
is the in-memory core (images in, label maps out) for notebooks and services. Files are read as the original
reads them (:func:`~dabnet_zoo.image_processing_dabnet.read_image`, OpenCV) and each image follows the original's
test protocol through :class:`DabnetImageProcessor`, whose post-processing keeps memory bounded for large photos.
A file that cannot be read or segmented (damaged, too large for the memory left, ...) is logged, counted in the
summary and skipped, so one bad file never costs the rest of a folder.

Output layout under ``out_dir`` (``KEY`` is the input's path relative to the folder it was found in, without
its extension; a video's frames are ``VIDEO/000000`` ...)::

    labels/KEY.png    class indices (trainIds), uint8 'L'; Cityscapes labelIds as a 'P' PNG on request
    color/KEY.png     the label map in the dataset's palette (ignored pixels black)
    overlay/KEY.png   the colours blended over the image
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .cityscapes import write_submission_png
from .errors import DabnetZooError, InputError, NoSpaceError
from .fileio import write_atomic
from .image_processing_dabnet import DabnetImageProcessor, read_image
from .modeling_dabnet import DabnetForSemanticSegmentation
from .presets import get_dataset_preset
from .registry import ModelRef, identify_config, resolve_model
from .visualize import colorize, default_palette, get_palette, overlay
from .zoo import load_model, model_processor, with_size

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".avi", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".webm"})
_PYAV_HINT = "Reading videos needs PyAV: pip install av"
_BLEND_ROWS = 256  # overlays are blended this many rows at a time (bounded memory for large photos)


@dataclass
class PredictSummary:
    """What :func:`predict` did.

    Attributes:
        out_dir: the output folder.
        dataset: the dataset preset whose test protocol and palette were used (None: the model's classes
            match no preset; images were not resized and a generated palette was used).
        num_segmented: images and video frames segmented and written.
        skipped: ``(source, reason)`` for every file or frame that could not be read or segmented.
    """

    out_dir: Path
    dataset: str | None
    num_segmented: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)


@dataclass(frozen=True)
class _Source:
    path: Path
    key: str
    is_video: bool


def predict(
    model: str | os.PathLike | DabnetForSemanticSegmentation,
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    dataset: str | None = None,
    processor: DabnetImageProcessor | None = None,
    batch_size: int = 4,
    size: tuple[int, int] | None = None,
    device: str | torch.device | None = None,
    cityscapes_label_ids: bool = False,
    save_color: bool = True,
    save_overlay: bool = True,
    alpha: float = 0.5,
    progress: bool = True,
) -> PredictSummary:
    """Segment images, folders (recursively, in sorted order) and videos; write one set of PNGs per image.

    Args:
        model: a zoo name (``dabnet_r18_p8`` or ``dabnet_r18_p8.camvid``), a ``save_pretrained`` folder, a
            Hub repo id, or a loaded model (which is moved to ``device`` and put in eval mode).
        inputs: image files, folders and video files (videos need PyAV).
        out_dir: where ``labels/``, ``color/`` and ``overlay/`` are written (created if needed).
        dataset: the dataset preset whose test protocol and palette to use, overriding a saved processor.
            Default: a zoo name's dataset; for a folder or repo id, the ``preprocessor_config.json`` saved
            beside the weights for the protocol (else the preset's) and, for the palette, the preset whose
            class names the model has (none matching: no resize and generated colours).
        processor: an image processor to use instead of the one chosen above.
        batch_size: images per forward pass. Only images of the same network-input size share a batch, so
            batch padding never changes a prediction.
        size: (height, width) to resize images to instead of the processor's or dataset's test size (with a
            ratio-keeping protocol such as Cityscapes', the box the image is scaled into); faster when smaller.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...; default CUDA when available.
        cityscapes_label_ids: write the label PNGs in the official Cityscapes labelId encoding (an 8-bit
            palette PNG, as the original's test-server export) instead of trainIds; Cityscapes models only.
        save_color, save_overlay: whether to write the colour maps and the overlays.
        alpha: opacity of the colours in the overlays.
        progress: show a progress bar (tqdm, on stderr).

    Returns:
        A :class:`PredictSummary`; files that cannot be read or segmented (and videos while PyAV is missing) are
        listed in ``skipped`` rather than raised. A full disk stops the run (every later file would fail too).

    Raises:
        InputError: an input path that does not exist, no image found, a bad argument.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}.")
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must lie in [0, 1], got {alpha}.")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise InputError(f"size must be (height, width) in pixels, at least 1 each; got {size}.")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():  # before the model is loaded, not after the first batch
        raise InputError(f"The output {out_dir} is a file; pass a folder (it is created if needed).")
    sources = collect_inputs(inputs, exclude=out_dir)
    torch_device = _resolve_device(device)
    ref = None if isinstance(model, torch.nn.Module) else resolve_model(model, dataset)
    network = model if ref is None else load_model(ref)
    network = network.to(torch_device).eval()
    requested = dataset
    dataset = _resolve_dataset(ref, network, requested)
    if processor is None:
        processor = model_processor(ref, network, dataset, use_saved=requested is None)
    if size is not None:
        processor = with_size(processor, size)
    num_labels = network.config.num_labels
    palette = get_palette_for(dataset, num_labels)
    if cityscapes_label_ids and dataset != "cityscapes":
        raise InputError(
            f"Cityscapes labelIds need a Cityscapes model, but this one is for {dataset or 'custom classes'}; "
            "drop --cityscapes-label-ids."
        )

    summary = PredictSummary(out_dir=out_dir, dataset=dataset)
    writer = _Writer(out_dir, palette, num_labels, cityscapes_label_ids, save_color, save_overlay, alpha)
    # disable=None: tqdm draws only on a terminal, so logs and CI output stay clean.
    with tqdm(total=_count_frames(sources), unit="img", disable=None if progress else True, desc="segmenting") as bar:

        def skip(source: str, error: BaseException) -> None:
            reason = f"{type(error).__name__}: {error}"
            logger.warning("Skipping %s: %s", source, reason)
            summary.skipped.append((source, reason))
            bar.update(1)

        frames = _iter_frames(sources, skip)
        for batch in _batches_of_equal_size(frames, processor, batch_size):
            for frame, label_map in _segment_each(network, processor, batch, skip):
                try:
                    writer.write(frame.key, frame.image, label_map)
                except NoSpaceError:
                    raise
                except Exception as error:  # noqa: BLE001 - this file's output failed, not the run
                    skip(frame.source, error)
                    continue
                summary.num_segmented += 1
                bar.update(1)
    logger.info("Segmented %d image(s) into %s; skipped %d.", summary.num_segmented, out_dir, summary.num_skipped)
    return summary


@torch.inference_mode()
def segment(
    model: DabnetForSemanticSegmentation, processor: DabnetImageProcessor, images: Sequence[Any]
) -> list[np.ndarray]:
    """Label maps (int64 (height, width) arrays, at each image's own size) for a batch of images.

    ``images`` are anything :class:`DabnetImageProcessor` accepts; they run as one batch on the model's
    device and dtype (padded when their network-input sizes differ, which changes predictions near the
    padded borders slightly; :func:`predict` batches only images of equal size).
    """
    parameter = next(model.parameters())
    inputs = processor(list(images), return_tensors="pt")
    pixel_values = inputs["pixel_values"].to(device=parameter.device, dtype=parameter.dtype)
    logits = model(pixel_values=pixel_values).logits
    label_maps = processor.post_process_semantic_segmentation(
        logits, target_sizes=inputs["original_sizes"], reshaped_input_sizes=inputs["reshaped_input_sizes"]
    )
    return [label_map.cpu().numpy() for label_map in label_maps]


def collect_inputs(
    inputs: str | os.PathLike | Sequence[str | os.PathLike], exclude: str | os.PathLike | None = None
) -> list[_Source]:
    """Resolve input paths into the images and videos to segment, each with its output key.

    Folders are walked recursively in sorted order and contribute the files with an image or video suffix
    (anything else there is ignored; files under ``exclude``, the output folder, too). A file named
    explicitly is always tried, whatever its suffix. Keys are unique: a clash gets ``-2``, ``-3`` ...
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    excluded = Path(exclude).resolve() if exclude is not None else None
    sources: list[_Source] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            files = sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.relative_to(path).as_posix())
            for file in files:
                suffix = file.suffix.lower()
                if suffix not in IMAGE_SUFFIXES | VIDEO_SUFFIXES or _is_within(file, excluded):
                    continue
                key = file.relative_to(path).with_suffix("").as_posix()
                sources.append(_Source(file, key, suffix in VIDEO_SUFFIXES))
        elif path.is_file():
            sources.append(_Source(path, path.stem, path.suffix.lower() in VIDEO_SUFFIXES))
        else:
            raise InputError(f"Input {str(path)!r} does not exist; pass image files, folders or video files.")
    if not sources:
        raise InputError(
            f"No images or videos found in {', '.join(map(str, inputs))} "
            f"(image suffixes: {', '.join(sorted(IMAGE_SUFFIXES))})."
        )
    return _with_unique_keys(sources)


def iter_video_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """The frames of a video file as (height, width, 3) uint8 RGB arrays, decoded with PyAV."""
    av = _import_av()
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise InputError(f"{path} has no video stream.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        declared, count = stream.frames, 0  # 0 where the container does not say
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")
            count += 1
        # A cut file often decodes without an error: only the declared length shows that frames are missing.
        if declared and count < declared:
            raise InputError(f"{path} ended after {count} of its {declared} declared frames (truncated or damaged); "
                             "the frames before were written.")


def get_palette_for(dataset: str | None, num_labels: int) -> np.ndarray:
    """The dataset's official palette when it fits the model's class count, else a generated one."""
    if dataset is not None:
        palette = get_palette(dataset)
        if len(palette) == num_labels:
            return palette
        logger.warning("The model has %d classes, %s has %d; using generated colours.",
                       num_labels, dataset, len(palette))
    return default_palette(num_labels)


class _Writer:
    """Writes the PNGs of one image, each atomically (a temporary file renamed into place)."""

    def __init__(self, out_dir: Path, palette: np.ndarray, num_labels: int, label_ids: bool, color: bool,
                 blend: bool, alpha: float) -> None:
        self.out_dir, self.palette, self.label_ids = out_dir, palette, label_ids
        self.color, self.blend, self.alpha = color, blend, alpha
        self.label_dtype = np.uint8 if num_labels <= 255 else np.uint16

    def write(self, key: str, image: np.ndarray, label_map: np.ndarray) -> None:
        label_path = self.out_dir / "labels" / f"{key}.png"
        if self.label_ids:
            # The test-server format (labelIds as a 'P' PNG); the file is named after label_path itself.
            write_submission_png(label_map, label_path, label_path.parent, overwrite=True)
        else:
            _save_png(Image.fromarray(label_map.astype(self.label_dtype)), label_path)
        if self.color:
            _save_png(Image.fromarray(colorize(label_map, self.palette)), self.out_dir / "color" / f"{key}.png")
        if self.blend:
            # in bands of rows: the blend computes in float32, 12 bytes per pixel, 3.5 GB for a 100 MP photo
            blended = np.empty_like(image)
            for top in range(0, image.shape[0], _BLEND_ROWS):
                rows = slice(top, top + _BLEND_ROWS)
                blended[rows] = overlay(image[rows], label_map[rows], self.palette, alpha=self.alpha)
            _save_png(Image.fromarray(blended), self.out_dir / "overlay" / f"{key}.png")


def _save_png(image: Image.Image, path: Path) -> None:
    """Write a PNG atomically: readers never see a half-written file, and a crash leaves none behind."""
    encoded = io.BytesIO()
    image.save(encoded, format="PNG")
    write_atomic(path, encoded.getvalue())


@dataclass(frozen=True)
class _Frame:
    key: str  # output name
    source: str  # what the summary and the log call it
    image: np.ndarray


def _iter_frames(sources: list[_Source], skip: Callable[[str, BaseException], None]) -> Iterator[_Frame]:
    """Every readable image and video frame (RGB); unreadable ones are passed to ``skip``."""
    for source in sources:
        if not source.is_video:
            try:
                image = read_image(source.path)
            # Anything a broken file makes the decoder raise (ValueError, MemoryError, ...) is that file's
            # problem, not the run's: record it and go on.
            except Exception as error:  # noqa: BLE001
                skip(str(source.path), error)
                continue
            yield _Frame(source.key, str(source.path), image)
            continue
        count = 0
        try:
            for frame in iter_video_frames(source.path):
                yield _Frame(f"{source.key}/{count:06d}", f"{source.path} (frame {count})", frame)
                count += 1
        # A damaged video (or no PyAV to read it) loses its remaining frames, not the run.
        except Exception as error:  # noqa: BLE001
            skip(f"{source.path} (after {count} frames)" if count else str(source.path), error)


def _batches_of_equal_size(
    frames: Iterable[_Frame], processor: DabnetImageProcessor, batch_size: int
) -> Iterator[list[_Frame]]:
    """Consecutive frames grouped into batches whose images share one network-input size."""
    batch: list[_Frame] = []
    batch_input_size = None
    for frame in frames:
        input_size = processor.input_size(*frame.image.shape[:2])
        if batch and (input_size != batch_input_size or len(batch) == batch_size):
            yield batch
            batch = []
        batch.append(frame)
        batch_input_size = input_size
    if batch:
        yield batch


def _segment_each(
    model: DabnetForSemanticSegmentation, processor: DabnetImageProcessor, batch: list[_Frame],
    skip: Callable[[str, BaseException], None],
) -> Iterator[tuple[_Frame, np.ndarray]]:
    """(frame, label map) for each frame of a batch that can be segmented; the others are passed to ``skip``.

    A failing batch (out of memory, a shape the model refuses, ...) is retried one image at a time, so only the
    images that fail on their own are lost.
    """
    try:
        label_maps = segment(model, processor, [frame.image for frame in batch])
    except Exception as error:  # noqa: BLE001 - MemoryError included: the next file may well fit
        if len(batch) == 1:
            skip(batch[0].source, error)
            return
        for frame in batch:
            yield from _segment_each(model, processor, [frame], skip)
        return
    yield from zip(batch, label_maps)


def _count_frames(sources: list[_Source]) -> int | None:
    """Images plus video frames, for the progress bar; None when a video does not say how long it is."""
    total = 0
    for source in sources:
        if not source.is_video:
            total += 1
            continue
        try:
            av = _import_av()
            with av.open(str(source.path)) as container:
                frames = container.streams.video[0].frames if container.streams.video else 0
        except Exception:  # noqa: BLE001 - only a progress-bar estimate; reading reports the real problem
            return None
        if not frames:
            return None
        total += frames
    return total


def _with_unique_keys(sources: list[_Source]) -> list[_Source]:
    seen: set[str] = set()
    unique = []
    for source in sources:
        key, n = source.key, 1
        while key in seen:
            n += 1
            key = f"{source.key}-{n}"
        if key != source.key:
            logger.warning("Two inputs would both be written as %r; %s is written as %r.", source.key, source.path, key)
        seen.add(key)
        unique.append(_Source(source.path, key, source.is_video))
    return unique


def _is_within(path: Path, folder: Path | None) -> bool:
    return folder is not None and path.resolve().is_relative_to(folder)


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"Unknown device {device!r}; use cpu, cuda or cuda:N.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"Device {device!r} was requested but CUDA is not available to this torch; use --device cpu.")
    return resolved


def _resolve_dataset(ref: ModelRef | None, model: DabnetForSemanticSegmentation, dataset: str | None) -> str | None:
    """The preset to follow: the one asked for or named, else the first whose classes the model has
    (COCO-Stuff-10k and -164k share their classes, palette and test size)."""
    if ref is not None:
        ref = ref.with_config(model.config)
        if ref.dataset is not None:
            return ref.dataset
    elif dataset is not None:
        return get_dataset_preset(dataset).name
    candidates = identify_config(model.config).datasets
    return candidates[0] if candidates else None


def _import_av() -> Any:
    try:
        import av
    except ImportError:
        raise DabnetZooError(_PYAV_HINT) from None
    return av


__all__ = [
    "IMAGE_SUFFIXES",
    "PredictSummary",
    "VIDEO_SUFFIXES",
    "collect_inputs",
    "get_palette_for",
    "iter_video_frames",
    "predict",
    "read_image",
    "segment",
]
