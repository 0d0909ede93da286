"""DabnetImageProcessor: input conversion, the test-protocol resize, normalisation, padding, labels,
post-processing and the preprocessor_config.json round trip."""

from __future__ import annotations

import json
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dabnet_zoo.image_processing_dabnet import DabnetImageProcessor, get_resize_output_size, to_rgb_uint8
from dabnet_zoo.presets import DATASETS, IMAGENET_MEAN, IMAGENET_STD
from dabnet_zoo import create_processor

MEAN = np.asarray(IMAGENET_MEAN, np.float32)
STD = np.asarray(IMAGENET_STD, np.float32)


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def mmseg_keep_ratio(height: int, width: int, target: tuple[int, int]) -> tuple[int, int]:
    """mmcv's rescale_size in exact rational arithmetic (an implementation independent of the processor's)."""
    factor = min(Fraction(max(target), max(height, width)), Fraction(min(target), min(height, width)))
    return math.floor(height * factor + Fraction(1, 2)), math.floor(width * factor + Fraction(1, 2))


# ---------------------------------------------------------------------------------------------------------
# The resize rule


@pytest.mark.parametrize(
    "height, width, target",
    [
        (1024, 2048, (1024, 2048)),  # Cityscapes: the identity
        (333, 500, (1024, 2048)),
        (2048, 1024, (1024, 2048)),  # portrait: fits inside the target turned sideways, as in mmseg
        (720, 960, (768, 960)),
        (427, 640, (640, 640)),
        (3000, 4000, (1024, 2048)),  # shrinking
        (17, 1000, (512, 512)),
    ],
)
def test_keep_ratio_size_matches_mmseg_rule(height, width, target):
    expected = mmseg_keep_ratio(height, width, target)
    assert get_resize_output_size(height, width, {"height": target[0], "width": target[1]}, True) == expected
    new_h, new_w = expected
    # and the rule's purpose: the result fits the target (in some orientation) and keeps the aspect ratio
    assert max(new_h, new_w) <= max(target) and min(new_h, new_w) <= min(target)
    assert max(new_h, new_w) == max(target) or min(new_h, new_w) == min(target)
    assert abs(new_h / new_w - height / width) < 2 / min(new_h, new_w)


def test_hand_computed_keep_ratio_examples():
    # 500x333 (w x h) into 2048x1024: factor min(2048/500, 1024/333) = 1024/333 -> 1538 wide, 1024 high
    assert get_resize_output_size(333, 500, (1024, 2048), True) == (1024, 1538)
    # portrait 1024 wide x 2048 high already fits (long 2048, short 1024): unchanged, not shrunk to 1024 high
    assert get_resize_output_size(2048, 1024, (1024, 2048), True) == (2048, 1024)


def test_exact_resize_ignores_aspect_ratio():
    assert get_resize_output_size(720, 960, (768, 960), False) == (768, 960)
    assert get_resize_output_size(10, 3000, (640, 640), False) == (640, 640)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_create_processor_follows_the_preset(dataset):
    preset = DATASETS[dataset]
    processor = create_processor(dataset)
    assert (processor.size["height"], processor.size["width"]) == preset.test_size
    assert processor.keep_ratio == preset.test_keep_ratio
    assert processor.do_reduce_labels == preset.reduce_zero_label
    assert processor.image_mean == pytest.approx(IMAGENET_MEAN) and processor.image_std == pytest.approx(IMAGENET_STD)


def test_test_sizes_per_dataset():
    # CamVid 960x720 -> exactly 960x768; COCO 640x427 -> exactly 640x640; Cityscapes 2048x1024 unchanged
    assert create_processor("camvid").input_size(720, 960) == (768, 960)
    assert create_processor("coco_stuff10k").input_size(427, 640) == (640, 640)
    assert create_processor("cityscapes").input_size(1024, 2048) == (1024, 2048)
    assert create_processor("cityscapes").input_size(512, 1024) == (1024, 2048)


# ---------------------------------------------------------------------------------------------------------
# Preprocessing


