"""The original's data pipeline (mmseg 0.19/0.20 semantics, see docs/architecture.md) on uint8 RGB tensors.

Training: random rescale → random crop (``cat_max_ratio``) → horizontal flip → photometric distortion →
normalise → pad (image 0, label 255). Test: one resize per dataset preset → normalise; the label is left at its
original size because the original evaluates logits resized back to the label.

Conventions: images are ``uint8`` tensors of shape (3, H, W) in RGB; labels are integer tensors of shape (H, W)
(returned as ``int64``). Labels are only ever resized with nearest neighbour, cropped, flipped and padded, so
their values stay a subset of the input values plus the ignore index.

Randomness: each random step of the training pipeline is a ``draw_*`` function (the random numbers) and a
deterministic function that applies them (as torchvision's ``get_params``): :func:`draw_rescale_ratio` →
:func:`rescale`, :func:`draw_crop_box` (:func:`draw_crop_offset` + :func:`select_crop_box`) → :func:`crop`,
:func:`draw_flip` → :func:`horizontal_flip`, :func:`draw_photometric_params` → :func:`apply_photometric`. The
``random_*`` functions and :class:`TrainTransform` chain the two. Every draw takes an optional
``torch.Generator``; ``None`` uses torch's global RNG, which a ``DataLoader`` seeds per worker. The draws happen in
mmseg's order, each with mmseg's distribution (numpy's ``randint(2)`` becomes a torch coin flip and so on); only the
numbers come from torch, so the exact crops differ from an mmseg run while the deterministic parts equal it.

OpenCV, as in the original: images are resized with OpenCV's bilinear ``INTER_LINEAR`` and label maps with its
nearest-neighbour rule (the functions of :mod:`dabnet_zoo.image_processing_dabnet`, shared with the test
protocol), and the saturation and hue steps round-trip through OpenCV's 8-bit ``cvtColor`` HSV (H in 0..179;
torchvision's ``adjust_saturation``/``adjust_hue`` compute something else).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import image_processing_dabnet as protocol
from ..errors import InputError
from ..presets import DATASETS, IMAGENET_MEAN, IMAGENET_STD, get_dataset_preset

Size = tuple[int, int]  # (height, width)

# The original's training Resize img_scale per dataset, as (height, width), from the presets; the random ratio
# multiplies it (see docs/architecture.md). COCO-Stuff trains around 512x2048 although it tests at 640x640.
TRAIN_SCALES: dict[str, Size] = {name: preset.train_scale for name, preset in DATASETS.items()}


# --------------------------------------------------------------------------------------------------------------
# Checks and random draws
# --------------------------------------------------------------------------------------------------------------


def _check_image(image: torch.Tensor, name: str = "image") -> None:
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
        got = f"{type(image).__name__} {tuple(image.shape)} {image.dtype}" if isinstance(image, torch.Tensor) \
            else type(image).__name__
        raise InputError(f"{name} must be a uint8 tensor of shape (3, H, W) in RGB, got {got}; decode images with "
                         "dabnet_zoo.data.read_image (or torchvision.io.decode_image).")


def _check_pair(image: torch.Tensor, label: torch.Tensor | None) -> None:
    _check_image(image)
    if label is None:
        return
    if label.ndim != 2 or label.dtype.is_floating_point or label.dtype == torch.bool:
        raise InputError(f"label must be an integer tensor of shape (H, W), got {tuple(label.shape)} {label.dtype}.")
    if tuple(label.shape) != tuple(image.shape[1:]):
        raise InputError(f"label size {tuple(label.shape)} differs from image size {tuple(image.shape[1:])}.")


def _rand(generator: torch.Generator | None) -> float:
    """Uniform in [0, 1), like numpy's random_sample."""
    return torch.rand((), generator=generator, dtype=torch.float64).item()


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * _rand(generator)


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """Integer in [low, high), like numpy's randint(low, high)."""
    return int(torch.randint(low, high, (), generator=generator).item())


def _coin(generator: torch.Generator | None) -> bool:
    """mmseg's ``random.randint(2)``: apply a distortion or not."""
    return _randint(0, 2, generator) == 1


