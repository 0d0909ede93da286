"""The training augmentation against the original's definition, step by step, with the random draws given.

The references below are mmseg 0.19's training transforms as the original ran them (``Resize`` with
``ratio_range`` and ``keep_ratio``, ``RandomCrop`` with ``cat_max_ratio``, ``RandomFlip``,
``PhotoMetricDistortion``, ``Normalize``, ``Pad``): NumPy on BGR ``uint8`` arrays, with OpenCV where mmcv calls it
(``imrescale``/``imresize`` are ``cv2.resize``, ``bgr2hsv``/``hsv2bgr`` are ``cv2.cvtColor``, ``imflip`` is
``np.flip``). Each of our steps, fed the same draws, must give exactly the same pixels: only the random numbers
themselves (torch's generator instead of NumPy's) differ from the original.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
import torch

from dabnet_zoo.data.transforms import (
    PhotometricParams,
    TrainTransform,
    apply_photometric,
    crop,
    draw_crop_box,
    draw_crop_offset,
    draw_flip,
    draw_photometric_params,
    draw_rescale_ratio,
    horizontal_flip,
    rescale,
    select_crop_box,
)
from dabnet_zoo.presets import IMAGENET_MEAN, IMAGENET_STD

IGNORE = 255


# --------------------------------------------------------------------------------------------------------------
# mmseg 0.19 / mmcv 1.4, as the original ran them (BGR uint8 arrays of shape (H, W, 3))
# --------------------------------------------------------------------------------------------------------------


def mmcv_rescale_size(width: int, height: int, scale: tuple[int, int]) -> tuple[int, int]:
    """``mmcv.rescale_size((w, h), scale)`` for a tuple scale: the (w, h) that fits it at the same aspect ratio."""
    max_long_edge, max_short_edge = max(scale), min(scale)
    scale_factor = min(max_long_edge / max(height, width), max_short_edge / min(height, width))
    return int(width * float(scale_factor) + 0.5), int(height * float(scale_factor) + 0.5)


def mmseg_resize(img: np.ndarray, seg: np.ndarray, img_scale: tuple[int, int], ratio: float):
    """``Resize(img_scale=(w, h), ratio_range=..., keep_ratio=True)`` once its ratio is drawn."""
    scale = int(img_scale[0] * ratio), int(img_scale[1] * ratio)  # _random_sample_ratio
    new_size = mmcv_rescale_size(img.shape[1], img.shape[0], scale)
    img = cv2.resize(img, new_size, interpolation=cv2.INTER_LINEAR)  # mmcv.imrescale(img, scale)
    seg = cv2.resize(seg, new_size, interpolation=cv2.INTER_NEAREST)  # interpolation='nearest'
    return img, seg


class MmsegRandomCrop:
    """``RandomCrop(crop_size, cat_max_ratio)``, its ``np.random.randint`` offsets replaced by given ones."""

    def __init__(self, crop_size: tuple[int, int], cat_max_ratio: float, offsets: Iterator[tuple[int, int]]):
        self.crop_size, self.cat_max_ratio, self.ignore_index = crop_size, cat_max_ratio, IGNORE
        self.offsets = offsets

    def get_crop_bbox(self, img):
        margin_h = max(img.shape[0] - self.crop_size[0], 0)
        margin_w = max(img.shape[1] - self.crop_size[1], 0)
        offset_h, offset_w = next(self.offsets)
        assert 0 <= offset_h <= margin_h and 0 <= offset_w <= margin_w  # the range of randint(0, margin + 1)
        crop_y1, crop_y2 = offset_h, offset_h + self.crop_size[0]
        crop_x1, crop_x2 = offset_w, offset_w + self.crop_size[1]
        return crop_y1, crop_y2, crop_x1, crop_x2

    def crop(self, img, crop_bbox):
        crop_y1, crop_y2, crop_x1, crop_x2 = crop_bbox
        return img[crop_y1:crop_y2, crop_x1:crop_x2, ...]

    def __call__(self, img, seg):
        crop_bbox = self.get_crop_bbox(img)
        if self.cat_max_ratio < 1.:
            # Repeat 10 times
            for _ in range(10):
                seg_temp = self.crop(seg, crop_bbox)
                labels, cnt = np.unique(seg_temp, return_counts=True)
                cnt = cnt[labels != self.ignore_index]
                if len(cnt) > 1 and np.max(cnt) / np.sum(cnt) < self.cat_max_ratio:
                    break
                crop_bbox = self.get_crop_bbox(img)
        return self.crop(img, crop_bbox), self.crop(seg, crop_bbox)


def mmseg_convert(img: np.ndarray, alpha: float = 1, beta: float = 0) -> np.ndarray:
    img = img.astype(np.float32) * alpha + beta
    img = np.clip(img, 0, 255)
    return img.astype(np.uint8)


def mmseg_photometric(img: np.ndarray, params: PhotometricParams) -> np.ndarray:
    """``PhotoMetricDistortion.__call__`` with its coins and values taken from ``params``."""
    if params.brightness is not None:  # brightness
        img = mmseg_convert(img, beta=params.brightness)
    mode = 1 if params.contrast_first else 0
    if mode == 1 and params.contrast is not None:  # contrast
        img = mmseg_convert(img, alpha=params.contrast)
    if params.saturation is not None:  # saturation
        img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        img[:, :, 1] = mmseg_convert(img[:, :, 1], alpha=params.saturation)
        img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
    if params.hue is not None:  # hue
        img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        img[:, :, 0] = (img[:, :, 0].astype(int) + params.hue) % 180
        img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
    if mode == 0 and params.contrast is not None:  # contrast
        img = mmseg_convert(img, alpha=params.contrast)
    return img


def mmseg_normalize_and_pad(img: np.ndarray, seg: np.ndarray, size: tuple[int, int]):
    """``Normalize(to_rgb=True)`` then ``Pad(size, pad_val=0, seg_pad_val=255)`` (bottom and right)."""
    img = (cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) - np.float32(IMAGENET_MEAN)) / np.float32(
        IMAGENET_STD)
    pad = ((0, size[0] - img.shape[0]), (0, size[1] - img.shape[1]))
    return np.pad(img, (*pad, (0, 0)), constant_values=0), np.pad(seg, pad, constant_values=IGNORE)


# --------------------------------------------------------------------------------------------------------------
# Conversions and inputs
# --------------------------------------------------------------------------------------------------------------


def to_torch(bgr: np.ndarray) -> torch.Tensor:
    """A BGR (H, W, 3) array as our RGB (3, H, W) tensor."""
    return torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1)))


def to_bgr(image: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy()[:, :, ::-1])


def test_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A BGR image with smooth gradients (for interpolation), noise, pure greys, black, white and saturated
    colours (for the clipping and the HSV edge cases)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    img = np.stack([(rows * 255 // max(height - 1, 1)), (cols * 255 // max(width - 1, 1)),
                    ((rows + cols) * 7) % 256], axis=-1).astype(np.uint8)
    noisy = rng.random((height, width)) < 0.5
    img[noisy] = rng.integers(0, 256, (int(noisy.sum()), 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (height, width // 8), dtype=np.uint8)
    img[:, : width // 8] = grey[..., None]
    img[: height // 8, width - width // 8 :] = rng.choice([0, 255], (height // 8, width // 8, 3)).astype(np.uint8)
    return img


def test_label(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 classes in blocks (so that crops pass or fail the class-ratio rule), some ignored pixels."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 5, (height // 8 + 1, width // 8 + 1)).astype(np.uint8)
    seg = np.kron(blocks, np.ones((8, 8), np.uint8))[:height, :width]
    seg[: height // 2, : width // 2] = 3  # one large region: crops there fail the 0.75 rule
    seg[rng.random((height, width)) < 0.02] = IGNORE
    return np.ascontiguousarray(seg)


test_image.__test__ = test_label.__test__ = False  # helpers, not tests


# --------------------------------------------------------------------------------------------------------------
# Rescale
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("image_size, scale", [
    ((96, 192), (128, 256)),    # Cityscapes-like: 1024x2048 images around img_scale 2048x1024, 8x smaller
    ((90, 120), (96, 120)),     # CamVid-like: 720x960 frames around 960x768, 8x smaller
    ((75, 100), (64, 256)),     # COCO-Stuff-like: around 2048x512
    ((61, 47), (128, 256)),     # odd sizes, portrait
])
@pytest.mark.parametrize("ratio", [0.5, 0.7315, 1.0, 1.25, 1.6180339887, 1.9999])
def test_rescale_equals_mmseg_resize(image_size, scale, ratio):
    img, seg = test_image(*image_size), test_label(*image_size)
    expected_img, expected_seg = mmseg_resize(img, seg, (scale[1], scale[0]), ratio)
    image, label = rescale(to_torch(img), torch.from_numpy(seg), scale, ratio)
    np.testing.assert_array_equal(to_bgr(image), expected_img)
    np.testing.assert_array_equal(label.numpy(), expected_seg)
    _, wide_label = rescale(to_torch(img), torch.from_numpy(seg).long(), scale, ratio)  # any integer dtype
    np.testing.assert_array_equal(wide_label.numpy(), expected_seg)


def test_rescale_ratio_is_drawn_in_the_range():
    ratios = [draw_rescale_ratio((0.5, 2.0), torch.Generator().manual_seed(seed)) for seed in range(400)]
    assert 0.5 <= min(ratios) < 0.55 and 1.95 < max(ratios) < 2.0  # np.random.random_sample() * 1.5 + 0.5


# --------------------------------------------------------------------------------------------------------------
# Crop with the class-ratio retries
# --------------------------------------------------------------------------------------------------------------

CROP = (32, 48)


def crop_cases() -> dict[str, list[tuple[int, int]]]:
    # On test_label(96, 128): the top-left quarter is class 3 only, so crops at (0, 0) .. (16, 16) fail the rule.
    failing = [(0, 0), (8, 8), (16, 16), (0, 16), (16, 0), (4, 12), (12, 4), (0, 8), (8, 0), (16, 8), (2, 2)]
    passing = [(60, 70), (40, 30)]
    return {
        "first passes": passing + failing,
        "third passes": failing[:2] + passing + failing,
        "tenth passes": failing[:9] + passing,
        "all ten fail: the eleventh is used unchecked": failing[:10] + [(3, 5), (40, 30)],
    }


@pytest.mark.parametrize("case", list(crop_cases()))
@pytest.mark.parametrize("cat_max_ratio", [0.75, 1.0])
def test_crop_selection_equals_mmseg_random_crop(case, cat_max_ratio):
    candidates = crop_cases()[case]
    img, seg = test_image(96, 128, seed=1), test_label(96, 128, seed=1)
    theirs = iter(candidates)
    expected_img, expected_seg = MmsegRandomCrop(CROP, cat_max_ratio, theirs)(img, seg)
    ours = iter(candidates)
    box = select_crop_box(torch.from_numpy(seg), ours, CROP, cat_max_ratio, IGNORE)
    image, label = crop(to_torch(img), torch.from_numpy(seg), box, CROP)
    np.testing.assert_array_equal(to_bgr(image), expected_img)
    np.testing.assert_array_equal(label.numpy(), expected_seg)
    assert len(list(ours)) == len(list(theirs)), "as many boxes drawn as the original draws"


def test_class_ratio_rule_edges_equal_mmseg():
    # Four side-by-side crop windows: exactly 75 % one class (fails: the largest must be < 75 %); half ignored,
    # half one class (fails: 255 is no class); half ignored, the rest two classes (passes); anything (unchecked).
    windows = [np.repeat(np.array([1] * 36 + [2] * 12, np.uint8)[None], CROP[0], axis=0),
               np.where(np.arange(CROP[1]) < 24, IGNORE, 4).astype(np.uint8)[None].repeat(CROP[0], axis=0),
               np.where(np.arange(CROP[1]) < 24, IGNORE, np.arange(CROP[1]) % 2).astype(np.uint8)[None].repeat(
                   CROP[0], axis=0),
               np.zeros(CROP, np.uint8)]
    seg = np.concatenate(windows, axis=1)
    img = test_image(*seg.shape, seed=4)
    candidates = [(0, 0), (0, 48), (0, 96), (0, 144)]
    expected = MmsegRandomCrop(CROP, 0.75, iter(candidates))(img, seg)
    box = select_crop_box(torch.from_numpy(seg), iter(candidates), CROP, 0.75, IGNORE)
    assert box == (0, 96)
    np.testing.assert_array_equal(crop(to_torch(img), torch.from_numpy(seg), box, CROP)[1].numpy(), expected[1])


def test_crop_of_an_image_smaller_than_the_crop_equals_mmseg():
    img, seg = test_image(20, 40, seed=2), test_label(20, 40, seed=2)
    expected = MmsegRandomCrop(CROP, 0.75, iter([(0, 0)] * 11))(img, seg)
    box = select_crop_box(torch.from_numpy(seg), iter([(0, 0)] * 11), CROP, 0.75, IGNORE)
    image, label = crop(to_torch(img), torch.from_numpy(seg), box, CROP)
    np.testing.assert_array_equal(to_bgr(image), expected[0])
    np.testing.assert_array_equal(label.numpy(), expected[1])


def test_crop_offsets_cover_every_valid_position():
    # mmseg draws randint(0, margin + 1): every offset from 0 to the margin, the margin included.
    offsets = [draw_crop_offset(35, 48, CROP, torch.Generator().manual_seed(seed)) for seed in range(300)]
    assert {top for top, _ in offsets} == {0, 1, 2, 3} and {left for _, left in offsets} == {0}
    seg = torch.from_numpy(test_label(96, 128))
    for seed in range(20):
        top, left = draw_crop_box(seg, CROP, 0.75, IGNORE, torch.Generator().manual_seed(seed))
        assert 0 <= top <= 96 - CROP[0] and 0 <= left <= 128 - CROP[1]


# --------------------------------------------------------------------------------------------------------------
# Flip
# --------------------------------------------------------------------------------------------------------------


def test_flip_equals_mmcv_imflip():
    img, seg = test_image(24, 37), test_label(24, 37)
    image, label = horizontal_flip(to_torch(img), torch.from_numpy(seg))
    np.testing.assert_array_equal(to_bgr(image), np.flip(img, axis=1))  # mmcv.imflip(img, 'horizontal')
    np.testing.assert_array_equal(label.numpy(), np.flip(seg, axis=1))
    flips = [draw_flip(0.5, torch.Generator().manual_seed(seed)) for seed in range(400)]
    assert 0.4 < np.mean(flips) < 0.6  # RandomFlip(prob=0.5): np.random.rand() < 0.5


# --------------------------------------------------------------------------------------------------------------
# Photometric distortion
# --------------------------------------------------------------------------------------------------------------

SINGLE_STEPS = (
    [PhotometricParams(brightness=b) for b in (-32.0, -17.3, -0.4, 0.6, 12.75, 31.99)]
    + [PhotometricParams(contrast=c, contrast_first=first) for c in (0.5, 0.77, 1.2, 1.4999) for first in (True, False)]
    + [PhotometricParams(saturation=s) for s in (0.5, 0.83, 1.0, 1.3, 1.4999)]
    + [PhotometricParams(hue=h) for h in range(-18, 18)]
)
COMBINED = [
    PhotometricParams(brightness=b, contrast=c, contrast_first=first, saturation=s, hue=h)
    for (b, c, s, h) in ((-20.5, 1.3, 0.6, -18), (25.0, 0.6, 1.45, 17), (3.3, 1.1, 0.9, 5))
    for first in (True, False)
] + [PhotometricParams(contrast_first=False), PhotometricParams(brightness=7.0, hue=0, contrast_first=False)]


@pytest.mark.parametrize("params", SINGLE_STEPS + COMBINED, ids=repr)
def test_photometric_step_equals_mmseg(params):
    img = test_image(40, 64, seed=3)
    ours = apply_photometric(to_torch(img), params)
    np.testing.assert_array_equal(to_bgr(ours), mmseg_photometric(img.copy(), params))


def test_photometric_draws_follow_mmseg_distributions():
    draws = [draw_photometric_params(torch.Generator().manual_seed(seed)) for seed in range(1200)]

    def applied(values):
        return [v for v in values if v is not None]

    brightness = applied(d.brightness for d in draws)
    contrast = applied(d.contrast for d in draws)
    saturation = applied(d.saturation for d in draws)
    hue = applied(d.hue for d in draws)
    for values in (brightness, contrast, saturation, hue):  # each step's coin: random.randint(2)
        assert 0.45 < len(values) / len(draws) < 0.55
    assert 0.45 < np.mean([d.contrast_first for d in draws]) < 0.55  # mode = random.randint(2)
    assert -32 <= min(brightness) < -31 and 31 < max(brightness) < 32  # uniform(-32, 32)
    assert 0.5 <= min(contrast) < 0.52 and 1.48 < max(contrast) < 1.5  # uniform(0.5, 1.5)
    assert 0.5 <= min(saturation) < 0.52 and 1.48 < max(saturation) < 1.5
    assert set(hue) == set(range(-18, 18))  # randint(-18, 18): -18 .. 17


# --------------------------------------------------------------------------------------------------------------
# The whole training pipeline, replaying its draws through the original's transforms
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_train_transform_equals_the_mmseg_pipeline_given_its_draws(seed):
    img, seg = test_image(96, 160, seed=seed), test_label(96, 160, seed=seed)
    transform = TrainTransform(scale=(96, 192), crop_size=(64, 64))
    pixel_values, labels = transform(to_torch(img), torch.from_numpy(seg),
                                     generator=torch.Generator().manual_seed(seed))

    # The same draws, in the pipeline's order, from the same generator state; the original's transforms apply them.
    generator = torch.Generator().manual_seed(seed)
    ratio = draw_rescale_ratio(transform.ratio_range, generator)
    img, seg = mmseg_resize(img, seg, (192, 96), ratio)
    box = draw_crop_box(torch.from_numpy(seg), (64, 64), 0.75, IGNORE, generator)
    img, seg = MmsegRandomCrop((64, 64), 0.75, iter([box]))(img, seg)
    if draw_flip(0.5, generator):
        img, seg = np.flip(img, axis=1), np.flip(seg, axis=1)
    img = mmseg_photometric(np.ascontiguousarray(img), draw_photometric_params(generator))
    expected_img, expected_seg = mmseg_normalize_and_pad(img, np.ascontiguousarray(seg), (64, 64))

    np.testing.assert_array_equal(labels.numpy(), expected_seg)
    np.testing.assert_allclose(pixel_values.permute(1, 2, 0).numpy(), expected_img, rtol=0, atol=1e-5)