def test_pixel_values_shape_dtype_and_normalisation():
    processor = DabnetImageProcessor(size=(32, 64))
    image = random_rgb(16, 32)
    out = processor(image, return_tensors="pt")
    pixel_values = out["pixel_values"]
    assert pixel_values.shape == (1, 3, 32, 64) and pixel_values.dtype == torch.float32
    low, high = (0 - MEAN) / STD, (255 - MEAN) / STD
    for c in range(3):
        assert low[c] - 1e-5 <= pixel_values[0, c].min() and pixel_values[0, c].max() <= high[c] + 1e-5
    assert out["original_sizes"].tolist() == [[16, 32]]
    assert out["reshaped_input_sizes"].tolist() == [[32, 64]]


def test_normalisation_uses_the_0_255_scale():
    processor = DabnetImageProcessor(do_resize=False)
    mean_colour = np.broadcast_to(np.round(MEAN).astype(np.uint8), (4, 6, 3)).copy()
    white = np.full((4, 6, 3), 255, np.uint8)
    pixel_values = processor([mean_colour, white])["pixel_values"]
    expected = np.broadcast_to(((np.round(MEAN) - MEAN) / STD)[:, None, None], (3, 4, 6))
    np.testing.assert_allclose(pixel_values[0], expected, atol=1e-5)
    np.testing.assert_allclose(pixel_values[1, :, 0, 0], (255 - MEAN) / STD, rtol=1e-6)


def test_do_normalize_false_keeps_pixel_values():
    image = random_rgb(5, 7)
    pixel_values = DabnetImageProcessor(do_resize=False, do_normalize=False)(image)["pixel_values"]
    np.testing.assert_array_equal(pixel_values[0], image.transpose(2, 0, 1).astype(np.float32))


def test_every_input_type_gives_the_same_pixels():
    processor = DabnetImageProcessor(size=(24, 40))
    image = random_rgb(12, 20)
    variants = [
        Image.fromarray(image),
        image,
        np.ascontiguousarray(image.transpose(2, 0, 1)),  # numpy channels-first
        torch.from_numpy(image).permute(2, 0, 1),  # torchvision layout, uint8
        torch.from_numpy(image).permute(2, 0, 1).float() / 255,  # float in [0, 1]
        (image.astype(np.uint16) * 257),  # 16-bit
    ]
    reference = processor(image)["pixel_values"]
    for variant in variants:
        np.testing.assert_allclose(processor(variant)["pixel_values"], reference, atol=1e-6)


def test_batched_inputs_list_and_4d():
    processor = DabnetImageProcessor(size=(8, 16), keep_ratio=False)
    images = [random_rgb(10, 10, seed) for seed in range(3)]
    from_list = processor(images)["pixel_values"]
    from_array = processor(np.stack(images))["pixel_values"]
    from_tensor = processor(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2))["pixel_values"]
    assert from_list.shape == (3, 3, 8, 16)
    np.testing.assert_array_equal(from_list, from_array)
    np.testing.assert_array_equal(from_list, from_tensor)


def test_grayscale_is_replicated_to_three_channels():
    gray = np.random.default_rng(1).integers(0, 256, (9, 11), dtype=np.uint8)
    for image in (gray, Image.fromarray(gray), gray[..., None], torch.from_numpy(gray)[None]):
        rgb = to_rgb_uint8(image)
        assert rgb.shape == (9, 11, 3) and rgb.dtype == np.uint8
        for c in range(3):
            np.testing.assert_array_equal(rgb[..., c], gray)


def test_rgba_drops_alpha():
    rgba = np.random.default_rng(2).integers(0, 256, (6, 8, 4), dtype=np.uint8)
    rgba[0, 0, 3] = 0  # fully transparent pixel keeps its colour, as OpenCV's imread does
    for image in (rgba, Image.fromarray(rgba), torch.from_numpy(rgba).permute(2, 0, 1)):
        np.testing.assert_array_equal(to_rgb_uint8(image), rgba[..., :3])


