"""Colour maps, overlays and palettes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dabnet_zoo.errors import InputError
from dabnet_zoo.presets import DATASETS
from dabnet_zoo.visualize import (
    colorize,
    default_palette,
    get_palette,
    overlay,
)


def random_labels(num_labels: int, shape=(12, 17), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, num_labels, shape)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_get_palette_is_the_preset_palette(dataset):
    palette = get_palette(dataset)
    assert palette.shape == (DATASETS[dataset].num_labels, 3) and palette.dtype == np.uint8
    assert [tuple(c) for c in palette.tolist()] == [tuple(c) for c in DATASETS[dataset].palette]


def test_colorize_paints_each_class_and_ignored_black():
    palette = get_palette("cityscapes")
    labels = random_labels(19)
    labels[0, :5] = 255
    rgb = colorize(labels, palette)
    assert rgb.shape == (*labels.shape, 3) and rgb.dtype == np.uint8
    for (y, x), label in np.ndenumerate(labels):
        expected = (0, 0, 0) if label == 255 else tuple(palette[label])
        assert tuple(rgb[y, x]) == expected


@pytest.mark.parametrize("ignore_index", [-1, -100, 2, 300])
def test_colorize_honours_any_ignore_index(ignore_index):
    palette = np.array([[10, 10, 10], [20, 20, 20], [30, 30, 30]])
    labels = np.array([[0, 1, 2, ignore_index]]) if ignore_index not in range(3) else np.array([[0, 1, 2]])
    rgb = colorize(labels, palette, ignore_index=ignore_index)
    expected = [(0, 0, 0) if label == ignore_index else tuple(palette[label]) for label in labels[0]]
    assert [tuple(c) for c in rgb[0].tolist()] == expected


def test_colorize_accepts_tensors_and_pil_label_maps():
    palette = get_palette("camvid")
    labels = random_labels(11, seed=1)
    reference = colorize(labels, palette)
    np.testing.assert_array_equal(colorize(torch.from_numpy(labels), palette), reference)
    np.testing.assert_array_equal(colorize(Image.fromarray(labels.astype(np.uint8)), palette), reference)


def test_colorize_rejects_labels_without_colour_and_bad_inputs():
    with pytest.raises(InputError, match=r"\[11\]"):
        colorize(np.array([[0, 11]]), get_palette("camvid"))
    with pytest.raises(InputError, match="palette"):
        colorize(np.array([[0, 1]]), [(0, 0)])
    with pytest.raises(InputError, match="2-D integer"):
        colorize(np.zeros((2, 2), np.float32), get_palette("camvid"))


def test_overlay_blends_with_alpha():
    palette = get_palette("cityscapes")
    image = np.random.default_rng(2).integers(0, 256, (12, 17, 3), dtype=np.uint8)
    labels = random_labels(19, seed=3)
    labels[3, 3] = 255
    colours = colorize(labels, palette)
    np.testing.assert_array_equal(overlay(image, labels, palette, alpha=0.0), image)
    full = overlay(image, labels, palette, alpha=1.0)
    assert tuple(full[3, 3]) == tuple(image[3, 3]), "ignored pixels keep the image"
    mask = labels != 255
    np.testing.assert_array_equal(full[mask], colours[mask])
    half = overlay(Image.fromarray(image), labels, palette, alpha=0.5).astype(int)
    mid = (image.astype(int) + colours.astype(int)) / 2
    assert np.abs(half[mask] - mid[mask]).max() <= 0.5


def test_overlay_accepts_grayscale_and_checks_sizes():
    palette = get_palette("camvid")
    gray = np.full((4, 5), 100, np.uint8)
    out = overlay(gray, np.zeros((4, 5), np.int64), palette, alpha=0.0)
    assert out.shape == (4, 5, 3) and (out == 100).all()
    with pytest.raises(InputError, match="target_sizes"):
        overlay(gray, np.zeros((5, 4), np.int64), palette)
    with pytest.raises(InputError, match="alpha"):
        overlay(gray, np.zeros((4, 5), np.int64), palette, alpha=1.5)
    with pytest.raises(InputError, match="8-bit"):
        overlay(gray.astype(np.float32), np.zeros((4, 5), np.int64), palette)


def test_default_palette_is_distinct_deterministic_and_never_black():
    palette = default_palette(200)
    assert palette.shape == (200, 3) and palette.dtype == np.uint8
    assert len({tuple(c) for c in palette.tolist()}) == 200
    assert not (palette == 0).all(axis=1).any()
    np.testing.assert_array_equal(default_palette(200)[:7], default_palette(7))
    with pytest.raises(InputError):
        default_palette(0)


