"""Properties of the augmentation pipeline (docs/architecture.md §6.2): values, sizes, padding, class-ratio rule,
flips, colour."""

from __future__ import annotations

import pytest
import torch

from dabnet_zoo import create_processor
from dabnet_zoo.data.transforms import (
    TestTransform,
    TrainTransform,
    crop_passes_class_ratio,
    keep_ratio_size,
    normalize,
    pad_to_size,
    photometric_distortion,
    random_crop,
    random_horizontal_flip,
    random_resize,
    resize_image,
    resize_label,
)
from dabnet_zoo.errors import InputError
from dabnet_zoo.presets import IMAGENET_MEAN, IMAGENET_STD


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_pair(seed: int, height: int, width: int, values=(0, 3, 7)) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=g)
    label = torch.tensor(values)[torch.randint(0, len(values), (height, width), generator=g)]
    return image, label


def _mmcv_keep_ratio(h: int, w: int, scale: tuple[int, int]) -> tuple[int, int]:
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return int(h * factor + 0.5), int(w * factor + 0.5)


# Resize -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(720, 960), (1024, 2048), (500, 375), (37, 1000)])
def test_keep_ratio_size_follows_mmcv(size) -> None:
    for scale in [(768, 960), (1024, 2048), (512, 2048), (33, 77)]:
        assert keep_ratio_size(*size, scale) == _mmcv_keep_ratio(*size, scale)


def test_random_resize_scales_camvid_frames_by_the_ratio() -> None:
    # docs/architecture.md §6.2, §6.6: with img_scale 960x768, a 960x720 frame becomes 960r x 720r, r in
    # [0.5, 2.0). Same shapes, 8 times smaller: scale 120x96, frame 120x90.
    image, label = _random_pair(0, 90, 120)
    ratios = []
    for seed in range(30):
        resized, resized_label = random_resize(image, label, scale=(96, 120), generator=_gen(seed))
        h, w = resized.shape[1:]
        assert resized_label.shape == (h, w)
        assert abs(h / 90 - w / 120) <= 1 / 90 + 1e-9
        ratios.append(w / 120)
    assert 0.5 - 0.02 <= min(ratios) and max(ratios) < 2.0 + 0.02
    assert max(ratios) - min(ratios) > 0.5, "the ratio must actually vary"


def test_random_resize_keeps_label_values_and_uses_nearest() -> None:
    image, label = _random_pair(1, 30, 40)
    for seed in range(10):
        _, resized = random_resize(image, label, scale=(30, 40), generator=_gen(seed))
        assert set(resized.unique().tolist()) <= {0, 3, 7}


def test_nearest_label_resize_repeats_and_subsamples_pixels() -> None:
    label = torch.randint(0, 19, (5, 7), generator=_gen(13))
    up = resize_label(label, (10, 21))
    assert torch.equal(up, label.repeat_interleave(2, 0).repeat_interleave(3, 1))
    assert torch.equal(resize_label(up, (5, 7)), label)  # integer downscale keeps the first of each block
    assert torch.equal(resize_label(label.to(torch.uint8), (10, 21)), up.to(torch.uint8))


def test_bilinear_image_resize_of_a_constant_image_is_constant() -> None:
    image = torch.full((3, 7, 9), 137, dtype=torch.uint8)
    resized = resize_image(image, (20, 13))
    assert resized.dtype == torch.uint8 and resized.shape == (3, 20, 13) and (resized == 137).all()


# Crop, class-ratio rule -------------------------------------------------------------------------------------


def _passes(crop: torch.Tensor, ratio: float = 0.75) -> bool:
    values, counts = crop.flatten().unique(return_counts=True)
    counts = counts[values != 255]
    return len(counts) >= 2 and counts.max().item() / counts.sum().item() < ratio