def test_sixteen_bit_images_are_scaled_not_clipped():
    values = np.array([[0, 257, 25700], [32896, 65280, 65535]], dtype=np.uint16)
    expected = np.array([[0, 1, 100], [128, 254, 255]], dtype=np.uint8)
    pil16 = Image.fromarray(values)
    assert pil16.mode == "I;16"
    pil32 = Image.fromarray(values.astype(np.int32))  # older PIL opens 16-bit PNGs as mode "I"
    assert pil32.mode == "I"
    for image in (values, pil16, pil32):
        rgb = to_rgb_uint8(image)
        np.testing.assert_array_equal(rgb[..., 0], expected)
        np.testing.assert_array_equal(rgb[..., 2], expected)


def test_palette_images_are_converted():
    rgb = random_rgb(8, 8, seed=3)
    palette_image = Image.fromarray(rgb).quantize(colors=16)
    assert palette_image.mode == "P"
    np.testing.assert_array_equal(to_rgb_uint8(palette_image), np.asarray(palette_image.convert("RGB")))
    palette_image.info["transparency"] = 0  # palette with transparency: via RGBA, without PIL's warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert to_rgb_uint8(palette_image).shape == (8, 8, 3)


def test_other_pil_modes_are_converted():
    for mode in ("1", "LA", "CMYK", "YCbCr", "I", "F"):
        image = Image.new(mode, (5, 4))
        rgb = to_rgb_uint8(image)
        assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8


@pytest.mark.parametrize(
    "bad, error, words",
    [
        ([], ValueError, "empty"),
        (None, TypeError, "None"),
        ("street.png", TypeError, "PIL.Image.open"),
        (42, TypeError, "int"),
        ([[np.zeros((4, 4, 3), np.uint8)]], TypeError, "nested"),
        (np.zeros((6, 6, 2), np.uint8), ValueError, "shape"),
        (np.zeros((0, 4, 3), np.uint8), ValueError, "empty"),
        (np.full((4, 4, 3), 2.0, np.float32), ValueError, "[0, 1]"),
        (np.full((4, 4, 3), np.nan, np.float32), ValueError, "[0, 1]"),
        (np.full((4, 4, 3), 300, np.int32), ValueError, "0-255"),
        (np.zeros((4, 4, 3), np.complex64), ValueError, "dtype"),
        (np.zeros((0, 4, 4, 3), np.uint8), ValueError, "size 0"),
    ],
)
def test_non_images_get_clear_errors(bad, error, words):
    with pytest.raises(error) as info:
        DabnetImageProcessor()(bad)
    assert words in str(info.value)


def test_error_names_the_bad_image_of_a_batch():
    with pytest.raises(TypeError, match="Image 1 of 2"):
        DabnetImageProcessor()([np.zeros((4, 4, 3), np.uint8), "oops"])


def test_different_sizes_are_padded_bottom_right_with_zero():
    processor = DabnetImageProcessor(size=(16, 32))  # keep ratio
    wide, square = random_rgb(8, 32, 4), random_rgb(10, 10, 5)
    out = processor([wide, square])
    assert out["reshaped_input_sizes"].tolist() == [[8, 32], [16, 16]]
    assert out["original_sizes"].tolist() == [[8, 32], [10, 10]]
    pixel_values = out["pixel_values"]
    assert pixel_values.shape == (2, 3, 16, 32)
    # the image part equals the image processed alone; the rest is 0 (the mean colour after normalisation)
    np.testing.assert_array_equal(pixel_values[0, :, :8, :], processor(wide)["pixel_values"][0])
    np.testing.assert_array_equal(pixel_values[1, :, :16, :16], processor(square)["pixel_values"][0])
    assert not pixel_values[0, :, 8:, :].any() and not pixel_values[1, :, :, 16:].any()


def test_per_call_overrides_and_unknown_arguments():
    processor = DabnetImageProcessor(size=(16, 32))
    out = processor(random_rgb(10, 10), size={"height": 6, "width": 7}, keep_ratio=False)
    assert out["pixel_values"].shape == (1, 3, 6, 7)
    assert processor.size == {"height": 16, "width": 32}  # the processor itself is unchanged
    with pytest.raises(TypeError, match="keep_ration"):
        processor(random_rgb(10, 10), keep_ration=False)


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="image_mean"):
        DabnetImageProcessor(image_mean=(1.0, 2.0))
    with pytest.raises(ValueError, match="height"):
        DabnetImageProcessor(size={"shortest_edge": 512})
    with pytest.raises(ValueError, match="positive"):
        DabnetImageProcessor(image_std=(1.0, 0.0, 1.0))


