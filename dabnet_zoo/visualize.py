"""Colour maps and overlays of label maps, with each dataset's official palette.

The palettes and class names themselves live in :mod:`dabnet_zoo.presets` (one table for the whole package);
this module turns label maps into pictures. Everything works on NumPy arrays (and accepts PIL images and
torch tensors), so the CLI and notebooks share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from .errors import InputError
from .presets import get_dataset_preset

Palette = Sequence[Sequence[int]] | np.ndarray


def get_palette(dataset: str) -> np.ndarray:
    """The official palette of a dataset preset as a (num_classes, 3) uint8 array (``cityscapes``, ...)."""
    return np.asarray(get_dataset_preset(dataset).palette, dtype=np.uint8)


def default_palette(num_labels: int) -> np.ndarray:
    """Distinct colours for a model whose classes match no dataset preset: the PASCAL VOC palette, shifted.

    The VOC scheme spreads the bits of an index over the high bits of R, G and B, so neighbouring classes get
    clearly different colours and every run colours class k the same. Class k takes VOC colour k + 1, so that
    no class is black: black marks ignored pixels in :func:`colorize`.
    """
    if num_labels < 1:
        raise InputError(f"num_labels must be at least 1, got {num_labels}.")
    colors = np.zeros((num_labels, 3), dtype=np.uint8)
    for label in range(num_labels):
        code, color = label + 1, [0, 0, 0]  # + 1: index 0 of the VOC scheme is black
        for bit in range(8):
            for channel in range(3):
                color[channel] |= ((code >> channel) & 1) << (7 - bit)
            code >>= 3
        colors[label] = color
    return colors


def colorize(label_map: Any, palette: Palette, ignore_index: int = 255) -> np.ndarray:
    """Render a label map as an RGB image: class k gets ``palette[k]``, ``ignore_index`` pixels are black.

    Args:
        label_map: (height, width) class indices (NumPy array, torch tensor or single-channel PIL image).
        palette: one RGB colour per class, (num_classes, 3).
        ignore_index: label drawn black.

    Returns:
        (height, width, 3) uint8 array.

    Raises:
        InputError: if the map holds a label the palette has no colour for (other than ``ignore_index``).
    """
    labels = _label_array(label_map)
    colors = _palette_array(palette)
    ignored = labels == ignore_index
    invalid = ~ignored & ((labels < 0) | (labels >= len(colors)))
    if invalid.any():
        bad = np.unique(labels[invalid])[:10].tolist()
        raise InputError(
            f"The label map holds labels {bad} but the palette has colours for 0-{len(colors) - 1} only "
            f"(and {ignore_index} = ignored); pass the palette of the model's dataset or default_palette(num_labels)."
        )
    rgb = colors[np.where(ignored, 0, labels)]
    rgb[ignored] = 0
    return rgb


def overlay(image: Any, label_map: Any, palette: Palette, alpha: float = 0.5, ignore_index: int = 255) -> np.ndarray:
    """Blend the colour map over the image: ``(1 - alpha) * image + alpha * colour``; ignored pixels stay as is.

    Args:
        image: RGB image of the label map's size (PIL image or (height, width[, 3]) uint8 array).
        label_map: (height, width) class indices.
        palette: one RGB colour per class.
        alpha: opacity of the colours, 0 (image only) to 1 (colours only).
        ignore_index: label left uncoloured.

    Returns:
        (height, width, 3) uint8 array.
    """
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must lie in [0, 1], got {alpha}.")
    labels = _label_array(label_map)
    rgb = _rgb_array(image)
    if rgb.shape[:2] != labels.shape:
        raise InputError(
            f"The image is {rgb.shape[0]}x{rgb.shape[1]} but the label map is {labels.shape[0]}x{labels.shape[1]}; "
            "post-process the logits to the image's size first (target_sizes)."
        )
    colors = colorize(labels, palette, ignore_index).astype(np.float32)
    blended = (1.0 - alpha) * rgb.astype(np.float32) + alpha * colors
    ignored = labels == ignore_index
    blended[ignored] = rgb[ignored]
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def _label_array(label_map: Any) -> np.ndarray:
    if isinstance(label_map, Image.Image):
        label_map = np.asarray(label_map)
    elif hasattr(label_map, "detach"):  # a torch tensor, without importing torch here
        label_map = label_map.detach().cpu().numpy()
    labels = np.asarray(label_map)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"A label map must be a 2-D integer array of class indices, got shape {labels.shape} "
            f"and dtype {labels.dtype}."
        )
    return labels.astype(np.int64, copy=False)


def _palette_array(palette: Palette) -> np.ndarray:
    colors = np.asarray(palette)
    if colors.ndim != 2 or colors.shape[1] != 3 or len(colors) == 0 or colors.min() < 0 or colors.max() > 255:
        raise InputError(f"A palette must be (num_classes, 3) RGB values in 0-255, got shape {colors.shape}.")
    return colors.astype(np.uint8)


def _rgb_array(image: Any) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    rgb = np.asarray(image)
    if rgb.dtype != np.uint8:
        raise InputError(f"overlay() needs an 8-bit image (uint8 or a PIL image), got dtype {rgb.dtype}.")
    if rgb.ndim == 2:
        return np.repeat(rgb[..., None], 3, axis=-1)
    if rgb.ndim == 3 and rgb.shape[-1] in (3, 4):
        return rgb[..., :3]
    raise InputError(f"overlay() needs a (height, width) or (height, width, 3) image, got shape {rgb.shape}.")


__all__ = [
    "colorize",
    "default_palette",
    "get_palette",
    "overlay",
]
