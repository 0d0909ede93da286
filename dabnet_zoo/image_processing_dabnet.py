"""DABNet image processor, and the original's test protocol: one implementation of each step.

The steps, each a function here, in the order the original's ``tools/test.py`` applies them (mmseg 0.19 with
mmcv 1.4; see docs/architecture.md):

1. :func:`read_image`: decode a file with OpenCV (``cv2.imdecode``, ``IMREAD_COLOR``), as mmcv does;
2. :func:`get_resize_output_size`: the test size (mmcv's ``rescale_size`` when the ratio is kept);
3. :func:`resize_image`: OpenCV bilinear (``cv2.INTER_LINEAR``, no antialiasing) on the *uint8* image;
4. :func:`normalize_image`: ``(x - mean) / std`` in float32, channels first;
5. :func:`logits_to_label_map`: the 1/8 logits resized bilinearly (``align_corners=False``) to the network
   input size, then to the original image size, then the argmax over classes (first maximum wins); computed
   in groups of classes so that memory stays bounded for large photos, with exactly the result of the
   one-shot computation. :func:`resize_logits` is its resize, shared with the ONNX export's graph.

Label maps (for training with transformers' Trainer) use :func:`reduce_labels` (mmseg's ``reduce_zero_label``)
and :func:`resize_labels` (OpenCV's nearest-neighbour rule). :class:`DabnetImageProcessor` chains the steps;
``dabnet_zoo.data.TestTransform``, ``dabnet_zoo.evaluation``, ``dabnet_zoo.predict`` and ``dabnet_zoo.export``
call the same functions, so the processor, ``predict`` and the evaluation give identical pixels for one image.

This module imports nothing from the rest of the package, so it can travel to the Hub as remote code beside the
configuration and the model; that is why its defaults are plain constructor arguments here and the dataset
presets are applied elsewhere (``dabnet_zoo.create_processor``). OpenCV (``opencv-python-headless``) is needed
for the resize and for reading files, as in the original.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.image_transforms import get_size_with_aspect_ratio
from transformers.processing_utils import ImagesKwargs

try:  # the functions that need OpenCV say how to install it (transformers' import check skips try blocks)
    import cv2
except ImportError:
    cv2 = None

try:  # transformers >= 5.x: the output type of return_segmentation_scores=True
    from transformers.image_processing_outputs import SemanticSegmentationPostProcessorOutput
except ImportError:

    class SemanticSegmentationPostProcessorOutput(BatchFeature):
        """``segmentation`` (height, width) class indices and ``segmentation_scores`` (classes, height, width)."""


ImageLike = Union[Image.Image, np.ndarray, torch.Tensor]

# The original's ImageNet statistics on the 0-255 scale; duplicated from presets.py on purpose (see the module
# docstring).
_IMAGENET_MEAN = (123.675, 116.28, 103.53)
_IMAGENET_STD = (58.395, 57.12, 57.375)
_CITYSCAPES_TEST_SIZE = {"height": 1024, "width": 2048}
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_CHANNEL_COUNTS = (1, 3, 4)
# The constructor arguments, which preprocess() also takes as per-call overrides.
_SETTINGS = ("do_resize", "size", "keep_ratio", "resample", "do_rescale", "rescale_factor", "do_normalize",
             "image_mean", "image_std", "do_convert_rgb", "pad_size", "do_reduce_labels", "ignore_index")
# Float images are taken to be on the 0-1 scale (torchvision's and transformers' convention); this much
# overshoot from earlier arithmetic is clipped instead of rejected.
_FLOAT_TOLERANCE = 1e-3
# PIL resampling codes (what transformers stores as ``resample``) -> OpenCV interpolation flags.
_CV2_INTERPOLATION = {
    Image.Resampling.NEAREST: "INTER_NEAREST",
    Image.Resampling.BILINEAR: "INTER_LINEAR",
    Image.Resampling.BICUBIC: "INTER_CUBIC",
    Image.Resampling.LANCZOS: "INTER_LANCZOS4",
    Image.Resampling.BOX: "INTER_AREA",
}
# Post-processing resizes at most this many bytes of scores at a time (per group of classes).
_POSTPROCESS_CHUNK_BYTES = 256 * 2**20


class DabnetImageProcessorKwargs(ImagesKwargs, total=False):
    """Keyword arguments of :class:`DabnetImageProcessor` beyond transformers' common image kwargs.

    keep_ratio (`bool`): whether a ``{"height", "width"}`` resize keeps the aspect ratio (mmseg's ``keep_ratio``).
    do_reduce_labels (`bool`): whether label maps are read with mmseg's ``reduce_zero_label``.
    reduce_labels (`bool`): older name of ``do_reduce_labels`` (as in transformers' segmentation processors).
    ignore_index (`int`): label value for ignored pixels, also the padding value of ``labels``.
    """

    keep_ratio: bool
    do_reduce_labels: bool
    reduce_labels: bool
    ignore_index: int


# --------------------------------------------------------------------------------------------------------------
# The test protocol, step by step
# --------------------------------------------------------------------------------------------------------------


def _opencv() -> Any:
    if cv2 is None:
        raise ImportError("DABNet's test protocol resizes and reads images with OpenCV, as the original does; "
                          "install it with `pip install opencv-python-headless`.")
    return cv2


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as (height, width, 3) uint8 RGB, decoded exactly as the original reads its images.

    mmcv decodes with ``cv2.imdecode(..., cv2.IMREAD_COLOR)``; so does this function. Consequences, all as in
    the original: grey images are replicated to three channels; alpha is dropped; 16-bit images keep their high
    byte (``v >> 8``); the EXIF orientation of JPEG, PNG, WebP and TIFF files is applied, so phone photos come
    out upright.

    Decompression bombs (a small file that decodes to a huge image) are refused before decoding, with Pillow's
    limit (``PIL.Image.MAX_IMAGE_PIXELS``, twice its warning threshold: 179 megapixels by default), read from
    the file's header.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not an image OpenCV can decode, or has more pixels than the limit (the message
            names the file).
    """
    data = np.fromfile(os.fspath(path), dtype=np.uint8)  # not cv2.imread: it cannot open every path on Windows
    _refuse_decompression_bomb(data, path)
    image = _opencv().imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"Cannot decode {os.fspath(path)!r} as an image (empty, damaged or of an unsupported "
                         "format); OpenCV reads PNG, JPEG, BMP, TIFF, WebP, PPM/PGM and GIF.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _refuse_decompression_bomb(data: np.ndarray, path: str | os.PathLike) -> None:
    """Raise if the image's header declares more pixels than Pillow accepts (nothing is decoded here)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data.tobytes())):  # reads the header only
                pass
    except Image.DecompressionBombError as error:
        raise ValueError(f"{os.fspath(path)!r} is too large to read safely ({error}) Raise "
                         "PIL.Image.MAX_IMAGE_PIXELS if the file is trusted.") from None
    except Exception:  # noqa: BLE001 - a format Pillow does not know: OpenCV decodes it (or says it cannot)
        return


def to_rgb_uint8(image: ImageLike, input_data_format: str | None = None, do_convert_rgb: bool = True) -> np.ndarray:
    """Convert one in-memory image to an (height, width, 3) uint8 RGB array, the form the original works on.

    Accepted: PIL images of any common mode (grayscale, palette, RGBA, CMYK, 16-bit "I;16"/"I", ...);
    NumPy arrays (height, width), (height, width, C) or (C, height, width) with C in 1, 3, 4; torch tensors
    (C, height, width) (torchvision's layout), (height, width, C) or (height, width). Gray is replicated to
    three channels; alpha is dropped, as OpenCV's ``imread`` does in the original. Values: uint8 as they
    are; uint16 reduced to 8 bit as OpenCV does when it reads 16-bit files (``v >> 8``); floats must lie in
    [0, 1] and are scaled by 255; other integer types must already lie in 0-255.

    Args:
        image: the image.
        input_data_format: ``"channels_first"`` or ``"channels_last"`` for 3-D arrays and tensors whose layout
            cannot be guessed (e.g. 3x3 images); default: guessed from the shape.
        do_convert_rgb: convert grey, palette, alpha and other modes to RGB; when False the image must already
            have exactly three channels.

    Raises:
        TypeError: for anything that is not an image (a path, a list, None ...).
        ValueError: for an empty image, an unsupported shape or values outside the documented ranges.
    """
    layout = None if input_data_format is None else str(getattr(input_data_format, "value", input_data_format))
    if layout not in (None, "channels_first", "channels_last"):
        raise ValueError(f"input_data_format must be 'channels_first' or 'channels_last', got {input_data_format!r}.")
    if isinstance(image, Image.Image):
        if not do_convert_rgb and image.mode != "RGB":
            raise ValueError(f"The image has mode {image.mode!r} and do_convert_rgb=False; pass do_convert_rgb=True.")
        return _pil_to_rgb(image)
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()  # bfloat16/float16 have no (or a lossy) NumPy counterpart
        array, channels_first_default = tensor.numpy(), True
    elif isinstance(image, np.ndarray):
        array, channels_first_default = image, False
    else:
        raise TypeError(
            f"Expected an image (PIL.Image.Image, numpy array or torch tensor), got {type(image).__name__}. "
            "Read image files first, e.g. dabnet_zoo.image_processing_dabnet.read_image(path)."
        )
    if array.ndim == 3:
        if layout is None:
            # torch tensors are channels first (torchvision's layout), arrays channels last, unless the shape says
            # otherwise
            first = array.shape[0] in _CHANNEL_COUNTS and (channels_first_default or array.shape[-1] not in
                                                           _CHANNEL_COUNTS)
        else:
            first = layout == "channels_first"
        if first:
            array = np.moveaxis(array, 0, -1)
    rgb = _array_to_rgb(array)
    if not do_convert_rgb and not (array.ndim == 3 and array.shape[-1] == 3):
        raise ValueError(f"The image has shape {tuple(array.shape)} and do_convert_rgb=False; pass do_convert_rgb=True "
                         "to convert grey and alpha images to RGB.")
    return rgb


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "RGB":
        return np.array(image)
    if mode in _SIXTEEN_BIT_MODES or mode == "F":
        # PIL's own convert("RGB") clips 16-bit values at 255 instead of scaling them; do it here.
        return _array_to_rgb(np.asarray(image), sixteen_bit=mode in _SIXTEEN_BIT_MODES)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # what PIL itself asks for palette images with transparency
    try:
        return np.array(image.convert("RGB"))
    except ValueError as error:
        raise ValueError(f"Cannot convert a PIL image of mode {mode!r} to RGB ({error}); convert it first.") from None


def _array_to_rgb(array: np.ndarray, sixteen_bit: bool = False) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] in _CHANNEL_COUNTS:
        channels = array.shape[-1]
    elif array.ndim == 2:
        channels = 0
    else:
        raise ValueError(
            f"Cannot read an image of shape {tuple(array.shape)}: expected (height, width), (height, width, C) "
            "or (C, height, width) with C in 1, 3, 4. Pass batches as a list or a 4-D array."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"The image is empty (shape {tuple(array.shape)}).")
    array = _to_uint8(array, sixteen_bit or array.dtype == np.uint16)
    if channels == 0:
        array = array[..., None]
    if channels in (0, 1):
        return np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array[..., :3])


def _to_uint8(array: np.ndarray, sixteen_bit: bool) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < -_FLOAT_TOLERANCE or array.max() > 1 + _FLOAT_TOLERANCE:
            raise ValueError(
                f"Float images must hold values in [0, 1], got [{array.min():g}, {array.max():g}]. "
                "Pass 0-255 images as uint8, or divide by 255 first."
            )
        return np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"Unsupported image dtype {array.dtype}; use uint8, uint16 or float in [0, 1].")
    if sixteen_bit:
        return (np.clip(array, 0, 65535).astype(np.uint16) >> 8).astype(np.uint8)  # OpenCV's IMREAD_COLOR rule
    if array.min() < 0 or array.max() > 255:
        raise ValueError(
            f"Integer images of dtype {array.dtype} must hold 8-bit values 0-255, got [{array.min()}, {array.max()}]. "
            "Pass 16-bit images as uint16 so that they are scaled."
        )
    return array.astype(np.uint8)


def get_resize_output_size(
    height: int, width: int, size: dict[str, int] | Sequence[int], keep_ratio: bool = False
) -> tuple[int, int]:
    """The (height, width) an image of ``height`` x ``width`` is resized to.

    * ``{"height": h, "width": w}`` (or ``(h, w)``) without ``keep_ratio``: exactly that size (transformers'
      convention; the original's CamVid and COCO-Stuff protocols).
    * ``{"height": h, "width": w}`` with ``keep_ratio``: mmcv's ``rescale_size`` (the original's Cityscapes
      protocol). The scale factor is ``min(long_target / long_side, short_target / short_side)``, so the image
      fits inside the target whatever its orientation, and each side becomes ``int(side * factor + 0.5)``.
    * ``{"shortest_edge": n}`` (optionally with ``"longest_edge": m``): transformers' rule (the short side
      becomes n, the long side keeps the ratio, capped at m).
    """
    size = _size_dict(size)
    if "shortest_edge" in size:
        return get_size_with_aspect_ratio((height, width), size["shortest_edge"], size.get("longest_edge"))
    target_height, target_width = size["height"], size["width"]
    if not keep_ratio:
        return target_height, target_width
    long_factor = max(target_height, target_width) / max(height, width)
    short_factor = min(target_height, target_width) / min(height, width)
    return _rescaled(height, width, min(long_factor, short_factor))


def _rescaled(height: int, width: int, factor: float) -> tuple[int, int]:
    """``height`` x ``width`` scaled by ``factor`` with mmcv's rounding (``int(side * factor + 0.5)``).
    max(1, ...) only guards extreme aspect ratios, where the original would produce an empty image."""
    return max(1, int(height * factor + 0.5)), max(1, int(width * factor + 0.5))


def resize_image(image: np.ndarray, size: Sequence[int], resample: int = Image.Resampling.BILINEAR) -> np.ndarray:
    """Resize an (height, width, 3) uint8 image to ``size`` = (height, width) with OpenCV, as mmcv's ``imresize``.

    Bilinear (the default and the original's) is ``cv2.INTER_LINEAR``: half-pixel centres, no antialiasing when
    shrinking (unlike PIL). ``resample`` takes PIL's codes (what transformers stores); nearest, bicubic, Lanczos
    and box map to OpenCV's counterparts.
    """
    height, width = int(size[0]), int(size[1])
    if image.shape[:2] == (height, width):
        return image
    opencv = _opencv()
    return opencv.resize(image, (width, height), interpolation=getattr(opencv, _opencv_interpolation(resample)))


def _opencv_interpolation(resample: int) -> str:
    """The name of OpenCV's interpolation flag for a PIL resampling code; ValueError when there is none."""
    name = _CV2_INTERPOLATION.get(Image.Resampling(resample))
    if name is None:
        raise ValueError(f"resample={Image.Resampling(resample).name} has no OpenCV counterpart; use one of "
                         f"{', '.join(code.name for code in _CV2_INTERPOLATION)}.")
    return name


def nearest_source_indices(source: int, target: int) -> np.ndarray:
    """OpenCV's ``INTER_NEAREST`` rule (mmcv's ``'nearest'``): output index i reads input index
    ``floor(i * (1 / (target / source)))`` in double precision, at most ``source - 1``. The double rounding makes
    it differ from the exact ``floor(i * source / target)`` at some boundaries."""
    inverse_scale = 1.0 / (target / source)
    return np.minimum(np.floor(np.arange(target, dtype=np.float64) * inverse_scale).astype(np.int64), source - 1)


def resize_labels(labels: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of a 2-D label map of any integer dtype, as ``cv2.resize(..., INTER_NEAREST)``."""
    height, width = int(size[0]), int(size[1])
    if labels.shape == (height, width):
        return labels
    rows = nearest_source_indices(labels.shape[0], height)
    cols = nearest_source_indices(labels.shape[1], width)
    return labels[rows[:, None], cols[None, :]]


def reduce_labels(labels: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """mmseg's ``reduce_zero_label``: 0 (unlabelled) becomes ``ignore_index``, every other class moves down by one,
    ``ignore_index`` stays. Returns int64."""
    labels = np.asarray(labels).astype(np.int64)
    reduced = labels - 1
    reduced[(labels == 0) | (labels == ignore_index)] = ignore_index
    return reduced


def normalize_image(
    image: np.ndarray,
    mean: Sequence[float] | None = _IMAGENET_MEAN,
    std: Sequence[float] | None = _IMAGENET_STD,
    rescale_factor: float | None = None,
) -> np.ndarray:
    """An (height, width, 3) image as float32 (3, height, width) network input: optionally ``x * rescale_factor``,
    then ``(x - mean) / std`` per channel, all in float32 (bit for bit the original's normalisation).
    ``mean=None`` skips the normalisation."""
    pixels = np.asarray(image, dtype=np.float32)
    if rescale_factor is not None:
        pixels = pixels * np.float32(rescale_factor)
    if mean is not None:
        pixels = (pixels - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def resize_logits(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """The original's logit resize: bilinear, ``align_corners=False``, on (batch, classes, h, w) scores.
    Traceable (the ONNX export puts it in its graph)."""
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def _first_resize(scores: torch.Tensor, input_size: Sequence[int], padded_size: Sequence[int] | None) -> torch.Tensor:
    """(1, classes, h, w) scores resized to the network input: through the padded batch size and cropped when the
    image was padded. A resize to the same size is skipped (it is the identity)."""
    first = tuple(padded_size or input_size)
    if tuple(scores.shape[-2:]) != first:
        scores = resize_logits(scores, first)
    if tuple(first) != tuple(input_size):
        scores = scores[..., : input_size[0], : input_size[1]]
    return scores


def _second_resize(scores: torch.Tensor, output_size: Sequence[int]) -> torch.Tensor:
    return scores if tuple(scores.shape[-2:]) == tuple(output_size) else resize_logits(scores, output_size)


def _resize_scores(
    scores: torch.Tensor, input_size: Sequence[int], output_size: Sequence[int], padded_size: Sequence[int] | None
) -> torch.Tensor:
    """The original's two resizes of (1, classes, h, w) float32 scores: to the network input, then to
    ``output_size`` (the original image size)."""
    return _second_resize(_first_resize(scores, input_size, padded_size), output_size)


def _splits_exactly(input_shape: Sequence[int], output_size: Sequence[int]) -> bool:
    """Whether a bilinear resize from ``input_shape`` to ``output_size`` gives each class the same bits whether
    the classes are resized together or in groups.

    PyTorch's CPU kernel vectorises across classes (so vector lanes and the scalar tail round differently) for
    outputs with height + width <= 128 and for 1x1 inputs (which count as channels-last); everywhere else each
    value is computed by the same arithmetic whatever the number of classes (the tests check this bit for bit on
    the CPU; the CUDA kernel computes every value on its own by design). Groups of exactly 3 classes are avoided
    separately (a single-threaded CPU kernel treats 3 channels as an RGB image).
    """
    return sum(output_size) > 128 and tuple(input_shape) != (1, 1)


def _class_groups(num_classes: int, group: int) -> list[tuple[int, int]]:
    """(start, end) of consecutive class groups of at most ``group``, none of exactly 3 classes."""
    group = 2 if group == 3 else group
    bounds = [(start, min(start + group, num_classes)) for start in range(0, num_classes, group)]
    start, end = bounds[-1]
    if end - start == 3 and len(bounds) > 1:
        bounds[-1:] = [(start, start + 2), (start + 2, end)]
    return bounds


def logits_to_label_map(
    logits: torch.Tensor,
    input_size: Sequence[int],
    output_size: Sequence[int] | None = None,
    padded_size: Sequence[int] | None = None,
    max_chunk_bytes: int = _POSTPROCESS_CHUNK_BYTES,
) -> torch.Tensor:
    """One image's class-index map from its (classes, h, w) logits, with the original's post-processing.

    The logits are resized bilinearly (``align_corners=False``) to the network-input size ``input_size``, then
    to ``output_size`` (the original image size; default ``input_size``), and the argmax over classes is taken
    (the first maximum wins on ties, as ``torch.argmax``). With ``padded_size`` (the image sat in the top-left
    corner of a padded batch) the first resize goes to ``padded_size`` and is cropped to ``input_size``.

    Memory stays bounded: when all resized scores would take more than ``max_chunk_bytes``, the classes are
    resized in groups that fit, keeping a running maximum and its class index (updated in bands of rows). The
    groups are chosen so that every class's scores get exactly the bits of the one-shot computation
    (:func:`_splits_exactly`), so the result is bit for bit ``argmax`` of the fully resized logits: a
    24-megapixel photo with 171 classes needs a few hundred MB instead of 16 GB. (The original takes a softmax
    before the argmax; that does not change which class is largest, except that it can merge two scores that
    differ in their last float bit.)

    Returns:
        int64 (height, width) tensor on the logits' device.
    """
    if logits.ndim == 4 and logits.shape[0] == 1:
        logits = logits[0]
    if logits.ndim != 3:
        raise ValueError(f"Expected one image's logits (classes, height, width), got {tuple(logits.shape)}.")
    input_size = tuple(int(side) for side in input_size)
    output_size = input_size if output_size is None else tuple(int(side) for side in output_size)
    first = tuple(padded_size or input_size)
    num_classes = logits.shape[0]
    scores = logits[None].float().contiguous()
    # float32 scores per class: at the (padded) network input, and at the output size unless that is the same
    bytes_per_class = 4 * (first[0] * first[1] + (output_size[0] * output_size[1] if output_size != input_size else 0))
    if num_classes <= 3 or num_classes * bytes_per_class <= max_chunk_bytes:
        return _resize_scores(scores, input_size, output_size, padded_size)[0].argmax(dim=0)
    if not _splits_exactly(scores.shape[-2:], first):  # a small first resize: all classes at once, then split
        scores = _first_resize(scores, input_size, padded_size).contiguous()
        input_size, padded_size = tuple(scores.shape[-2:]), None
        bytes_per_class = 4 * output_size[0] * output_size[1]
    if not _splits_exactly(scores.shape[-2:], output_size):  # a tiny output: never large, computed at once
        return _resize_scores(scores, input_size, output_size, padded_size)[0].argmax(dim=0)

    best = torch.empty(output_size, dtype=torch.float32, device=logits.device)
    labels = torch.empty(output_size, dtype=torch.int64, device=logits.device)
    finite = bool(torch.isfinite(scores).all())  # no NaN can appear in the resized scores (the usual case)
    rows = max(1, max_chunk_bytes // (64 * output_size[1]))  # bands of the running update: <= 64 bytes per pixel
    for start, end in _class_groups(num_classes, max(1, max_chunk_bytes // bytes_per_class)):
        group = _resize_scores(scores[:, start:end], input_size, output_size, padded_size)[0]
        for top in range(0, output_size[0], rows):
            values, indices = group[:, top : top + rows].max(dim=0)
            if start == 0:
                best[top : top + rows], labels[top : top + rows] = values, indices
                continue
            # torch.argmax semantics: the first maximum wins, NaN counts as the largest value
            band, band_labels = best[top : top + rows], labels[top : top + rows]
            better = values > band
            if not finite:
                better |= values.isnan() & ~band.isnan()
            torch.where(better, values, band, out=band)
            torch.where(better, indices.add_(start), band_labels, out=band_labels)
        del group
    return labels


# --------------------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------------------


def _size_dict(size: dict[str, int] | Sequence[int] | int, name: str = "size") -> dict[str, int]:
    """``{"height", "width"}`` or ``{"shortest_edge"[, "longest_edge"]}`` from the forms transformers accepts."""
    if isinstance(size, dict):
        keys = set(size)
        if keys == {"height", "width"}:
            result = {"height": int(size["height"]), "width": int(size["width"])}
        elif keys in ({"shortest_edge"}, {"shortest_edge", "longest_edge"}):
            result = {key: int(size[key]) for key in ("shortest_edge", "longest_edge") if key in size}
            if result.get("longest_edge", result["shortest_edge"]) < result["shortest_edge"]:
                raise ValueError(f"{name}: longest_edge must be at least shortest_edge, got {size}.")
        else:
            raise ValueError(f"{name} must be {{'height': h, 'width': w}} or {{'shortest_edge': n}} (optionally with "
                             f"'longest_edge'), got the keys {sorted(size)}.")
    elif isinstance(size, int) and not isinstance(size, bool):
        result = {"height": size, "width": size}
    elif isinstance(size, Sequence) and not isinstance(size, str) and len(size) == 2:
        result = {"height": int(size[0]), "width": int(size[1])}
    else:
        raise ValueError(f"{name} must be {{'height': h, 'width': w}}, {{'shortest_edge': n}}, (h, w) or an int, "
                         f"got {size!r}.")
    if any(value < 1 for value in result.values()):
        raise ValueError(f"{name} must be positive, got {result}.")
    return result


def _three_floats(name: str, value: float | Sequence[float]) -> list[float]:
    values = [float(value)] * 3 if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) != 3:
        raise ValueError(f"{name} needs one value per RGB channel (3), got {len(values)}: {value!r}.")
    return values


class DabnetImageProcessor(BaseImageProcessor):
    r"""
    Turns images into DABNet inputs the way the original tests, and logits into label maps at image size.

    Pipeline per image: convert to 8-bit RGB (:func:`to_rgb_uint8`) -> resize to the test size with OpenCV
    bilinear on the uint8 image (:func:`get_resize_output_size`, :func:`resize_image`) -> optionally rescale ->
    normalise ``(pixel - mean) / std`` in float32 -> channels first (:func:`normalize_image`). A batch whose
    images end up with different sizes is padded bottom/right with 0 *after* normalisation (the mean colour;
    the original pads its training crops the same way) to the largest height and width, or to `pad_size`;
    ``original_sizes`` and ``reshaped_input_sizes`` record, per image, the size it came in with and the size it
    had before padding, so that :meth:`post_process_semantic_segmentation` can crop the padding away and
    restore the original size (:func:`logits_to_label_map`).

    With label maps (``segmentation_maps``, i.e. training or evaluating with transformers' Trainer), a processor
    that keeps the ratio pads every image to one box, `pad_size` or else `size`, and its labels with
    `ignore_index`, whatever the batch: the Trainer stacks examples processed one by one and concatenates the
    logits and labels of all evaluation batches, which only works when they share one size. An image that the
    keep-ratio rule would make larger than that box (a portrait photo under a landscape `size`) is scaled
    to fit inside it instead; landscape images under the presets are resized exactly as the original tests.

    Sizes the original never saw: any size works. The model pads internally to the next size its patch size
    accepts and crops its logits back, so the network input is exactly the resized image. Padding in a batch of
    mixed sizes changes the predictions near the padded borders slightly (the network sees the padding), which
    is why ``dabnet-zoo predict`` and the evaluation batch only images of equal size.

    Args:
        do_resize (`bool`, *optional*, defaults to `True`):
            Whether to resize images (see `size` and `keep_ratio`).
        size (`dict[str, int]`, *optional*, defaults to `{"height": 1024, "width": 2048}`):
            `{"height": h, "width": w}`: exactly that size, unless `keep_ratio`; `{"shortest_edge": n}`
            (optionally with `"longest_edge": m`): the short side becomes n, keeping the ratio. `(h, w)` or an
            int (square) are accepted too.
        keep_ratio (`bool`, *optional*, defaults to `False`):
            With a `{"height", "width"}` size, keep the aspect ratio the way the original does (mmcv's
            `rescale_size`): the image fits inside `size` whatever its orientation (long side against the long
            target, short against the short). The Cityscapes preset keeps it; CamVid and COCO-Stuff do not.
        resample (`int`, *optional*, defaults to `PIL.Image.Resampling.BILINEAR`):
            Interpolation for images, as a PIL code: bilinear is OpenCV's `INTER_LINEAR` (the original's).
            Label maps always use nearest.
        do_rescale (`bool`, *optional*, defaults to `False`):
            Multiply pixel values by `rescale_factor` before normalising (transformers' usual 0-1 scale; the
            original normalises on the 0-255 scale, so its statistics come without rescaling).
        rescale_factor (`float`, *optional*, defaults to `1/255`):
            The factor of `do_rescale`.
        do_normalize (`bool`, *optional*, defaults to `True`):
            Whether to normalise with `image_mean` and `image_std`.
        image_mean (`list[float]`, *optional*, defaults to `[123.675, 116.28, 103.53]`):
            Per-channel RGB mean, on the scale after rescaling (0-255 by default).
        image_std (`list[float]`, *optional*, defaults to `[58.395, 57.12, 57.375]`):
            Per-channel RGB standard deviation, on the same scale.
        do_convert_rgb (`bool`, *optional*, defaults to `True`):
            Convert grey, palette, alpha and other modes to RGB; when False every image must already be RGB.
        pad_size (`dict[str, int]`, *optional*):
            Pad every image to this `{"height", "width"}` instead of to the largest of its batch. Set it for
            `pipeline("image-segmentation", batch_size>1)` with `keep_ratio` and photos of different aspect
            ratios (the pipeline stacks images processed one by one), e.g. a square of the longer test side.
            Images with label maps are scaled to fit inside it if needed, and padded to `size` when this is not
            set and the ratio is kept (see above).
        do_reduce_labels (`bool`, *optional*, defaults to `False`):
            Whether label maps have 0 = unlabelled and all other classes shifted up by one (mmseg's
            `reduce_zero_label`, used for COCO-Stuff-10k): 0 becomes `ignore_index`, the rest move down by one.
            `reduce_labels` is accepted as its older name.
        ignore_index (`int`, *optional*, defaults to 255):
            Label of ignored pixels; `labels` are padded with it.

    Example:

    ```python
    >>> import numpy as np
    >>> from dabnet_zoo.image_processing_dabnet import DabnetImageProcessor
    >>> processor = DabnetImageProcessor(size={"height": 768, "width": 960})
    >>> inputs = processor(np.zeros((720, 960, 3), dtype=np.uint8), return_tensors="pt")
    >>> inputs["pixel_values"].shape
    torch.Size([1, 3, 768, 960])

    ```
    """

    model_input_names = ["pixel_values"]
    valid_kwargs = DabnetImageProcessorKwargs

    def __init__(
        self,
        do_resize: bool = True,
        size: dict[str, int] | Sequence[int] | int | None = None,
        keep_ratio: bool = False,
        resample: int = Image.Resampling.BILINEAR,
        do_rescale: bool = False,
        rescale_factor: float = 1 / 255,
        do_normalize: bool = True,
        image_mean: float | Sequence[float] | None = None,
        image_std: float | Sequence[float] | None = None,
        do_convert_rgb: bool = True,
        pad_size: dict[str, int] | Sequence[int] | None = None,
        do_reduce_labels: bool | None = None,
        ignore_index: int = 255,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("image_processor_type", None)  # written by save_pretrained; the class name, not a setting
        reduce_alias = kwargs.pop("reduce_labels", None)
        if reduce_alias is not None:
            if do_reduce_labels is not None and bool(do_reduce_labels) != bool(reduce_alias):
                raise ValueError(f"do_reduce_labels={do_reduce_labels} and its older name reduce_labels={reduce_alias} "
                                 "disagree; pass only do_reduce_labels.")
            do_reduce_labels = reduce_alias
        super().__init__(**kwargs)
        self.do_resize = bool(do_resize)
        self.size = _size_dict(_CITYSCAPES_TEST_SIZE if size is None else size)
        self.keep_ratio = bool(keep_ratio)
        self.resample = int(Image.Resampling(resample))
        _opencv_interpolation(self.resample)  # refuse a code OpenCV cannot apply now, not at the first image
        self.do_rescale = bool(do_rescale)
        self.rescale_factor = float(rescale_factor)
        if not np.isfinite(self.rescale_factor) or self.rescale_factor <= 0:
            raise ValueError(f"rescale_factor must be a positive number, got {rescale_factor!r}.")
        self.do_normalize = bool(do_normalize)
        self.image_mean = _three_floats("image_mean", _IMAGENET_MEAN if image_mean is None else image_mean)
        self.image_std = _three_floats("image_std", _IMAGENET_STD if image_std is None else image_std)
        if not all(np.isfinite(s) and s > 0 for s in self.image_std):
            raise ValueError(f"image_std must be positive, got {self.image_std}.")
        if not all(np.isfinite(m) for m in self.image_mean):
            raise ValueError(f"image_mean must be finite, got {self.image_mean}.")
        self.do_convert_rgb = bool(do_convert_rgb)
        self.pad_size = None if pad_size is None else _size_dict(pad_size, "pad_size")
        if self.pad_size is not None and set(self.pad_size) != {"height", "width"}:
            raise ValueError(f"pad_size must be {{'height': h, 'width': w}}, got {pad_size!r}.")
        self.do_reduce_labels = bool(do_reduce_labels)
        self.ignore_index = int(ignore_index)

    @classmethod
    def from_dict(cls, image_processor_dict: dict[str, Any], **kwargs: Any) -> DabnetImageProcessor:
        """As transformers' ``from_dict``; ``reduce_labels=`` (the older name) overrides the saved
        ``do_reduce_labels`` like ``do_reduce_labels=`` does."""
        if "reduce_labels" in kwargs:
            kwargs["do_reduce_labels"] = kwargs.pop("reduce_labels")
        return super().from_dict(image_processor_dict, **kwargs)

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The network-input (height, width) this processor gives an image of ``height`` x ``width``."""
        if not self.do_resize:
            return height, width
        return get_resize_output_size(height, width, self.size, self.keep_ratio)

    def preprocess(
        self,
        images: ImageLike | Sequence[ImageLike],
        segmentation_maps: ImageLike | Sequence[ImageLike] | None = None,
        return_tensors: str | None = None,
        input_data_format: str | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Prepare one image or a batch (a list, or a 4-D array/tensor) for the model.

        Args:
            images: PIL images, NumPy arrays or torch tensors (see :func:`to_rgb_uint8` for what each may hold).
                To read files as the original does, use :func:`read_image`.
            segmentation_maps: optional label maps (class indices), one per image and of the same size; they
                are resized with nearest and returned as ``labels``.
            return_tensors: ``"pt"`` for torch tensors, ``"np"`` or None for NumPy arrays.
            input_data_format: ``"channels_first"`` or ``"channels_last"`` when the layout of 3-D arrays cannot
                be guessed from their shape.
            **kwargs: any constructor argument, overriding this processor's value for this call only.

        Returns:
            `BatchFeature` with ``pixel_values`` (batch, 3, height, width) float32, ``original_sizes`` and
            ``reshaped_input_sizes`` (batch, 2) int64 (height, width) per image, and ``labels``
            (batch, height, width) int64 when label maps were given (padding = ``ignore_index``).
        """
        settings = self._call_settings(kwargs)
        image_list = _as_list(images, "images")
        rgb_images = []
        for index, image in enumerate(image_list):
            try:
                rgb_images.append(to_rgb_uint8(image, input_data_format, settings.do_convert_rgb))
            except (TypeError, ValueError) as error:
                where = f"Image {index} of {len(image_list)}: " if len(image_list) > 1 else ""
                raise type(error)(f"{where}{error}") from None

        original_sizes = [image.shape[:2] for image in rgb_images]
        input_sizes = [settings.input_size(h, w) for h, w in original_sizes]
        labelled = segmentation_maps is not None
        canvas = settings._canvas(labelled)
        if labelled and canvas is not None and settings.do_resize:  # training batches share the box: fit inside it
            input_sizes = [_fit_inside(original, size, canvas) for original, size in zip(original_sizes, input_sizes)]
        pixel_values = [settings._pixel_values(image, size) for image, size in zip(rgb_images, input_sizes)]
        data: dict[str, Any] = {
            "pixel_values": settings._pad_stack(pixel_values, 0.0, np.float32, canvas),
            "original_sizes": np.array(original_sizes, dtype=np.int64),
            "reshaped_input_sizes": np.array(input_sizes, dtype=np.int64),
        }
        if labelled:
            data["labels"] = settings._prepare_labels(segmentation_maps, original_sizes, input_sizes, canvas)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def post_process_semantic_segmentation(
        self,
        outputs: Any,
        target_sizes: Sequence[Sequence[int]] | torch.Tensor | None = None,
        reshaped_input_sizes: Sequence[Sequence[int]] | torch.Tensor | None = None,
        return_segmentation_scores: bool = False,
    ) -> list[torch.Tensor] | list[SemanticSegmentationPostProcessorOutput]:
        """Label maps from the model's logits, with the original's two-resize protocol (:func:`logits_to_label_map`).

        Per image: upsample the 1/8 logits bilinearly (``align_corners=False``) to the padded network-input
        size, crop the batch padding away (leaving the image's network-input size), upsample again to the
        target size, argmax over classes (the first maximum wins on ties).

        Args:
            outputs: the model output (anything with ``.logits``) or the logits tensor (batch, classes, h, w).
            target_sizes: (height, width) per image, usually the ``original_sizes`` of :meth:`preprocess`.
                None keeps the network-input size when that is known, else the logits' own size.
            reshaped_input_sizes: the ``reshaped_input_sizes`` of :meth:`preprocess`, i.e. each image's
                network-input size before batch padding. When omitted they are recomputed from
                ``target_sizes`` with this processor's resize rule, which is exact when the target sizes are
                the original image sizes and all images of the batch were processed together. The padded size
                is ``pad_size``, the largest input, or (after a call with label maps, told by the logits'
                size) the keep-ratio box that call padded to.
            return_segmentation_scores: also return the resized scores (transformers 5's convention). They take
                classes x height x width floats per image (16 GB for a 24-megapixel photo and 171 classes):
                the label maps alone are computed in bounded memory.

        Returns:
            One int64 tensor (height, width) per image, on the logits' device; with
            ``return_segmentation_scores``, one `SemanticSegmentationPostProcessorOutput` per image with
            ``segmentation`` and ``segmentation_scores`` (classes, height, width).

        Raises:
            ValueError: when the number of target or input sizes differs from the batch size.
        """
        logits = outputs if isinstance(outputs, torch.Tensor) else outputs.logits
        if logits.ndim != 4:
            raise ValueError(f"Expected logits of shape (batch, classes, height, width), got {tuple(logits.shape)}.")
        batch = logits.shape[0]
        targets = _size_list(target_sizes, batch, "target_sizes")
        inputs = _size_list(reshaped_input_sizes, batch, "reshaped_input_sizes")
        padded = None
        if inputs is not None:
            padded = self._padded_size(inputs, tuple(logits.shape[-2:]))
        elif targets is not None:  # preprocess's rule, including the fit into the box of a labelled call
            inputs = [self.input_size(h, w) for h, w in targets]
            padded = self._padded_size(inputs, tuple(logits.shape[-2:]))
            inputs = [_fit_inside(target, size, padded) for target, size in zip(targets, inputs)]
        else:  # nothing known about the images: the logits' own resolution
            inputs = [tuple(logits.shape[-2:])] * batch
        results = []
        for index in range(batch):
            target = targets[index] if targets is not None else inputs[index]
            canvas = padded if padded is not None and padded != tuple(inputs[index]) else None
            if not return_segmentation_scores:
                results.append(logits_to_label_map(logits[index], inputs[index], target, canvas))
                continue
            scores = _resize_scores(logits[index : index + 1].float(), inputs[index], target, canvas)[0]
            results.append(SemanticSegmentationPostProcessorOutput(
                data={"segmentation": scores.argmax(dim=0), "segmentation_scores": scores}
            ))
        return results

    # -- helpers -------------------------------------------------------------------------------------------

    def _call_settings(self, overrides: dict[str, Any]) -> DabnetImageProcessor:
        """This processor, or a copy with per-call overrides (validated like constructor arguments)."""
        unknown = sorted(set(overrides) - set(_SETTINGS) - {"reduce_labels"})
        if unknown:
            raise TypeError(f"Unknown argument(s) {unknown} for DabnetImageProcessor; valid: {', '.join(_SETTINGS)}.")
        overrides = {key: value for key, value in overrides.items() if value is not None}
        if "reduce_labels" in overrides:
            overrides.setdefault("do_reduce_labels", overrides.pop("reduce_labels"))
        if not overrides:
            return self
        return type(self)(**{**{key: getattr(self, key) for key in _SETTINGS}, **overrides})

    def _pixel_values(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The network input of one RGB uint8 image resized to ``size``: float32 (3, height, width)."""
        resized = resize_image(image, size, self.resample) if self.do_resize else image
        return normalize_image(
            resized,
            self.image_mean if self.do_normalize else None,
            self.image_std,
            self.rescale_factor if self.do_rescale else None,
        )

    def _canvas(self, labelled: bool) -> tuple[int, int] | None:
        """The (height, width) every image of a call is padded to: ``pad_size``; for labelled images with a
        keep-ratio ``{"height", "width"}`` resize, ``size`` (so that batches processed apart share one size);
        None to pad to the largest image of the call."""
        if self.pad_size is not None:
            return self.pad_size["height"], self.pad_size["width"]
        if labelled and self.do_resize and self.keep_ratio and "height" in self.size:
            return self.size["height"], self.size["width"]
        return None

    def _padded_size(self, inputs: list[tuple[int, int]], logits_size: tuple[int, int]) -> tuple[int, int]:
        """The (height, width) that :meth:`preprocess` padded the batch of these logits to (see :meth:`_canvas`).

        ``pad_size`` if set; else the largest input, unless the call had label maps and padded to the keep-ratio
        box: the 1/8 logits (the model keeps the cells covering its input) tell the two apart, except when they
        differ by less than 8 pixels, where the largest input is taken.
        """
        if self.pad_size is not None:
            return self.pad_size["height"], self.pad_size["width"]
        largest = (max(h for h, _ in inputs), max(w for _, w in inputs))
        box = self._canvas(labelled=True)
        if box is not None and _logit_cells(largest) != logits_size and _logit_cells(box) == logits_size:
            return box
        return largest

    def _pad_stack(
        self, arrays: list[np.ndarray], value: float, dtype: type, canvas: tuple[int, int] | None = None
    ) -> np.ndarray:
        """Stack arrays (..., h, w) into one batch, padding each at the bottom/right to ``canvas`` (see
        :meth:`_canvas`), else to the largest h and w."""
        height = max(a.shape[-2] for a in arrays)
        width = max(a.shape[-1] for a in arrays)
        if canvas is not None:
            if height > canvas[0] or width > canvas[1]:
                raise ValueError(f"An image of {height}x{width} does not fit pad_size {self.pad_size}; choose a larger "
                                 "pad_size.")
            height, width = canvas
        batch = np.full((len(arrays), *arrays[0].shape[:-2], height, width), value, dtype=dtype)
        for out, array in zip(batch, arrays):
            out[..., : array.shape[-2], : array.shape[-1]] = array
        return batch

    def _prepare_labels(
        self, segmentation_maps: Any, original_sizes: list[tuple[int, int]], input_sizes: list[tuple[int, int]],
        canvas: tuple[int, int] | None,
    ) -> np.ndarray:
        maps = _as_list(segmentation_maps, "segmentation_maps")
        if len(maps) != len(original_sizes):
            raise ValueError(f"Got {len(maps)} segmentation maps for {len(original_sizes)} images; pass one per image.")
        labels = []
        for index, (segmentation_map, original, size) in enumerate(zip(maps, original_sizes, input_sizes)):
            label = _to_label_array(segmentation_map)
            if label.shape != tuple(original):
                raise ValueError(
                    f"Segmentation map {index} has size {label.shape} but its image has {tuple(original)}; "
                    "label maps must match their images pixel for pixel."
                )
            if self.do_reduce_labels:
                label = reduce_labels(label, self.ignore_index)
            labels.append(resize_labels(label, size))
        return self._pad_stack(labels, self.ignore_index, np.int64, canvas)


def _logit_cells(size: tuple[int, int]) -> tuple[int, int]:
    """The size of the model's 1/8 logits for an input of ``size``: the cells that cover it."""
    return -(-size[0] // 8), -(-size[1] // 8)


def _fit_inside(original: tuple[int, int], resized: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """``resized`` if it fits inside ``box``; else the ``original`` (height, width) scaled to fit inside it, ratio
    kept, with mmcv's rounding."""
    if resized[0] <= box[0] and resized[1] <= box[1]:
        return resized
    height, width = _rescaled(*original, min(box[0] / original[0], box[1] / original[1]))
    return min(box[0], height), min(box[1], width)


def _to_label_array(segmentation_map: ImageLike) -> np.ndarray:
    """A label map as a 2-D int64 array of class indices."""
    if isinstance(segmentation_map, Image.Image):
        if segmentation_map.mode not in ("L", "P", "1", *_SIXTEEN_BIT_MODES):
            raise ValueError(
                f"Label maps must be single-channel class indices, got a PIL image of mode {segmentation_map.mode!r}. "
                "Convert colour-coded labels to class indices first."
            )
        array = np.asarray(segmentation_map)
    elif isinstance(segmentation_map, torch.Tensor):
        array = segmentation_map.detach().cpu().numpy()
    elif isinstance(segmentation_map, np.ndarray):
        array = segmentation_map
    else:
        raise TypeError(
            f"Expected a label map (PIL image, numpy array or torch tensor), got {type(segmentation_map).__name__}."
        )
    if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
        array = array.squeeze(0 if array.shape[0] == 1 else -1)
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise ValueError(
            f"Label maps must be 2-D integer arrays of class indices, got shape {tuple(array.shape)} "
            f"and dtype {array.dtype}."
        )
    return array.astype(np.int64)


def _as_list(images: Any, name: str) -> list:
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError(f"No {name} were given (an empty list); pass at least one image.")
        if any(isinstance(item, (list, tuple)) for item in images):
            raise TypeError(f"{name} must be one image or a flat list of images, not a nested list.")
        return list(images)
    if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
        if images.shape[0] == 0:
            raise ValueError(f"No {name} were given (a batch of size 0); pass at least one image.")
        return list(images)
    if images is None:
        raise TypeError(f"No {name} were given (None); pass a PIL image, a numpy array, a tensor or a list of them.")
    return [images]


def _size_list(sizes: Any, batch: int, name: str) -> list[tuple[int, int]] | None:
    if sizes is None:
        return None
    if isinstance(sizes, torch.Tensor):
        sizes = sizes.tolist()
    sizes = [tuple(int(v) for v in size) for size in sizes]
    if len(sizes) != batch:
        raise ValueError(f"Got {len(sizes)} {name} for a batch of {batch}; pass one (height, width) per image.")
    if any(len(size) != 2 or min(size) < 1 for size in sizes):
        raise ValueError(f"Each of {name} must be a positive (height, width), got {sizes}.")
    return sizes


# save_pretrained and push_to_hub then copy this module beside preprocessor_config.json and name it in auto_map,
# so the folder loads with trust_remote_code=True where dabnet-zoo is not installed.
DabnetImageProcessor.register_for_auto_class("AutoImageProcessor")

__all__ = [
    "DabnetImageProcessor",
    "DabnetImageProcessorKwargs",
    "get_resize_output_size",
    "logits_to_label_map",
    "nearest_source_indices",
    "normalize_image",
    "read_image",
    "reduce_labels",
    "resize_image",
    "resize_labels",
    "resize_logits",
    "to_rgb_uint8",
]
