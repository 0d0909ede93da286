"""DabnetImageProcessor and the test-protocol steps: reading, resizing (against OpenCV), normalisation, labels,
post-processing (the bounded-memory argmax against the one-shot computation), transformers' conventions, the
pipeline and the preprocessor_config.json round trip."""

from __future__ import annotations

import json
import math
import warnings
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from transformers.image_transforms import get_resize_output_image_size

from dabnet_zoo import create_processor
from dabnet_zoo.image_processing_dabnet import (
    DabnetImageProcessor,
    get_resize_output_size,
    logits_to_label_map,
    read_image,
    resize_labels,
    to_rgb_uint8,
)
from dabnet_zoo.presets import DATASETS, IMAGENET_MEAN, IMAGENET_STD

MEAN = np.asarray(IMAGENET_MEAN, np.float32)
STD = np.asarray(IMAGENET_STD, np.float32)


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def mmseg_keep_ratio(height: int, width: int, target: tuple[int, int]) -> tuple[int, int]:
    """mmcv's rescale_size in exact rational arithmetic (an implementation independent of the processor's)."""
    factor = min(Fraction(max(target), max(height, width)), Fraction(min(target), min(height, width)))
    return math.floor(height * factor + Fraction(1, 2)), math.floor(width * factor + Fraction(1, 2))


def opencv_network_input(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The original's test pipeline written out with OpenCV and NumPy: cv2 bilinear on uint8, then
    (x - mean) / std in float32, channels first."""
    resized = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return ((resized.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)


def two_resizes(logits: torch.Tensor, input_size, output_size) -> torch.Tensor:
    """The original's post-processing, one shot: (1, C, h, w) -> input size -> output size, bilinear."""
    step = F.interpolate(logits, size=input_size, mode="bilinear", align_corners=False)
    return F.interpolate(step, size=output_size, mode="bilinear", align_corners=False)


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


def test_height_width_means_exactly_that_size_unless_the_ratio_is_kept():
    # transformers' convention: size={"height", "width"} is the output size
    assert DabnetImageProcessor(size={"height": 768, "width": 960}).input_size(720, 960) == (768, 960)
    assert get_resize_output_size(10, 3000, (640, 640)) == (640, 640)
    assert DabnetImageProcessor(size=(32, 64), keep_ratio=True).input_size(10, 10) == (32, 32)


@pytest.mark.parametrize("height, width", [(480, 640), (640, 480), (333, 500), (7, 1000), (512, 512)])
def test_shortest_edge_follows_transformers(height, width):
    processor = DabnetImageProcessor(size={"shortest_edge": 256})
    expected = get_resize_output_image_size(np.zeros((height, width, 3)), size=256, default_to_square=False)
    assert processor.input_size(height, width) == tuple(expected)
    assert processor(random_rgb(height, width))["pixel_values"].shape[-2:] == tuple(expected)


def test_shortest_edge_with_a_longest_edge_cap():
    # 1000 wide x 100 high, short side to 64 would make it 640 wide: capped at 320, the short side follows
    processor = DabnetImageProcessor(size={"shortest_edge": 64, "longest_edge": 320})
    assert processor.input_size(100, 1000) == (32, 320)
    assert processor.input_size(100, 200) == (64, 128)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_create_processor_follows_the_preset(dataset):
    preset = DATASETS[dataset]
    processor = create_processor(dataset)
    assert (processor.size["height"], processor.size["width"]) == preset.test_size
    assert processor.keep_ratio == preset.test_keep_ratio
    assert processor.do_reduce_labels == preset.reduce_zero_label
    assert processor.image_mean == pytest.approx(IMAGENET_MEAN) and processor.image_std == pytest.approx(IMAGENET_STD)
    assert not processor.do_rescale  # the original normalises on the 0-255 scale


def test_test_sizes_per_dataset():
    # CamVid 960x720 -> exactly 960x768; COCO 640x427 -> exactly 640x640; Cityscapes 2048x1024 unchanged
    assert create_processor("camvid").input_size(720, 960) == (768, 960)
    assert create_processor("coco_stuff10k").input_size(427, 640) == (640, 640)
    assert create_processor("cityscapes").input_size(1024, 2048) == (1024, 2048)
    assert create_processor("cityscapes").input_size(512, 1024) == (1024, 2048)


# ---------------------------------------------------------------------------------------------------------
# Reading files


def test_read_image_is_opencv_imread_in_rgb(tmp_path):
    image = random_rgb(9, 13, seed=1)
    for name in ("a.png", "a.jpg", "a.bmp", "a.webp"):
        Image.fromarray(image).save(tmp_path / name)
        np.testing.assert_array_equal(read_image(tmp_path / name),
                                      cv2.imread(str(tmp_path / name), cv2.IMREAD_COLOR)[..., ::-1])


def test_read_image_turns_photos_upright_by_their_exif_orientation(tmp_path):
    image = random_rgb(20, 40, seed=2)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    for name in ("phone.jpg", "phone.png"):
        Image.fromarray(image).save(tmp_path / name, exif=exif)
        rgb = read_image(tmp_path / name)
        assert rgb.shape == (40, 20, 3)  # upright: what OpenCV's IMREAD_COLOR (the original) gives
        np.testing.assert_array_equal(rgb, cv2.imread(str(tmp_path / name), cv2.IMREAD_COLOR)[..., ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "phone.png"), np.rot90(image, k=-1))


def test_read_image_of_grey_alpha_and_sixteen_bit_files(tmp_path):
    grey = np.random.default_rng(3).integers(0, 256, (5, 6), dtype=np.uint8)
    rgba = np.random.default_rng(4).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    deep = np.random.default_rng(5).integers(0, 65536, (5, 6), dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(deep).save(tmp_path / "deep.png")
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png"), np.repeat(grey[..., None], 3, axis=2))
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), rgba[..., :3])
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png")[..., 0], deep >> 8)  # OpenCV keeps the high byte
    # the same 16-bit pixels given in memory are reduced the same way, so files and arrays agree
    np.testing.assert_array_equal(to_rgb_uint8(deep), read_image(tmp_path / "deep.png"))
    np.testing.assert_array_equal(to_rgb_uint8(Image.open(tmp_path / "deep.png")), read_image(tmp_path / "deep.png"))