# --------------------------------------------------------------------------------------------------------------
# Resize
# --------------------------------------------------------------------------------------------------------------


def keep_ratio_size(height: int, width: int, scale: Size) -> Size:
    """mmcv's ``rescale_size``: the largest size that fits ``scale`` (long side ≤ its long side, short side ≤ its
    short side) at the image's aspect ratio, rounded half up. Returns (height, width)."""
    return protocol.get_resize_output_size(height, width, scale, keep_ratio=True)


def resize_image(image: torch.Tensor, size: Size) -> torch.Tensor:
    """Bilinear resize of a uint8 (3, H, W) image exactly as the original: OpenCV's ``INTER_LINEAR`` (mmcv's
    ``imresize``; :func:`dabnet_zoo.image_processing_dabnet.resize_image`)."""
    if tuple(image.shape[1:]) == tuple(size):
        return image
    resized = protocol.resize_image(image.permute(1, 2, 0).contiguous().numpy(), size)
    return torch.from_numpy(resized).permute(2, 0, 1).contiguous()


def resize_label(label: torch.Tensor, size: Size) -> torch.Tensor:
    """Nearest-neighbour resize of a label map of any integer dtype exactly as OpenCV's ``INTER_NEAREST``
    (mmcv's ``imrescale(..., interpolation='nearest')``; see
    :func:`~dabnet_zoo.image_processing_dabnet.nearest_source_indices`)."""
    height, width = label.shape
    if (height, width) == tuple(size):
        return label
    rows = torch.from_numpy(protocol.nearest_source_indices(height, size[0]))
    cols = torch.from_numpy(protocol.nearest_source_indices(width, size[1]))
    return label[rows[:, None], cols[None, :]]


def draw_rescale_ratio(ratio_range: tuple[float, float] = (0.5, 2.0),
                       generator: torch.Generator | None = None) -> float:
    """The random draw of the rescale step: a ratio uniform in [low, high) (mmseg's ``_random_sample_ratio``)."""
    return _uniform(ratio_range[0], ratio_range[1], generator)