# ---------------------------------------------------------------------------------------------------------
# Label maps


def test_labels_use_nearest_resize_and_ignore_padding():
    processor = DabnetImageProcessor(size=(16, 32), keep_ratio=True)
    rng = np.random.default_rng(6)
    labels_a = rng.integers(0, 19, (8, 16)).astype(np.uint8)
    labels_b = rng.integers(0, 19, (5, 5)).astype(np.uint8)
    labels_b[0, 0] = 255
    out = processor([random_rgb(8, 16), random_rgb(5, 5)], segmentation_maps=[labels_a, Image.fromarray(labels_b)])
    labels = out["labels"]
    assert labels.dtype == np.int64 and labels.shape == (2, 16, 32)
    # nearest never invents values; padding is the ignore index
    assert set(np.unique(labels[0])) <= set(np.unique(labels_a).tolist())
    assert labels[1, 0, 0] == 255 and (labels[1, 16:, :] == 255).all() and (labels[1, :, 16:] == 255).all()
    # the rule is the legacy nearest of OpenCV (and torch's mode="nearest"): source = floor(target * in / out)
    expected = F.interpolate(torch.from_numpy(labels_b)[None, None].float(), size=(16, 16), mode="nearest")[0, 0]
    np.testing.assert_array_equal(labels[1, :16, :16], expected.numpy().astype(np.int64))


def test_label_resize_matches_torch_legacy_nearest_for_awkward_ratios():
    processor = DabnetImageProcessor(size=(13, 5), keep_ratio=False)
    labels = np.arange(63).reshape(7, 9)
    out = processor(random_rgb(7, 9), segmentation_maps=labels)["labels"][0]
    expected = F.interpolate(torch.from_numpy(labels)[None, None].float(), size=(13, 5), mode="nearest")[0, 0]
    np.testing.assert_array_equal(out, expected.numpy().astype(np.int64))


def test_reduce_labels_like_mmseg():
    processor = DabnetImageProcessor(do_resize=False, do_reduce_labels=True)
    labels = np.array([[0, 1, 2], [171, 255, 0]], dtype=np.uint8)
    out = processor(random_rgb(2, 3), segmentation_maps=labels)["labels"][0]
    np.testing.assert_array_equal(out, [[255, 0, 1], [170, 255, 255]])


def test_label_errors():
    processor = DabnetImageProcessor(do_resize=False)
    with pytest.raises(ValueError, match="pixel for pixel"):
        processor(random_rgb(4, 4), segmentation_maps=np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="one per image"):
        processor([random_rgb(4, 4), random_rgb(4, 4)], segmentation_maps=[np.zeros((4, 4), np.uint8)])
    with pytest.raises(ValueError, match="class indices"):
        processor(random_rgb(4, 4), segmentation_maps=Image.fromarray(random_rgb(4, 4)))
    with pytest.raises(ValueError, match="integer"):
        processor(random_rgb(4, 4), segmentation_maps=np.zeros((4, 4), np.float32))


# ---------------------------------------------------------------------------------------------------------
# Post-processing


def test_post_process_two_resize_protocol():
    processor = DabnetImageProcessor(size=(24, 40), keep_ratio=False)
    logits = torch.randn(1, 5, 3, 5)
    maps = processor.post_process_semantic_segmentation(logits, target_sizes=[(17, 23)])
    # docs/architecture.md §7.2: logits -> network-input size -> original size, bilinear without corner
    # alignment, argmax
    step = F.interpolate(logits, size=(24, 40), mode="bilinear", align_corners=False)
    expected = F.interpolate(step, size=(17, 23), mode="bilinear", align_corners=False).argmax(1)[0]
    assert maps[0].dtype == torch.int64 and maps[0].shape == (17, 23)
    assert torch.equal(maps[0], expected)