def _striped_label() -> torch.Tensor:
    """Left half: 4-pixel stripes of classes 0/1 (every crop there passes); right half: class 2 only."""
    label = torch.full((16, 64), 2)
    for x in range(0, 32):
        label[:, x] = (x // 4) % 2
    return label


def test_class_ratio_rule_redraws_until_a_crop_passes() -> None:
    label = _striped_label()
    image = torch.zeros((3, 16, 64), dtype=torch.uint8)
    with_rule = [_passes(random_crop(image, label, (16, 16), 0.75, generator=_gen(s))[1]) for s in range(300)]
    without = [_passes(random_crop(image, label, (16, 16), 1.0, generator=_gen(s))[1]) for s in range(300)]
    # about 57 % of the positions pass; 11 draws fail all together with probability 0.43^11
    assert sum(with_rule) / 300 > 0.97
    assert 0.35 < sum(without) / 300 < 0.75


def test_class_ratio_rule_ignores_255_in_the_histogram() -> None:
    mostly_ignored = torch.tensor([255] * 80 + [0] * 10 + [1] * 10)
    assert crop_passes_class_ratio(mostly_ignored, 0.75)  # 0 and 1 share the labelled pixels equally
    one_class_and_ignore = torch.tensor([255] * 50 + [0] * 50)
    assert not crop_passes_class_ratio(one_class_and_ignore, 0.75)  # 255 is not a second class
    assert not crop_passes_class_ratio(torch.tensor([0] * 75 + [1] * 25), 0.75)  # largest must be < 75 %
    assert crop_passes_class_ratio(torch.tensor([0] * 74 + [1] * 26), 0.75)


def test_an_unsatisfiable_rule_still_returns_a_crop() -> None:
    image = torch.zeros((3, 20, 30), dtype=torch.uint8)
    label = torch.zeros((20, 30), dtype=torch.int64)
    cropped_image, cropped = random_crop(image, label, (8, 9), 0.75, generator=_gen(0))
    assert cropped_image.shape == (3, 8, 9) and cropped.shape == (8, 9)


def test_crop_of_a_small_image_keeps_it_whole() -> None:
    image, label = _random_pair(2, 5, 7)
    cropped_image, cropped = random_crop(image, label, (10, 10), generator=_gen(0))
    assert torch.equal(cropped_image, image) and torch.equal(cropped, label)


# Whole pipeline ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("image_size", [(24, 32), (60, 90), (200, 150)])
def test_train_transform_output_size_values_and_dtypes(image_size) -> None:
    transform = TrainTransform(scale=(48, 64), crop_size=(40, 40))
    image, label = _random_pair(3, *image_size)
    for seed in range(8):
        pixel_values, labels = transform(image, label, generator=_gen(seed))
        assert pixel_values.shape == (3, 40, 40) and pixel_values.dtype == torch.float32
        assert labels.shape == (40, 40) and labels.dtype == torch.int64
        assert set(labels.unique().tolist()) <= {0, 3, 7, 255}


def test_padding_is_zero_for_the_image_and_255_for_the_label() -> None:
    transform = TrainTransform(scale=(12, 16), crop_size=(40, 48))  # images end up smaller than the crop
    image, label = _random_pair(4, 30, 40)
    for seed in range(5):
        pixel_values, labels = transform(image, label, generator=_gen(seed))
        valid = labels != 255  # the input has no 255, so 255 marks padding
        rows, cols = int(valid.any(1).sum()), int(valid.any(0).sum())
        assert 0 < rows < 40 and 0 < cols < 48
        assert valid[:rows, :cols].all() and not valid[rows:].any() and not valid[:, cols:].any()
        assert (pixel_values[:, ~valid] == 0).all()


def test_flip_moves_image_and_label_together() -> None:
    # channel 0 encodes the label, channel 1 the column: any mismatch or one-sided flip shows up
    label = torch.randint(0, 5, (24, 30), generator=_gen(5))
    image = torch.stack([label * 10, torch.arange(30).expand(24, 30) * 8, torch.zeros(24, 30, dtype=torch.int64)])
    image = image.to(torch.uint8)
    transform = TrainTransform(scale=(24, 30), crop_size=(20, 26), ratio_range=(1.0, 1.0), photometric=False,
                               mean=(0, 0, 0), std=(1, 1, 1), cat_max_ratio=1.0)
    flipped = 0
    for seed in range(200):
        pixel_values, labels = transform(image, label, generator=_gen(seed))
        assert torch.equal(pixel_values[0], labels.float() * 10)
        columns = pixel_values[1, 0]
        flipped += int(columns[0] > columns[-1])
    assert 70 < flipped < 130, "p = 0.5"


def test_random_horizontal_flip_probability_extremes() -> None:
    image, label = _random_pair(6, 4, 5)
    flipped_image, flipped_label = random_horizontal_flip(image, label, prob=1.0, generator=_gen(0))
    assert torch.equal(flipped_image, image.flip(-1)) and torch.equal(flipped_label, label.flip(-1))
    same_image, same_label = random_horizontal_flip(image, label, prob=0.0, generator=_gen(0))
    assert torch.equal(same_image, image) and torch.equal(same_label, label)


def test_same_generator_seed_same_result_and_seeds_differ() -> None:
    transform = TrainTransform(scale=(48, 64), crop_size=(32, 32))
    image, label = _random_pair(7, 48, 64)
    a = transform(image, label, generator=_gen(11))
    b = transform(image, label, generator=_gen(11))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    others = [transform(image, label, generator=_gen(s))[0] for s in range(12, 16)]
    assert any(not torch.equal(a[0], other) for other in others)


# Photometric distortion and colour --------------------------------------------------------------------------


def test_photometric_distortion_keeps_uint8_and_shape_and_is_seeded() -> None:
    image, _ = _random_pair(8, 10, 12)
    out = photometric_distortion(image, generator=_gen(0))
    assert out.dtype == torch.uint8 and out.shape == image.shape
    assert torch.equal(out, photometric_distortion(image, generator=_gen(0)))
    assert any(not torch.equal(photometric_distortion(image, generator=_gen(s)), image) for s in range(10))


def test_saturation_and_hue_leave_grey_pixels_grey() -> None:
    grey = torch.arange(0, 256, dtype=torch.uint8).view(1, 16, 16).expand(3, 16, 16).contiguous()
    for seed in range(20):
        out = photometric_distortion(grey, generator=_gen(seed), brightness_delta=0, contrast_range=(1.0, 1.0))
        assert torch.equal(out, grey)


def test_brightness_is_one_shift_for_all_unclipped_pixels() -> None:
    # grey, so the (lossy) HSV round trip of a x1 saturation / +0 hue step cannot blur the picture
    image = torch.randint(40, 216, (1, 16, 16), dtype=torch.uint8, generator=_gen(9)).expand(3, 16, 16).contiguous()
    for seed in range(10):
        out = photometric_distortion(image, generator=_gen(seed), contrast_range=(1.0, 1.0),
                                     saturation_range=(1.0, 1.0), hue_delta=0)
        shift = out.int() - image.int()
        assert shift.max() - shift.min() <= 1 and shift.abs().max() <= 32


# Normalise, pad, test-time ----------------------------------------------------------------------------------


def test_normalize_uses_mean_and_std_on_the_0_255_scale() -> None:
    constant = torch.full((3, 4, 4), 200, dtype=torch.uint8)
    out = normalize(constant)
    for c in range(3):
        assert torch.allclose(out[c], torch.tensor((200 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]), atol=1e-6)
    image, _ = _random_pair(11, 8, 8)
    restored = normalize(image) * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    assert torch.allclose(restored, image.float(), atol=1e-4)


def test_pad_refuses_to_shrink() -> None:
    with pytest.raises(InputError, match="crop first"):
        pad_to_size(torch.zeros(3, 10, 10), torch.zeros(10, 10), (8, 12))


def test_test_transform_follows_the_preset() -> None:
    image, label = _random_pair(12, 10, 12)
    pixel_values, same_label = TestTransform.from_preset("camvid")(image, label)
    assert pixel_values.shape == (3, 768, 960), "CamVid tests at exactly 960x768"
    assert torch.equal(same_label, label), "the label keeps its own size for evaluation"
    keep = TestTransform(size=(64, 128), keep_ratio=True)
    assert keep(torch.zeros((3, 32, 64), dtype=torch.uint8))[0].shape == (3, 64, 128)
    assert keep(torch.zeros((3, 40, 40), dtype=torch.uint8))[0].shape == (3, 64, 64)


def test_test_transform_runs_each_image_at_its_own_size_whatever_pad_size_a_processor_has() -> None:
    """A saved processor's pad_size (for pipeline batching) must not pad the protocol's input: the evaluation
    would take the padding for image. mmcv's rule gives a 32x64 image 64x128 inside a 64x128 box."""
    processor = create_processor("cityscapes", size={"height": 64, "width": 128},
                                 pad_size={"height": 128, "width": 128})
    assert processor(torch.zeros((3, 32, 64), dtype=torch.uint8))["pixel_values"].shape[-2:] == (128, 128)
    transform = TestTransform.from_processor(processor)
    assert transform(torch.zeros((3, 32, 64), dtype=torch.uint8))[0].shape == (3, 64, 128)
    assert transform.size == (64, 128) and processor.pad_size == {"height": 128, "width": 128}  # not changed


def test_inputs_in_the_wrong_format_are_rejected() -> None:
    transform = TrainTransform.from_preset("cityscapes", crop_size=(8, 8))
    with pytest.raises(InputError, match=r"\(3, H, W\)"):
        transform(torch.zeros((16, 16, 3), dtype=torch.uint8), torch.zeros((16, 16), dtype=torch.int64))
    with pytest.raises(InputError, match="uint8"):
        transform(torch.zeros((3, 16, 16)), torch.zeros((16, 16), dtype=torch.int64))
    with pytest.raises(InputError, match="differs"):
        transform(torch.zeros((3, 16, 16), dtype=torch.uint8), torch.zeros((16, 15), dtype=torch.int64))