def rescale(image: torch.Tensor, label: torch.Tensor, scale: Size, ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The deterministic part of mmseg's ``Resize(img_scale, ratio_range, keep_ratio=True)`` for a drawn ``ratio``.

    The target is ``(int(H0·ratio), int(W0·ratio))`` for ``scale`` = (H0, W0); the image is scaled by
    :func:`keep_ratio_size` to fit it (mmcv's ``imrescale``): image bilinear, label nearest.
    """
    _check_pair(image, label)
    target = (int(scale[0] * ratio), int(scale[1] * ratio))
    size = keep_ratio_size(image.shape[1], image.shape[2], target)
    return resize_image(image, size), resize_label(label, size)


def random_resize(
    image: torch.Tensor,
    label: torch.Tensor,
    scale: Size,
    ratio_range: tuple[float, float] = (0.5, 2.0),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize around ``scale`` by a random ratio r ∈ [low, high), keeping the aspect ratio: :func:`rescale`
    with :func:`draw_rescale_ratio`."""
    _check_pair(image, label)
    return rescale(image, label, scale, draw_rescale_ratio(ratio_range, generator))


# --------------------------------------------------------------------------------------------------------------
# Crop, flip, pad
# --------------------------------------------------------------------------------------------------------------


def draw_crop_offset(height: int, width: int, crop_size: Size,
                     generator: torch.Generator | None = None) -> tuple[int, int]:
    """One random crop position (top, left), uniform over every position of a ``crop_size`` box in a
    ``height`` x ``width`` image (0 where the image is smaller than the box): mmseg's ``get_crop_bbox``."""
    top = _randint(0, max(height - crop_size[0], 0) + 1, generator)
    left = _randint(0, max(width - crop_size[1], 0) + 1, generator)
    return top, left


def crop_passes_class_ratio(label: torch.Tensor, cat_max_ratio: float, ignore_index: int = 255) -> bool:
    """The ``cat_max_ratio`` rule: ignoring ``ignore_index``, at least 2 classes and the largest < the ratio."""
    values, counts = torch.unique(label, return_counts=True)
    counts = counts[values != ignore_index]
    return len(counts) > 1 and counts.max().item() / counts.sum().item() < cat_max_ratio


def select_crop_box(
    label: torch.Tensor,
    candidates: Iterable[tuple[int, int]],
    crop_size: Size,
    cat_max_ratio: float = 0.75,
    ignore_index: int = 255,
    max_redraws: int = 10,
) -> tuple[int, int]:
    """mmseg ``RandomCrop``'s class-ratio retries over given crop positions (top, left), taken in order.

    With ``cat_max_ratio < 1`` each of the first ``max_redraws`` candidates is checked with
    :func:`crop_passes_class_ratio` and the first that passes is chosen; when all of them fail, the next one is
    used unchecked. Only as many candidates are taken as mmseg draws boxes (at most ``max_redraws + 1``).
    """
    candidates = iter(candidates)
    box = next(candidates)
    if cat_max_ratio < 1.0:
        for _ in range(max_redraws):
            window = label[box[0] : box[0] + crop_size[0], box[1] : box[1] + crop_size[1]]
            if crop_passes_class_ratio(window, cat_max_ratio, ignore_index):
                break
            box = next(candidates)
    return box


def draw_crop_box(
    label: torch.Tensor,
    crop_size: Size,
    cat_max_ratio: float = 0.75,
    ignore_index: int = 255,
    generator: torch.Generator | None = None,
    max_redraws: int = 10,
) -> tuple[int, int]:
    """The random draw of the crop step: :func:`select_crop_box` over positions from :func:`draw_crop_offset`."""
    height, width = label.shape
    candidates = (draw_crop_offset(height, width, crop_size, generator) for _ in range(max_redraws + 1))
    return select_crop_box(label, candidates, crop_size, cat_max_ratio, ignore_index, max_redraws)


def crop(image: torch.Tensor, label: torch.Tensor, box: tuple[int, int],
         crop_size: Size) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``crop_size`` window at ``box`` = (top, left) of image and label, cut at their borders."""
    rows, cols = slice(box[0], box[0] + crop_size[0]), slice(box[1], box[1] + crop_size[1])
    return image[:, rows, cols], label[rows, cols]


def random_crop(
    image: torch.Tensor,
    label: torch.Tensor,
    crop_size: Size,
    cat_max_ratio: float = 0.75,
    ignore_index: int = 255,
    generator: torch.Generator | None = None,
    max_redraws: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """mmseg's ``RandomCrop``: a uniformly placed ``crop_size`` box (smaller where the image is smaller), re-drawn
    while it fails the ``cat_max_ratio`` rule (:func:`draw_crop_box`, then :func:`crop`)."""
    _check_pair(image, label)
    box = draw_crop_box(label, crop_size, cat_max_ratio, ignore_index, generator, max_redraws)
    return crop(image, label, box, crop_size)


def draw_flip(prob: float = 0.5, generator: torch.Generator | None = None) -> bool:
    """The random draw of the flip step: True with probability ``prob``."""
    return _rand(generator) < prob


def horizontal_flip(image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Image and label mirrored left-right (mmcv's ``imflip(..., 'horizontal')``)."""
    return image.flip(-1), label.flip(-1)


def random_horizontal_flip(
    image: torch.Tensor, label: torch.Tensor, prob: float = 0.5, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip image and label left-right together with probability ``prob``."""
    return horizontal_flip(image, label) if draw_flip(prob, generator) else (image, label)


def pad_to_size(
    pixel_values: torch.Tensor, label: torch.Tensor | None, size: Size, image_value: float = 0.0,
    label_value: int = 255,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pad bottom and right to exactly ``size``: image with ``image_value`` (0 after normalisation is the mean
    colour), label with ``label_value`` (ignored)."""
    height, width = pixel_values.shape[-2:]
    if height > size[0] or width > size[1]:
        raise InputError(f"Cannot pad a {height}x{width} image to the smaller size {size[0]}x{size[1]}; crop first.")
    padding = (0, size[1] - width, 0, size[0] - height)
    if padding == (0, 0, 0, 0):
        return pixel_values, label
    pixel_values = F.pad(pixel_values, padding, value=image_value)
    if label is not None:
        label = F.pad(label, padding, value=label_value)
    return pixel_values, label


# --------------------------------------------------------------------------------------------------------------
# Photometric distortion (mmseg's PhotoMetricDistortion, OpenCV's 8-bit HSV)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotometricParams:
    """The draws of one photometric distortion; ``None`` means that step's coin said "skip".

    Attributes:
        brightness: added to every value (drawn in [-32, 32)).
        contrast: multiplies every value (drawn in [0.5, 1.5)).
        contrast_first: mmseg's ``mode == 1``: contrast before the colour steps; otherwise after them.
        saturation: multiplies the HSV saturation (drawn in [0.5, 1.5)).
        hue: added to the 8-bit HSV hue (0..179, drawn in [-18, 17]), modulo 180.
    """

    brightness: float | None = None
    contrast: float | None = None
    contrast_first: bool = True
    saturation: float | None = None
    hue: int | None = None


def draw_photometric_params(
    generator: torch.Generator | None = None,
    brightness_delta: int = 32,
    contrast_range: tuple[float, float] = (0.5, 1.5),
    saturation_range: tuple[float, float] = (0.5, 1.5),
    hue_delta: int = 18,
) -> PhotometricParams:
    """The random draws of mmseg's ``PhotoMetricDistortion``, in its order: brightness coin (and delta), mode
    coin, [mode 1: contrast coin (and factor)], saturation coin (and factor), hue coin (and shift), [mode 0:
    contrast coin (and factor)]."""
    brightness = _uniform(-brightness_delta, brightness_delta, generator) if _coin(generator) else None
    contrast_first = _coin(generator)
    contrast = None
    if contrast_first and _coin(generator):
        contrast = _uniform(*contrast_range, generator)
    saturation = _uniform(*saturation_range, generator) if _coin(generator) else None
    hue = None
    if _coin(generator):
        hue = _randint(-hue_delta, hue_delta, generator) if hue_delta > 0 else 0  # numpy would raise on 0
    if not contrast_first and _coin(generator):
        contrast = _uniform(*contrast_range, generator)
    return PhotometricParams(brightness, contrast, contrast_first, saturation, hue)


def _scale_and_shift(values: torch.Tensor, alpha: float = 1.0, beta: float = 0.0) -> torch.Tensor:
    """mmseg's ``convert``: float32 ``x·alpha + beta``, clipped to 0..255, truncated to uint8."""
    return (values.to(torch.float32) * alpha + beta).clamp_(0, 255).to(torch.uint8)


def _adjust_hsv(image: torch.Tensor, saturation: float | None, hue: int | None) -> torch.Tensor:
    """mmcv's ``bgr2hsv`` → change S or H → ``hsv2bgr`` round trip (OpenCV's 8-bit HSV, H in 0..179), on RGB."""
    cv2 = protocol._opencv()
    hsv = torch.from_numpy(cv2.cvtColor(image.permute(1, 2, 0).contiguous().numpy(), cv2.COLOR_RGB2HSV))
    if saturation is not None:
        hsv[..., 1] = _scale_and_shift(hsv[..., 1], alpha=saturation)
    if hue is not None:
        hsv[..., 0] = torch.remainder(hsv[..., 0].to(torch.int64) + hue, 180).to(torch.uint8)
    return torch.from_numpy(cv2.cvtColor(hsv.numpy(), cv2.COLOR_HSV2RGB)).permute(2, 0, 1).contiguous()


def apply_photometric(image: torch.Tensor, params: PhotometricParams) -> torch.Tensor:
    """The deterministic part of mmseg's ``PhotoMetricDistortion`` for drawn ``params``, on a uint8 RGB image.

    Brightness; contrast if ``contrast_first``; saturation (its own HSV round trip); hue (another round trip);
    contrast if not ``contrast_first``. Every step clips to 0..255 and truncates to uint8, as the original does.
    """
    _check_image(image)
    if params.brightness is not None:
        image = _scale_and_shift(image, beta=params.brightness)
    if params.contrast_first and params.contrast is not None:
        image = _scale_and_shift(image, alpha=params.contrast)
    if params.saturation is not None:
        image = _adjust_hsv(image, saturation=params.saturation, hue=None)
    if params.hue is not None:
        image = _adjust_hsv(image, saturation=None, hue=params.hue)
    if not params.contrast_first and params.contrast is not None:
        image = _scale_and_shift(image, alpha=params.contrast)
    return image


def photometric_distortion(
    image: torch.Tensor,
    generator: torch.Generator | None = None,
    brightness_delta: int = 32,
    contrast_range: tuple[float, float] = (0.5, 1.5),
    saturation_range: tuple[float, float] = (0.5, 1.5),
    hue_delta: int = 18,
) -> torch.Tensor:
    """mmseg's ``PhotoMetricDistortion`` on a uint8 RGB image: :func:`apply_photometric` with
    :func:`draw_photometric_params`.

    Brightness (p ½: add U(−δ, δ)); a mode coin; mode 1: contrast (p ½: multiply U(0.5, 1.5)); saturation (p ½:
    HSV S × U(0.5, 1.5)); hue (p ½: HSV H + an integer in [−18, 17], mod 180); mode 0: contrast last.
    """
    _check_image(image)
    params = draw_photometric_params(generator, brightness_delta, contrast_range, saturation_range, hue_delta)
    return apply_photometric(image, params)


# --------------------------------------------------------------------------------------------------------------
# Normalise, and the two pipelines
# --------------------------------------------------------------------------------------------------------------


def normalize(image: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """``(x − mean) / std`` per channel on the 0..255 scale, float32 (3, H, W)."""
    _check_image(image)
    return torch.from_numpy(protocol.normalize_image(image.permute(1, 2, 0).numpy(), mean, std))


class TrainTransform:
    """The original training pipeline: rescale → crop → flip → photometric distortion → normalise → pad.

    Args:
        scale: (height, width) the random ratio multiplies (:data:`TRAIN_SCALES` has the original's).
        crop_size: (height, width) of the crops; the output is always exactly this size.
        ratio_range: the random rescale ratio's range [low, high).
        cat_max_ratio: largest share one class may take of a crop (1.0 disables the re-draws).
        flip_prob: probability of a horizontal flip.
        photometric: apply the photometric distortion.
        mean, std: normalisation on the 0..255 scale.
        ignore_index: label value excluded from the class-ratio rule and used for padding.

    Call with ``(image, label, generator=None)``: a uint8 (3, H, W) RGB image and an integer (H, W) label;
    returns float32 ``pixel_values`` (3, h, w) and int64 ``labels`` (h, w) with (h, w) = ``crop_size``.

    Example::

        transform = TrainTransform.from_preset("cityscapes")
        pixel_values, labels = transform(image, label, generator=torch.Generator().manual_seed(0))
    """

    def __init__(
        self,
        scale: Size,
        crop_size: Size,
        ratio_range: tuple[float, float] = (0.5, 2.0),
        cat_max_ratio: float = 0.75,
        flip_prob: float = 0.5,
        photometric: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        ignore_index: int = 255,
    ) -> None:
        if ratio_range[0] <= 0 or ratio_range[0] > ratio_range[1]:
            raise InputError(f"ratio_range must be 0 < low <= high, got {ratio_range}.")
        self.scale = tuple(scale)
        self.crop_size = tuple(crop_size)
        self.ratio_range = tuple(ratio_range)
        self.cat_max_ratio = cat_max_ratio
        self.flip_prob = flip_prob
        self.photometric = photometric
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.ignore_index = ignore_index

    @classmethod
    def from_preset(cls, dataset: str, **overrides) -> TrainTransform:
        """The original recipe's pipeline for ``dataset`` (scale from :data:`TRAIN_SCALES`, crop from the preset);
        ``overrides`` replace any argument, e.g. ``crop_size=(512, 512)`` for a smaller run."""
        preset = get_dataset_preset(dataset)
        kwargs = dict(scale=TRAIN_SCALES[preset.name], crop_size=preset.train_crop_size,
                      ignore_index=preset.ignore_index)
        kwargs.update(overrides)
        return cls(**kwargs)

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = random_resize(image, label, self.scale, self.ratio_range, generator)
        image, label = random_crop(image, label, self.crop_size, self.cat_max_ratio, self.ignore_index, generator)
        image, label = random_horizontal_flip(image, label, self.flip_prob, generator)
        if self.photometric:
            image = photometric_distortion(image, generator)
        pixel_values, label = pad_to_size(normalize(image, self.mean, self.std), label.to(torch.int64),
                                          self.crop_size, 0.0, self.ignore_index)
        return pixel_values.contiguous(), label.contiguous()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(scale={self.scale}, crop_size={self.crop_size}, "
                f"ratio_range={self.ratio_range}, cat_max_ratio={self.cat_max_ratio}, flip_prob={self.flip_prob}, "
                f"photometric={self.photometric})")


class TestTransform:
    """The original test pipeline for dataset samples: one resize, then normalise, by the image processor's own
    steps (:class:`~dabnet_zoo.image_processing_dabnet.DabnetImageProcessor`: OpenCV bilinear on the uint8 image,
    then ``(x - mean) / std`` in float32), so evaluation, ``predict`` and the processor give identical pixels. The
    label, if given, is returned unchanged (int64): the original compares logits resized back to the label's own
    size.

    Args:
        size: (height, width) target; with ``keep_ratio`` the image is scaled to fit it (mmcv's rescale).
        keep_ratio: keep the aspect ratio (Cityscapes) or resize to exactly ``size`` (CamVid, COCO-Stuff).
        mean, std: normalisation on the 0..255 scale.
        processor: follow this processor's protocol instead (a model folder's ``preprocessor_config.json``); then
            ``size``, ``keep_ratio``, ``mean`` and ``std`` are not given.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, size: Size | None = None, keep_ratio: bool = True, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, *,
                 processor: protocol.DabnetImageProcessor | None = None) -> None:
        if processor is None:
            if size is None:
                raise InputError("TestTransform needs a size=(height, width) or a processor=.")
            processor = protocol.DabnetImageProcessor(size=tuple(size), keep_ratio=keep_ratio, image_mean=mean,
                                                      image_std=std)
        elif size is not None:
            raise InputError("Pass either size (with keep_ratio, mean, std) or processor to TestTransform, not both.")
        self.processor = processor

    @classmethod
    def from_preset(cls, dataset: str, **overrides) -> TestTransform:
        """The original's test resize for ``dataset`` (the preset's ``test_size`` and ``test_keep_ratio``)."""
        preset = get_dataset_preset(dataset)
        kwargs = dict(size=preset.test_size, keep_ratio=preset.test_keep_ratio)
        kwargs.update(overrides)
        return cls(**kwargs)

    @classmethod
    def from_processor(cls, processor: protocol.DabnetImageProcessor) -> TestTransform:
        """The test protocol a saved image processor defines (e.g. the one beside a model's weights).

        Its ``pad_size`` is dropped: it exists for batching in transformers' pipeline, while the protocol runs
        each image at its own size (padding would be taken for image and change the predictions)."""
        if processor.pad_size is not None:
            processor = type(processor).from_dict({**processor.to_dict(), "pad_size": None})
        return cls(processor=processor)

    @property
    def size(self) -> Size | None:
        """The (height, width) test size; None when the processor does not resize or resizes by its short side."""
        size = self.processor.size
        if not self.processor.do_resize or "height" not in size:
            return None
        return size["height"], size["width"]

    @property
    def keep_ratio(self) -> bool:
        return self.processor.keep_ratio

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        _check_pair(image, label)
        pixel_values = torch.from_numpy(self.processor(image)["pixel_values"][0])
        return pixel_values, None if label is None else label.to(torch.int64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, keep_ratio={self.keep_ratio})"


__all__ = [
    "TRAIN_SCALES",
    "PhotometricParams",
    "TestTransform",
    "TrainTransform",
    "apply_photometric",
    "crop",
    "crop_passes_class_ratio",
    "draw_crop_box",
    "draw_crop_offset",
    "draw_flip",
    "draw_photometric_params",
    "draw_rescale_ratio",
    "horizontal_flip",
    "keep_ratio_size",
    "normalize",
    "pad_to_size",
    "photometric_distortion",
    "random_crop",
    "random_horizontal_flip",
    "random_resize",
    "rescale",
    "resize_image",
    "resize_label",
    "select_crop_box",
]