def test_read_image_refuses_decompression_bombs_before_decoding(tmp_path, monkeypatch):
    Image.fromarray(random_rgb(20, 20)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses above twice this: 400 pixels is a bomb
    monkeypatch.setattr(cv2, "imdecode", lambda *args: pytest.fail("decoded a decompression bomb"))
    with pytest.raises(ValueError, match="bomb.png.*MAX_IMAGE_PIXELS"):
        read_image(tmp_path / "bomb.png")


def test_read_image_errors_name_the_file(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    (tmp_path / "empty.png").write_bytes(b"")
    for name in ("broken.jpg", "empty.png"):
        with pytest.raises(ValueError, match=name):
            read_image(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")


# ---------------------------------------------------------------------------------------------------------
# Preprocessing


@pytest.mark.parametrize("size", [(64, 96), (13, 31), (37, 23)])  # enlarging and shrinking, odd factors
def test_pixel_values_are_opencv_bilinear_then_normalised(size):
    image = random_rgb(30, 45, seed=6)
    pixel_values = DabnetImageProcessor(size=size)(image)["pixel_values"][0]
    np.testing.assert_array_equal(pixel_values, opencv_network_input(image, size))


def test_shrinking_does_not_antialias_like_pil():
    image = random_rgb(64, 64, seed=7)
    pixel_values = DabnetImageProcessor(size=(16, 16), do_normalize=False)(image)["pixel_values"][0]
    pil = np.asarray(Image.fromarray(image).resize((16, 16), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    assert np.abs(pixel_values - pil).max() > 10  # PIL filters the whole footprint; OpenCV samples 2x2


def test_pixel_values_shape_dtype_and_sizes():
    processor = DabnetImageProcessor(size=(32, 64), keep_ratio=True)
    out = processor(random_rgb(16, 32), return_tensors="pt")
    assert out["pixel_values"].shape == (1, 3, 32, 64) and out["pixel_values"].dtype == torch.float32
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


def test_do_rescale_as_transformers_processors_do():
    image = random_rgb(5, 7, seed=8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    processor = DabnetImageProcessor(do_resize=False, do_rescale=True, rescale_factor=1 / 255, image_mean=mean,
                                     image_std=std)
    expected = (image.astype(np.float32) * np.float32(1 / 255) - np.float32(mean)) / np.float32(std)
    np.testing.assert_allclose(processor(image)["pixel_values"][0], expected.transpose(2, 0, 1), rtol=1e-6)


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


def test_input_data_format_settles_ambiguous_layouts():
    image = random_rgb(3, 5)  # (3, 5, 3): channels last, or 3 channels of 5x3?
    processor = DabnetImageProcessor(do_resize=False)
    assert processor(image)["pixel_values"].shape == (1, 3, 3, 5)
    channels_first = processor(image, input_data_format="channels_first")["pixel_values"]
    assert channels_first.shape == (1, 3, 5, 3)
    np.testing.assert_array_equal(channels_first, processor(np.moveaxis(image, 0, -1))["pixel_values"])


def test_do_convert_rgb():
    grey = np.zeros((4, 4), np.uint8)
    assert DabnetImageProcessor(do_resize=False)(grey)["pixel_values"].shape == (1, 3, 4, 4)
    processor = DabnetImageProcessor(do_resize=False, do_convert_rgb=False)
    for not_rgb in (grey, Image.fromarray(grey), np.zeros((4, 4, 4), np.uint8)):
        with pytest.raises(ValueError, match="do_convert_rgb"):
            processor(not_rgb)
    assert processor(random_rgb(4, 4))["pixel_values"].shape == (1, 3, 4, 4)


def test_batched_inputs_list_and_4d():
    processor = DabnetImageProcessor(size=(8, 16))
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


def test_sixteen_bit_images_keep_their_high_byte_as_opencv_does():
    values = np.array([[0, 257, 25700], [32896, 65280, 65535]], dtype=np.uint16)
    expected = np.array([[0, 1, 100], [128, 255, 255]], dtype=np.uint8)
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
        ("street.png", TypeError, "read_image"),
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
    processor = DabnetImageProcessor(size=(16, 32), keep_ratio=True)
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


def test_pad_size_pads_every_image_to_it():
    processor = DabnetImageProcessor(size=(16, 32), keep_ratio=True, pad_size={"height": 32, "width": 32})
    out = processor(random_rgb(8, 32, 4), segmentation_maps=np.ones((8, 32), np.uint8))
    assert out["pixel_values"].shape == (1, 3, 32, 32) and out["labels"].shape == (1, 32, 32)
    assert (out["labels"][0, 16:] == 255).all()
    with pytest.raises(ValueError, match="pad_size"):
        DabnetImageProcessor(size=(64, 64), pad_size=(32, 32))(random_rgb(4, 4))


def test_per_call_overrides_and_unknown_arguments():
    processor = DabnetImageProcessor(size=(16, 32), keep_ratio=True)
    out = processor(random_rgb(10, 10), size={"height": 6, "width": 7}, keep_ratio=False)
    assert out["pixel_values"].shape == (1, 3, 6, 7)
    assert processor.size == {"height": 16, "width": 32}  # the processor itself is unchanged
    with pytest.raises(TypeError, match="keep_ration"):
        processor(random_rgb(10, 10), keep_ration=False)


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="image_mean"):
        DabnetImageProcessor(image_mean=(1.0, 2.0))
    with pytest.raises(ValueError, match="shortest_edge"):
        DabnetImageProcessor(size={"longest_edge": 512})
    with pytest.raises(ValueError, match="positive"):
        DabnetImageProcessor(image_std=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="OpenCV"):
        DabnetImageProcessor(resample=Image.Resampling.HAMMING)
    with pytest.raises(ValueError, match="reduce_labels"):
        DabnetImageProcessor(do_reduce_labels=False, reduce_labels=True)


# ---------------------------------------------------------------------------------------------------------
# Label maps


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32])
@pytest.mark.parametrize("source, target", [((7, 9), (13, 5)), ((10, 10), (3, 7)), ((97, 101), (61, 89)),
                                            ((3, 1000), (7, 999))])
def test_label_resize_is_opencv_nearest(source, target, dtype):
    labels = np.random.default_rng(9).integers(0, 200, source).astype(dtype)
    expected = cv2.resize(labels, (target[1], target[0]), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(resize_labels(labels, target), expected)


def test_labels_use_nearest_resize_and_ignore_padding():
    processor = DabnetImageProcessor(size=(16, 32), keep_ratio=True)
    rng = np.random.default_rng(6)
    labels_a = rng.integers(0, 19, (8, 16)).astype(np.uint8)
    labels_b = rng.integers(0, 19, (5, 5)).astype(np.uint8)
    labels_b[0, 0] = 255
    out = processor([random_rgb(8, 16), random_rgb(5, 5)], segmentation_maps=[labels_a, Image.fromarray(labels_b)])
    labels = out["labels"]
    assert labels.dtype == np.int64 and labels.shape == (2, 16, 32)
    np.testing.assert_array_equal(labels[1, :16, :16], cv2.resize(labels_b, (16, 16), interpolation=cv2.INTER_NEAREST))
    assert labels[1, 0, 0] == 255 and (labels[1, 16:, :] == 255).all() and (labels[1, :, 16:] == 255).all()


def test_labelled_keep_ratio_images_share_one_box_across_calls():
    """The Trainer processes examples apart and concatenates all evaluation logits: with label maps, a
    keep-ratio processor pads every call to `size`; a portrait image the mmcv rule would make 32x16 is
    scaled to fit the 16x32 box instead (factor min(16/20, 32/10) = 0.8 -> 16x8)."""
    processor = DabnetImageProcessor(size=(16, 32), keep_ratio=True)
    shapes = {(8, 16): (16, 32), (5, 5): (16, 16), (20, 10): (16, 8)}
    for (height, width), expected in shapes.items():
        label = np.random.default_rng(height).integers(0, 19, (height, width)).astype(np.uint8)
        out = processor(random_rgb(height, width), segmentation_maps=label)
        assert out["pixel_values"].shape == (1, 3, 16, 32) and out["labels"].shape == (1, 16, 32)
        assert out["reshaped_input_sizes"].tolist() == [list(expected)]
        h, w = expected
        np.testing.assert_array_equal(out["labels"][0, :h, :w], cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST))
        assert (out["labels"][0, h:] == 255).all() and (out["labels"][0, :, w:] == 255).all()
        assert not out["pixel_values"][0, :, h:].any() and not out["pixel_values"][0, :, :, w:].any()
    # without labels (inference) the protocol is untouched: mmcv's rule and no padding beyond the call
    assert processor(random_rgb(20, 10))["pixel_values"].shape == (1, 3, 32, 16)
    assert processor(random_rgb(5, 5))["pixel_values"].shape == (1, 3, 16, 16)
    # an explicit pad_size is the box; labelled images larger than it fit inside (unlabelled ones are refused)
    small_box = DabnetImageProcessor(size=(64, 64), pad_size=(32, 48))
    out = small_box(random_rgb(4, 4), segmentation_maps=np.zeros((4, 4), np.uint8))
    assert out["reshaped_input_sizes"].tolist() == [[32, 32]] and out["labels"].shape == (1, 32, 48)


def test_label_maps_of_a_labelled_call_come_back_from_its_box():
    """After a labelled keep-ratio call, post-processing must undo the padding to the box (`size`), not to the
    largest image: upsample the 1/8 logits to the box, crop the image, upsample to its size (the formula, with
    torch). A portrait 90x60 image in a 64x96 box is 64x43 inside it; its logits are 8x12 cells."""
    processor = DabnetImageProcessor(size={"height": 64, "width": 96}, keep_ratio=True)
    out = processor(random_rgb(90, 60), segmentation_maps=np.zeros((90, 60), np.uint8), return_tensors="pt")
    assert out["pixel_values"].shape[-2:] == (64, 96) and out["reshaped_input_sizes"].tolist() == [[64, 43]]
    logits = torch.randn(1, 5, 8, 12, generator=torch.Generator().manual_seed(0))
    expected = F.interpolate(F.interpolate(logits, (64, 96), mode="bilinear")[..., :64, :43], (90, 60),
                             mode="bilinear").argmax(1)[0]
    for sizes in ({"reshaped_input_sizes": out["reshaped_input_sizes"]}, {}):  # given, or recomputed from targets
        label_map = processor.post_process_semantic_segmentation(logits, target_sizes=[(90, 60)], **sizes)[0]
        torch.testing.assert_close(label_map, expected, rtol=0, atol=0)


def test_reduce_labels_like_mmseg_and_its_older_name():
    labels = np.array([[0, 1, 2], [171, 255, 0]], dtype=np.uint8)
    expected = [[255, 0, 1], [170, 255, 255]]
    for processor in (DabnetImageProcessor(do_resize=False, do_reduce_labels=True),
                      DabnetImageProcessor(do_resize=False, reduce_labels=True)):
        np.testing.assert_array_equal(processor(random_rgb(2, 3), segmentation_maps=labels)["labels"][0], expected)
    per_call = DabnetImageProcessor(do_resize=False)(random_rgb(2, 3), segmentation_maps=labels, reduce_labels=True)
    np.testing.assert_array_equal(per_call["labels"][0], expected)


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
    processor = DabnetImageProcessor(size=(24, 40))
    logits = torch.randn(1, 5, 3, 5)
    maps = processor.post_process_semantic_segmentation(logits, target_sizes=[(17, 23)])
    # logits -> network-input size -> original size, bilinear without corner alignment, argmax
    expected = two_resizes(logits, (24, 40), (17, 23)).argmax(1)[0]
    assert maps[0].dtype == torch.int64 and maps[0].shape == (17, 23)
    assert torch.equal(maps[0], expected)


# (classes, logits h, w, network input h, w, output h, w): odd sizes; small first resizes (height + width
# <= 128, where PyTorch's CPU kernel vectorises across classes) and large ones; 1x1 logits; class counts whose
# groups would have 3 classes
# (and two threads, which split the work at other points, for a few of them)
SIZES = [
    (19, 5, 7, 37, 53, 101, 77, 2),
    (19, 1, 1, 8, 8, 150, 97, 1),
    (171, 8, 8, 64, 64, 101, 77, 1),
    (11, 13, 17, 97, 121, 59, 201, 2),
    (7, 4, 6, 30, 50, 30, 50, 1),
    (40, 4, 4, 32, 32, 120, 121, 1),
    (19, 30, 50, 240, 400, 40, 60, 1),
    (13, 9, 9, 70, 70, 1000, 9, 2),
    (6, 16, 20, 128, 160, 129, 161, 1),
]


@pytest.mark.parametrize("classes, h, w, in_h, in_w, out_h, out_w, threads", SIZES)
def test_bounded_memory_argmax_equals_the_one_shot_computation(classes, h, w, in_h, in_w, out_h, out_w, threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(classes * h + w)
        for logits in (torch.randn(classes, h, w, generator=generator),
                       torch.randint(0, 3, (classes, h, w), generator=generator).float()):  # many exact ties
            for padded in (None, (in_h + 5, in_w + 3)):
                first = padded or (in_h, in_w)
                # the one-shot computation: every class resized at once, then the argmax
                network_input = F.interpolate(logits[None], size=first, mode="bilinear")[..., :in_h, :in_w]
                expected = F.interpolate(network_input, size=(out_h, out_w), mode="bilinear")[0].argmax(0)
                per_class = 4 * (first[0] * first[1] + out_h * out_w)
                for limit in (per_class + 1, 2 * per_class + 1, 5 * per_class, 10**12):  # 1, 2, 5, all classes
                    labels = logits_to_label_map(logits, (in_h, in_w), (out_h, out_w), padded, max_chunk_bytes=limit)
                    assert torch.equal(labels, expected), (limit, padded)
    finally:
        torch.set_num_threads(previous)


def test_bounded_memory_argmax_follows_torch_argmax_on_nan():
    logits = torch.zeros(6, 4, 4)
    logits[3, 1, 1] = float("nan")
    logits[5] = 1.0
    labels = logits_to_label_map(logits, (40, 40), (100, 100), max_chunk_bytes=4 * (1600 + 10000) * 2 + 1)
    assert torch.equal(labels, two_resizes(logits[None], (40, 40), (100, 100))[0].argmax(0))


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
    # the padded batch's resize, cropped: the original's resize of the padded input
    expected = F.interpolate(logits[1:], size=(64, 128), mode="bilinear")[..., :32, :64].argmax(1)[0]
    assert torch.equal(maps[1], expected)
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


def test_return_segmentation_scores_as_transformers_5():
    processor = DabnetImageProcessor(size=(24, 40))
    logits = torch.randn(2, 5, 3, 5)
    plain = processor.post_process_semantic_segmentation(logits, target_sizes=[(17, 23), (24, 40)])
    outputs = processor.post_process_semantic_segmentation(logits, target_sizes=[(17, 23), (24, 40)],
                                                           return_segmentation_scores=True)
    for output, labels, target in zip(outputs, plain, [(17, 23), (24, 40)]):
        assert torch.equal(output.segmentation, labels) and torch.equal(output["segmentation"], labels)
        assert output.segmentation_scores.shape == (5, *target)
    torch.testing.assert_close(outputs[0].segmentation_scores, two_resizes(logits[:1], (24, 40), (17, 23))[0])


def test_end_to_end_with_a_model():
    from dabnet_zoo import create_model

    model = create_model("dabnet_effb1").eval()
    processor = DabnetImageProcessor(size=(32, 64), keep_ratio=True)
    images = [random_rgb(20, 30), Image.fromarray(random_rgb(40, 20)).convert("L")]
    inputs = processor(images, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs)
    maps = processor.post_process_semantic_segmentation(
        outputs, target_sizes=inputs["original_sizes"], reshaped_input_sizes=inputs["reshaped_input_sizes"]
    )
    assert [tuple(m.shape) for m in maps] == [(20, 30), (40, 20)]
    assert all(0 <= int(m.min()) and int(m.max()) < model.config.num_labels for m in maps)


@pytest.mark.parametrize("keep_ratio", [False, True])
def test_pipeline_batches_images_of_different_aspect_ratios(keep_ratio):
    import dabnet_zoo  # noqa: F401 - registers the Auto classes the pipeline looks up
    from transformers import pipeline

    from dabnet_zoo import create_model

    model = create_model("dabnet_effb1").eval()
    # keep_ratio gives each aspect ratio its own size; the pipeline stacks images processed one by one, so a
    # fixed pad_size is what lets them share a batch
    processor = DabnetImageProcessor(size={"height": 32, "width": 64}, keep_ratio=keep_ratio,
                                     pad_size={"height": 64, "width": 64} if keep_ratio else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segmenter = pipeline("image-segmentation", model=model, image_processor=processor, device="cpu")
    images = [Image.fromarray(random_rgb(h, w, seed)) for seed, (h, w) in enumerate([(20, 50), (45, 25), (17, 17)])]
    batched = segmenter(images, batch_size=2)
    one_by_one = [segmenter(image) for image in images]
    for image, results, alone in zip(images, batched, one_by_one):
        assert results and all(result["mask"].size == image.size for result in results)
        assert [result["label"] for result in results] == [result["label"] for result in alone]
        for result, single in zip(results, alone):
            np.testing.assert_array_equal(np.asarray(result["mask"]), np.asarray(single["mask"]))


# ---------------------------------------------------------------------------------------------------------
# Saving and loading


def test_preprocessor_config_round_trip(tmp_path):
    processor = DabnetImageProcessor(
        size={"height": 48, "width": 80}, keep_ratio=True, resample=Image.Resampling.NEAREST,
        image_mean=(1.0, 2.0, 3.0), image_std=(4.0, 5.0, 6.0), do_reduce_labels=True, ignore_index=254,
        do_rescale=True, rescale_factor=0.5, pad_size={"height": 96, "width": 96},
    )
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "DabnetImageProcessor"
    assert saved["size"] == {"height": 48, "width": 80} and saved["keep_ratio"] is True
    assert saved["image_mean"] == [1.0, 2.0, 3.0] and saved["resample"] == int(Image.Resampling.NEAREST)
    assert saved["do_rescale"] is True and saved["pad_size"] == {"height": 96, "width": 96}

    loaded = DabnetImageProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict()
    image, labels = random_rgb(30, 50), np.random.default_rng(7).integers(0, 10, (30, 50))
    a, b = processor(image, segmentation_maps=labels), loaded(image, segmentation_maps=labels)
    for key in ("pixel_values", "labels", "reshaped_input_sizes"):
        np.testing.assert_array_equal(a[key], b[key])
    assert DabnetImageProcessor.from_pretrained(tmp_path, keep_ratio=False).keep_ratio is False


def test_reduce_labels_in_from_pretrained_kwargs(tmp_path):
    DabnetImageProcessor().save_pretrained(tmp_path)
    assert DabnetImageProcessor.from_pretrained(tmp_path, reduce_labels=True).do_reduce_labels is True
    assert DabnetImageProcessor.from_pretrained(tmp_path, do_reduce_labels=True).do_reduce_labels is True
    assert DabnetImageProcessor.from_pretrained(tmp_path).do_reduce_labels is False