def test_post_process_crops_batch_padding():
    processor = DabnetImageProcessor(do_resize=False)
    images = [random_rgb(64, 128), random_rgb(32, 64)]  # the second is padded to 64x128 in the batch
    inputs = processor(images, return_tensors="pt")
    assert inputs["reshaped_input_sizes"].tolist() == [[64, 128], [32, 64]]
    # logits at 1/8: class 1 wins clearly on the second image's own cells (4 x 8), class 2 on its padding
    # (bilinear blends the border pixels with padding cells; strong class-1 logits keep them class 1)
    logits = torch.zeros(2, 3, 8, 16)
    logits[1, 2] = 10.0
    logits[1, 1, :4, :8], logits[1, 2, :4, :8] = 100.0, 0.0
    maps = processor.post_process_semantic_segmentation(
        logits, target_sizes=inputs["original_sizes"], reshaped_input_sizes=inputs["reshaped_input_sizes"]
    )
    assert maps[1].shape == (32, 64)
    assert (maps[1] == 1).all(), "padding leaked into the label map"
    # without the input sizes they are recomputed from the target (original) sizes: same result
    again = processor.post_process_semantic_segmentation(logits, target_sizes=inputs["original_sizes"])
    assert all(torch.equal(a, b) for a, b in zip(maps, again))


def test_post_process_sizes_and_errors():
    processor = DabnetImageProcessor(do_resize=False)
    logits = torch.randn(2, 4, 3, 3)
    with pytest.raises(ValueError, match="one \\(height, width\\) per image"):
        processor.post_process_semantic_segmentation(logits, target_sizes=[(10, 10)])
    with pytest.raises(ValueError, match="batch"):
        processor.post_process_semantic_segmentation(logits, target_sizes=[(5, 5)] * 2, reshaped_input_sizes=[(5, 5)])
    # no sizes: the logits' own resolution
    maps = processor.post_process_semantic_segmentation(logits)
    assert [m.shape for m in maps] == [(3, 3), (3, 3)]
    assert torch.equal(maps[0], logits[0].argmax(0))


def test_post_process_ties_pick_the_first_class():
    maps = DabnetImageProcessor().post_process_semantic_segmentation(torch.zeros(1, 4, 2, 2), target_sizes=[(4, 4)])
    assert (maps[0] == 0).all()


def test_end_to_end_with_a_model():
    from dabnet_zoo import create_model

    model = create_model("dabnet_effb1").eval()
    processor = DabnetImageProcessor(size=(32, 64))
    images = [random_rgb(20, 30), Image.fromarray(random_rgb(40, 20)).convert("L")]
    inputs = processor(images, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs)
    maps = processor.post_process_semantic_segmentation(
        outputs, target_sizes=inputs["original_sizes"], reshaped_input_sizes=inputs["reshaped_input_sizes"]
    )
    assert [tuple(m.shape) for m in maps] == [(20, 30), (40, 20)]
    assert all(0 <= int(m.min()) and int(m.max()) < model.config.num_labels for m in maps)


# ---------------------------------------------------------------------------------------------------------
# Saving and loading


def test_preprocessor_config_round_trip(tmp_path):
    processor = DabnetImageProcessor(
        size={"height": 48, "width": 80}, keep_ratio=False, resample=Image.Resampling.NEAREST,
        image_mean=(1.0, 2.0, 3.0), image_std=(4.0, 5.0, 6.0), do_reduce_labels=True, ignore_index=254,
    )
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "DabnetImageProcessor"
    assert saved["size"] == {"height": 48, "width": 80} and saved["keep_ratio"] is False
    assert saved["image_mean"] == [1.0, 2.0, 3.0] and saved["resample"] == int(Image.Resampling.NEAREST)

    loaded = DabnetImageProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict()
    image, labels = random_rgb(30, 50), np.random.default_rng(7).integers(0, 10, (30, 50))
    a, b = processor(image, segmentation_maps=labels), loaded(image, segmentation_maps=labels)
    for key in ("pixel_values", "labels", "reshaped_input_sizes"):
        np.testing.assert_array_equal(a[key], b[key])
    assert DabnetImageProcessor.from_pretrained(tmp_path, keep_ratio=True).keep_ratio is True
