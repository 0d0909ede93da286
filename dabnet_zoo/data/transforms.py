"""The original's data pipeline (mmseg 0.19/0.20 semantics, spec §9.6) in torch, on uint8 RGB tensors.

Training: random rescale → random crop (``cat_max_ratio``) → horizontal flip → photometric distortion →
normalise → pad (image 0, label 255). Test: one resize per dataset preset → normalise; the label is left at its
original size because the original evaluates logits resized back to the label.

Conventions: images are ``uint8`` tensors of shape (3, H, W) in RGB; labels are integer tensors of shape (H, W)
(returned as ``int64``). Labels are only ever resized with nearest neighbour, cropped, flipped and padded, so
their values stay a subset of the input values plus the ignore index.

Randomness: every random draw takes an optional ``torch.Generator``; ``None`` uses torch's global RNG, which a
``DataLoader`` seeds per worker (so ``DataLoader(generator=...)`` already makes runs repeatable). The draws
happen in the same order as in mmseg, each with the same distribution (numpy's ``randint(2)`` becomes a torch
coin flip and so on), but the numbers come from torch, so the exact crops differ from an mmseg run.

Where we differ from the original's OpenCV ops (all differences are at most 1 grey level):

* bilinear resizing uses ``torch.nn.functional.interpolate`` (half-pixel centres, no antialiasing, like
  ``cv2.INTER_LINEAR``); OpenCV computes with 11-bit fixed-point weights, we in float32 then round;
* nearest resizing picks source index ``floor(dst * in / out)`` in exact integer arithmetic (OpenCV's double
  arithmetic can land one pixel lower at exact boundaries);
* the HSV round trip of the saturation and hue steps re-implements OpenCV's 8-bit ``COLOR_RGB2HSV`` (integer
  tables, H in 0..179) and ``COLOR_HSV2RGB`` (float32 then round). torchvision's ``adjust_saturation`` (blend
  with grey) and ``adjust_hue`` (float HSV) compute something else and are deliberately not used.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..presets import IMAGENET_MEAN, IMAGENET_STD, get_dataset_preset

Size = tuple[int, int]  # (height, width)

# The original's training Resize img_scale per dataset, as (height, width); the random ratio multiplies it
# (spec §9.2-9.5). COCO-Stuff trains around 512x2048 although it tests at 640x640, so this is not test_size.
TRAIN_SCALES: dict[str, Size] = {
    "cityscapes": (1024, 2048),
    "camvid": (768, 960),
    "coco_stuff10k": (512, 2048),
    "coco_stuff164k": (512, 2048),
}


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
    long_target, short_target = max(scale), min(scale)
    factor = min(long_target / max(height, width), short_target / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def resize_image(image: torch.Tensor, size: Size) -> torch.Tensor:
    """Bilinear (half-pixel centres, no antialiasing) resize of a uint8 image, rounded back to uint8."""
    if tuple(image.shape[1:]) == tuple(size):
        return image
    resized = F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False)
    return resized[0].round_().clamp_(0, 255).to(torch.uint8)


def resize_label(label: torch.Tensor, size: Size) -> torch.Tensor:
    """Nearest-neighbour resize of a label map (source index ``floor(dst * in / out)``), for any integer dtype."""
    height, width = label.shape
    if (height, width) == tuple(size):
        return label
    rows = torch.arange(size[0]) * height // size[0]
    cols = torch.arange(size[1]) * width // size[1]
    return label[rows[:, None], cols[None, :]]


def random_resize(
    image: torch.Tensor,
    label: torch.Tensor,
    scale: Size,
    ratio_range: tuple[float, float] = (0.5, 2.0),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize around ``scale`` by a random ratio r ∈ [low, high), keeping the aspect ratio.

    As mmseg's ``Resize(img_scale, ratio_range, keep_ratio=True)``: the target is ``(int(H0·r), int(W0·r))``
    and the image is scaled by ``keep_ratio_size`` to fit it. Image bilinear, label nearest.
    """
    _check_pair(image, label)
    ratio = _uniform(ratio_range[0], ratio_range[1], generator)
    target = (int(scale[0] * ratio), int(scale[1] * ratio))
    size = keep_ratio_size(image.shape[1], image.shape[2], target)
    return resize_image(image, size), resize_label(label, size)


# --------------------------------------------------------------------------------------------------------------
# Crop, flip, pad
# --------------------------------------------------------------------------------------------------------------


def _draw_crop_box(height: int, width: int, crop_size: Size, generator: torch.Generator | None) -> tuple[int, int]:
    top = _randint(0, max(height - crop_size[0], 0) + 1, generator)
    left = _randint(0, max(width - crop_size[1], 0) + 1, generator)
    return top, left


def crop_passes_class_ratio(label: torch.Tensor, cat_max_ratio: float, ignore_index: int = 255) -> bool:
    """The ``cat_max_ratio`` rule: ignoring ``ignore_index``, at least 2 classes and the largest < the ratio."""
    values, counts = torch.unique(label, return_counts=True)
    counts = counts[values != ignore_index]
    return len(counts) > 1 and counts.max().item() / counts.sum().item() < cat_max_ratio


def random_crop(
    image: torch.Tensor,
    label: torch.Tensor,
    crop_size: Size,
    cat_max_ratio: float = 0.75,
    ignore_index: int = 255,
    generator: torch.Generator | None = None,
    max_redraws: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """mmseg's ``RandomCrop``: a uniformly placed ``crop_size`` box (smaller where the image is smaller).

    With ``cat_max_ratio < 1`` the box is checked against :func:`crop_passes_class_ratio` and re-drawn up to
    ``max_redraws`` times; after that many failures the last box drawn is used unchecked, as in mmseg.
    """
    _check_pair(image, label)
    height, width = label.shape
    top, left = _draw_crop_box(height, width, crop_size, generator)
    if cat_max_ratio < 1.0:
        for _ in range(max_redraws):
            window = label[top : top + crop_size[0], left : left + crop_size[1]]
            if crop_passes_class_ratio(window, cat_max_ratio, ignore_index):
                break
            top, left = _draw_crop_box(height, width, crop_size, generator)
    rows, cols = slice(top, top + crop_size[0]), slice(left, left + crop_size[1])
    return image[:, rows, cols], label[rows, cols]


def random_horizontal_flip(
    image: torch.Tensor, label: torch.Tensor, prob: float = 0.5, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip image and label left-right together with probability ``prob``."""
    if _rand(generator) < prob:
        return image.flip(-1), label.flip(-1)
    return image, label


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
# Photometric distortion (OpenCV 8-bit HSV semantics)
# --------------------------------------------------------------------------------------------------------------

_HSV_SHIFT = 12
# OpenCV's RGB2HSV_b tables: round((255 << 12) / v) and round((180 << 12) / (6 · diff)), entry 0 = 0.
_SDIV_TABLE = torch.tensor([0] + [round((255 << _HSV_SHIFT) / i) for i in range(1, 256)], dtype=torch.int64)
_HDIV_TABLE = torch.tensor([0] + [round((180 << _HSV_SHIFT) / (6 * i)) for i in range(1, 256)], dtype=torch.int64)
# For each hue sector 0..5, which of (v, p, q, t) = tab[0..3] gives R, G and B (OpenCV's sector_data, reordered
# from BGR to RGB).
_SECTOR_TO_RGB = torch.tensor([[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0], [0, 1, 2]])


def rgb_to_hsv_opencv(image: torch.Tensor) -> torch.Tensor:
    """OpenCV's 8-bit RGB→HSV: H in 0..179 (degrees / 2), S and V in 0..255; int64 (3, H, W)."""
    r, g, b = image.to(torch.int64)
    v = torch.maximum(torch.maximum(r, g), b)
    diff = v - torch.minimum(torch.minimum(r, g), b)
    s = (diff * _SDIV_TABLE[v] + (1 << (_HSV_SHIFT - 1))) >> _HSV_SHIFT
    v_is_r = v == r
    v_is_g = v == g
    numerator = torch.where(v_is_r, g - b, torch.where(v_is_g, b - r + 2 * diff, r - g + 4 * diff))
    h = (numerator * _HDIV_TABLE[diff] + (1 << (_HSV_SHIFT - 1))) >> _HSV_SHIFT
    h = torch.where(h < 0, h + 180, h)
    return torch.stack((h, s, v))


def hsv_to_rgb_opencv(hsv: torch.Tensor) -> torch.Tensor:
    """OpenCV's 8-bit HSV→RGB (H in 0..179): float32 arithmetic, then rounded to uint8."""
    h = hsv[0].to(torch.float32) * (6.0 / 180.0)
    s = hsv[1].to(torch.float32) * (1.0 / 255.0)
    v = hsv[2].to(torch.float32) * (1.0 / 255.0)
    h = torch.remainder(h, 6.0)
    sector = h.floor()
    fraction = h - sector
    sector = sector.to(torch.int64).clamp_(0, 5)
    # OpenCV's SIMD build fuses ``1 - s·x`` into one multiply-add (a single rounding); float64 then float32
    # reproduces that rounding.
    s64 = s.to(torch.float64)
    q = (1 - s64 * fraction.to(torch.float64)).to(torch.float32)
    t = (1 - s64 * (1 - fraction).to(torch.float64)).to(torch.float32)
    table = torch.stack((v, v * (1 - s), v * q, v * t))  # v, p, q, t
    picks = _SECTOR_TO_RGB[sector].permute(2, 0, 1)  # (3, H, W) indices into table
    rgb = torch.gather(table, 0, picks)
    rgb = torch.where(s[None] == 0, v[None].expand_as(rgb), rgb)
    return (rgb * 255.0).clamp_(0, 255).to(torch.uint8)  # truncates, as OpenCV's vectorised path does


def _scale_and_shift(values: torch.Tensor, alpha: float = 1.0, beta: float = 0.0) -> torch.Tensor:
    """mmseg's ``convert``: float32 ``x·alpha + beta``, clipped to 0..255, truncated to uint8."""
    return (values.to(torch.float32) * alpha + beta).clamp_(0, 255).to(torch.uint8)


def photometric_distortion(
    image: torch.Tensor,
    generator: torch.Generator | None = None,
    brightness_delta: int = 32,
    contrast_range: tuple[float, float] = (0.5, 1.5),
    saturation_range: tuple[float, float] = (0.5, 1.5),
    hue_delta: int = 18,
) -> torch.Tensor:
    """mmseg's ``PhotoMetricDistortion`` on a uint8 RGB image, in its order.

    Brightness (p ½: add U(−δ, δ)); a mode coin; mode 1: contrast (p ½: multiply U(0.5, 1.5)); saturation (p ½:
    HSV S × U(0.5, 1.5)); hue (p ½: HSV H + an integer in [−18, 17], mod 180); mode 0: contrast last. Every step
    clips to 0..255 and truncates to uint8, as the original does.
    """
    _check_image(image)
    if _coin(generator):
        image = _scale_and_shift(image, beta=_uniform(-brightness_delta, brightness_delta, generator))
    contrast_first = _coin(generator)
    if contrast_first and _coin(generator):
        image = _scale_and_shift(image, alpha=_uniform(*contrast_range, generator))
    if _coin(generator):
        hsv = rgb_to_hsv_opencv(image)
        hsv[1] = _scale_and_shift(hsv[1], alpha=_uniform(*saturation_range, generator)).to(torch.int64)
        image = hsv_to_rgb_opencv(hsv)
    if _coin(generator):
        hsv = rgb_to_hsv_opencv(image)
        shift = _randint(-hue_delta, hue_delta, generator) if hue_delta > 0 else 0  # numpy would raise on 0
        hsv[0] = torch.remainder(hsv[0] + shift, 180)
        image = hsv_to_rgb_opencv(hsv)
    if not contrast_first and _coin(generator):
        image = _scale_and_shift(image, alpha=_uniform(*contrast_range, generator))
    return image


# --------------------------------------------------------------------------------------------------------------
# Normalise, and the two pipelines
# --------------------------------------------------------------------------------------------------------------


def normalize(image: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """``(x − mean) / std`` per channel on the 0..255 scale, float32 (3, H, W)."""
    _check_image(image)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (image.to(torch.float32) - mean_t) / std_t


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
    """The original test pipeline: one resize, then normalise. The label, if given, is returned unchanged
    (int64): the original compares logits resized back to the label's own size.

    Args:
        size: (height, width) target; with ``keep_ratio`` the image is scaled to fit it (mmcv's rescale).
        keep_ratio: keep the aspect ratio (Cityscapes) or resize to exactly ``size`` (CamVid, COCO-Stuff).
        mean, std: normalisation on the 0..255 scale.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, size: Size, keep_ratio: bool = True, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        self.size = tuple(size)
        self.keep_ratio = keep_ratio
        self.mean = tuple(mean)
        self.std = tuple(std)

    @classmethod
    def from_preset(cls, dataset: str, **overrides) -> TestTransform:
        """The original's test resize for ``dataset`` (the preset's ``test_size`` and ``test_keep_ratio``)."""
        preset = get_dataset_preset(dataset)
        kwargs = dict(size=preset.test_size, keep_ratio=preset.test_keep_ratio)
        kwargs.update(overrides)
        return cls(**kwargs)

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        _check_pair(image, label)
        size = keep_ratio_size(image.shape[1], image.shape[2], self.size) if self.keep_ratio else self.size
        pixel_values = normalize(resize_image(image, size), self.mean, self.std)
        return pixel_values, None if label is None else label.to(torch.int64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, keep_ratio={self.keep_ratio})"


__all__ = [
    "TRAIN_SCALES",
    "TestTransform",
    "TrainTransform",
    "crop_passes_class_ratio",
    "hsv_to_rgb_opencv",
    "keep_ratio_size",
    "normalize",
    "pad_to_size",
    "photometric_distortion",
    "random_crop",
    "random_horizontal_flip",
    "random_resize",
    "resize_image",
    "resize_label",
    "rgb_to_hsv_opencv",
]
