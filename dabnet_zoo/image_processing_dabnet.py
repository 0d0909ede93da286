"""DABNet image processor: images in, normalised network inputs out; logits back to label maps.

It reproduces the original's test pipeline (reference spec §5.3, §9.2-§9.6): resize the 8-bit RGB image to
the dataset's test size (keeping the aspect ratio the way mmseg does where the original keeps it), normalise
with the ImageNet mean/std on the 0-255 scale, run the network, resize the logits bilinearly to the network
input size and then to the original image size, take the argmax.

It is written on transformers' ``BaseImageProcessor`` with PIL and NumPy only: the torchvision backend of
transformers v5 needs a torchvision build that does not load next to every torch build (ecosystem notes
§0.1), and a segmentation test protocol needs its own resize rule anyway. This module imports nothing from
the rest of the package, so it can travel to the Hub as remote code beside the configuration and the model;
that is why its defaults (Cityscapes: 1024x2048, keep ratio) are plain constructor arguments here and the
per-dataset presets are applied elsewhere (``dabnet_zoo.create_processor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.processing_utils import ImagesKwargs

ImageLike = Union[Image.Image, np.ndarray, torch.Tensor]

# The original's ImageNet statistics on the 0-255 scale (spec §2); duplicated from presets.py on purpose
# (see the module docstring).
_IMAGENET_MEAN = (123.675, 116.28, 103.53)
_IMAGENET_STD = (58.395, 57.12, 57.375)
_CITYSCAPES_TEST_SIZE = {"height": 1024, "width": 2048}
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_CHANNEL_COUNTS = (1, 3, 4)
# The constructor arguments, which preprocess() also takes as per-call overrides.
_SETTINGS = ("do_resize", "size", "keep_ratio", "resample", "do_normalize", "image_mean", "image_std",
             "do_reduce_labels", "ignore_index")
# Float images are taken to be on the 0-1 scale (torchvision's and transformers' convention); this much
# overshoot from earlier arithmetic is clipped instead of rejected.
_FLOAT_TOLERANCE = 1e-3


class DabnetImageProcessorKwargs(ImagesKwargs, total=False):
    """Keyword arguments of :class:`DabnetImageProcessor` beyond transformers' common image kwargs.

    keep_ratio (`bool`): whether the resize keeps the aspect ratio (mmseg's ``keep_ratio``).
    do_reduce_labels (`bool`): whether label maps are read with mmseg's ``reduce_zero_label``.
    ignore_index (`int`): label value for ignored pixels, also the padding value of ``labels``.
    """

    keep_ratio: bool
    do_reduce_labels: bool
    ignore_index: int


def get_resize_output_size(
    height: int, width: int, size: dict[str, int] | Sequence[int], keep_ratio: bool
) -> tuple[int, int]:
    """The (height, width) an image of ``height`` x ``width`` is resized to by the original's test pipeline.

    With ``keep_ratio`` this is mmcv's ``rescale_size``: the scale factor is
    ``min(long_target / long_side, short_target / short_side)``, so the image fits inside the target whatever
    its orientation, and each side becomes ``int(side * factor + 0.5)``. Without it, the target itself.

    Args:
        height, width: the image size.
        size: the target, ``{"height": h, "width": w}`` or ``(h, w)``.
        keep_ratio: whether to keep the aspect ratio.
    """
    target_height, target_width = _size_tuple(size)
    if not keep_ratio:
        return target_height, target_width
    long_factor = max(target_height, target_width) / max(height, width)
    short_factor = min(target_height, target_width) / min(height, width)
    factor = min(long_factor, short_factor)
    # max(1, ...) only guards extreme aspect ratios, where the original would produce an empty image.
    return max(1, int(height * factor + 0.5)), max(1, int(width * factor + 0.5))


def to_rgb_uint8(image: ImageLike) -> np.ndarray:
    """Convert one image to an (height, width, 3) uint8 RGB array, the form the original reads images in.

    Accepted: PIL images of any common mode (grayscale, palette, RGBA, CMYK, 16-bit "I;16"/"I", ...);
    NumPy arrays (height, width), (height, width, C) or (C, height, width) with C in 1, 3, 4; torch tensors
    (C, height, width) (torchvision's layout), (height, width, C) or (height, width). Gray is replicated to
    three channels; alpha is dropped, as OpenCV's ``imread`` does in the original. Values: uint8 as they
    are; uint16 scaled to 8 bit (``round(v / 257)``, so 65535 -> 255); floats must lie in [0, 1] and are
    scaled by 255; other integer types must already lie in 0-255.

    Raises:
        TypeError: for anything that is not an image (a path, a list, None ...).
        ValueError: for an empty image, an unsupported shape or values outside the documented ranges.
    """
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image)
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()  # bfloat16/float16 have no (or a lossy) NumPy counterpart
        if tensor.ndim == 3 and tensor.shape[0] in _CHANNEL_COUNTS:
            tensor = tensor.permute(1, 2, 0)
        return _array_to_rgb(tensor.numpy())
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[-1] not in _CHANNEL_COUNTS and image.shape[0] in _CHANNEL_COUNTS:
            image = np.moveaxis(image, 0, -1)
        return _array_to_rgb(image)
    raise TypeError(
        f"Expected an image (PIL.Image.Image, numpy array or torch tensor), got {type(image).__name__}. "
        "Open image files first, e.g. PIL.Image.open(path)."
    )


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
        return np.round(np.clip(array, 0, 65535) / 257.0).astype(np.uint8)
    if array.min() < 0 or array.max() > 255:
        raise ValueError(
            f"Integer images of dtype {array.dtype} must hold 8-bit values 0-255, got [{array.min()}, {array.max()}]. "
            "Pass 16-bit images as uint16 so that they are scaled."
        )
    return array.astype(np.uint8)


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


def _resize_labels(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest resize with OpenCV's (and the original's) rule: source index = floor(target index * in / out)."""
    in_height, in_width = labels.shape
    if (in_height, in_width) == (height, width):
        return labels
    rows = np.minimum(np.floor(np.arange(height) * (in_height / height)).astype(np.int64), in_height - 1)
    cols = np.minimum(np.floor(np.arange(width) * (in_width / width)).astype(np.int64), in_width - 1)
    return labels[rows[:, None], cols[None, :]]


def _reduce_labels(labels: np.ndarray, ignore_index: int) -> np.ndarray:
    """mmseg's ``reduce_zero_label``: 0 (unlabelled) becomes ignored, every other class moves down by one."""
    labels = labels.copy()
    labels[labels == 0] = ignore_index
    labels = labels - 1
    labels[labels == ignore_index - 1] = ignore_index
    return labels


def _size_tuple(size: dict[str, int] | Sequence[int] | int) -> tuple[int, int]:
    if isinstance(size, dict):
        if set(size) != {"height", "width"}:
            raise ValueError(f"size must have the keys 'height' and 'width', got {sorted(size)}.")
        height, width = size["height"], size["width"]
    elif isinstance(size, int):
        height = width = size
    elif isinstance(size, Sequence) and len(size) == 2:
        height, width = size
    else:
        raise ValueError(f"size must be {{'height': h, 'width': w}}, (h, w) or an int, got {size!r}.")
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"size must be positive, got height {height} and width {width}.")
    return int(height), int(width)


def _three_floats(name: str, value: float | Sequence[float]) -> list[float]:
    values = [float(value)] * 3 if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) != 3:
        raise ValueError(f"{name} needs one value per RGB channel (3), got {len(values)}: {value!r}.")
    return values


class DabnetImageProcessor(BaseImageProcessor):
    r"""
    Turns images into DABNet inputs the way the original tests, and logits into label maps at image size.

    Pipeline per image: convert to 8-bit RGB (:func:`to_rgb_uint8`) -> resize to the test size (keeping the
    ratio with mmseg's rule when `keep_ratio`, :func:`get_resize_output_size`) -> normalise
    ``(pixel - mean) / std`` on the 0-255 scale -> channels first. A batch whose images end up with different
    sizes is padded bottom/right with 0 *after* normalisation (the mean colour; the original pads its
    training crops the same way) to the largest height and width; ``original_sizes`` and ``reshaped_input_sizes`` record, per image, the size it
    came in with and the size it had before padding, so that
    :meth:`post_process_semantic_segmentation` can crop the padding away and restore the original size.

    Resizing uses PIL. With bilinear resampling it agrees with OpenCV (which the original uses) up to
    rounding when enlarging; when shrinking PIL filters out aliasing, OpenCV does not. The original's
    protocols shrink rarely (Cityscapes images are already 2048x1024; CamVid and COCO-Stuff are mostly
    enlarged).

    Args:
        do_resize (`bool`, *optional*, defaults to `True`):
            Whether to resize images to `size`.
        size (`dict[str, int]`, *optional*, defaults to `{"height": 1024, "width": 2048}`):
            The test size; `(height, width)` or an int (square) are accepted too.
        keep_ratio (`bool`, *optional*, defaults to `True`):
            Whether the resize keeps the aspect ratio: the image then fits inside `size` whatever its
            orientation (long side against the long target, short against the short). The original keeps it
            for Cityscapes and resizes exactly for CamVid and COCO-Stuff.
        resample (`int`, *optional*, defaults to `PIL.Image.Resampling.BILINEAR`):
            PIL resampling filter for images. Label maps always use nearest.
        do_normalize (`bool`, *optional*, defaults to `True`):
            Whether to normalise with `image_mean` and `image_std`.
        image_mean (`list[float]`, *optional*, defaults to `[123.675, 116.28, 103.53]`):
            Per-channel RGB mean on the 0-255 scale (no rescaling to 0-1 happens, as in the original).
        image_std (`list[float]`, *optional*, defaults to `[58.395, 57.12, 57.375]`):
            Per-channel RGB standard deviation on the 0-255 scale.
        do_reduce_labels (`bool`, *optional*, defaults to `False`):
            Whether label maps have 0 = unlabelled and all other classes shifted up by one (mmseg's
            `reduce_zero_label`, used for COCO-Stuff-10k): 0 becomes `ignore_index`, the rest move down by one.
        ignore_index (`int`, *optional*, defaults to 255):
            Label of ignored pixels; `labels` are padded with it.

    Example:

    ```python
    >>> import numpy as np
    >>> from dabnet_zoo.image_processing_dabnet import DabnetImageProcessor
    >>> processor = DabnetImageProcessor(size={"height": 768, "width": 960}, keep_ratio=False)
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
        keep_ratio: bool = True,
        resample: int = Image.Resampling.BILINEAR,
        do_normalize: bool = True,
        image_mean: float | Sequence[float] | None = None,
        image_std: float | Sequence[float] | None = None,
        do_reduce_labels: bool = False,
        ignore_index: int = 255,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("image_processor_type", None)  # written by save_pretrained; the class name, not a setting
        super().__init__(**kwargs)
        height, width = _size_tuple(_CITYSCAPES_TEST_SIZE if size is None else size)
        self.do_resize = bool(do_resize)
        self.size = {"height": height, "width": width}
        self.keep_ratio = bool(keep_ratio)
        self.resample = int(Image.Resampling(resample))
        self.do_normalize = bool(do_normalize)
        self.image_mean = _three_floats("image_mean", _IMAGENET_MEAN if image_mean is None else image_mean)
        self.image_std = _three_floats("image_std", _IMAGENET_STD if image_std is None else image_std)
        if any(s <= 0 for s in self.image_std):
            raise ValueError(f"image_std must be positive, got {self.image_std}.")
        self.do_reduce_labels = bool(do_reduce_labels)
        self.ignore_index = int(ignore_index)

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
        **kwargs: Any,
    ) -> BatchFeature:
        """Prepare one image or a batch (a list, or a 4-D array/tensor) for the model.

        Args:
            images: PIL images, NumPy arrays or torch tensors (see :func:`to_rgb_uint8` for what each may hold).
            segmentation_maps: optional label maps (class indices), one per image and of the same size; they
                are resized with nearest and returned as ``labels``.
            return_tensors: ``"pt"`` for torch tensors, ``"np"`` or None for NumPy arrays.
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
                rgb_images.append(to_rgb_uint8(image))
            except (TypeError, ValueError) as error:
                where = f"Image {index} of {len(image_list)}: " if len(image_list) > 1 else ""
                raise type(error)(f"{where}{error}") from None

        original_sizes = [image.shape[:2] for image in rgb_images]
        input_sizes = [settings.input_size(h, w) for h, w in original_sizes]
        pixel_values = [
            settings._normalize(_resize_rgb(image, h, w, settings.resample))
            for image, (h, w) in zip(rgb_images, input_sizes)
        ]
        data: dict[str, Any] = {
            "pixel_values": _pad_stack(pixel_values, 0.0, np.float32),
            "original_sizes": np.array(original_sizes, dtype=np.int64),
            "reshaped_input_sizes": np.array(input_sizes, dtype=np.int64),
        }
        if segmentation_maps is not None:
            data["labels"] = settings._prepare_labels(segmentation_maps, original_sizes, input_sizes)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def post_process_semantic_segmentation(
        self,
        outputs: Any,
        target_sizes: Sequence[Sequence[int]] | torch.Tensor | None = None,
        reshaped_input_sizes: Sequence[Sequence[int]] | torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Label maps from the model's logits, with the original's two-resize protocol (spec §5.3).

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
                the original image sizes and all images of the batch were processed together.

        Returns:
            One int64 tensor (height, width) per image, on the logits' device.

        Raises:
            ValueError: when the number of target or input sizes differs from the batch size.
        """
        logits = outputs if isinstance(outputs, torch.Tensor) else outputs.logits
        if logits.ndim != 4:
            raise ValueError(f"Expected logits of shape (batch, classes, height, width), got {tuple(logits.shape)}.")
        batch = logits.shape[0]
        targets = _size_list(target_sizes, batch, "target_sizes")
        inputs = _size_list(reshaped_input_sizes, batch, "reshaped_input_sizes")
        if inputs is None and targets is not None:
            inputs = [self.input_size(h, w) for h, w in targets]
        padded = (max(h for h, _ in inputs), max(w for _, w in inputs)) if inputs else None
        label_maps = []
        for index in range(batch):
            scores = logits[index : index + 1].float()
            if inputs is not None:
                height, width = inputs[index]
                scores = F.interpolate(scores, size=padded, mode="bilinear", align_corners=False)[..., :height, :width]
                if targets is not None and targets[index] != (height, width):
                    scores = F.interpolate(scores, size=targets[index], mode="bilinear", align_corners=False)
            label_maps.append(scores.argmax(dim=1)[0])
        return label_maps

    # -- helpers -------------------------------------------------------------------------------------------

    def _call_settings(self, overrides: dict[str, Any]) -> DabnetImageProcessor:
        """This processor, or a copy with per-call overrides (validated like constructor arguments)."""
        unknown = sorted(set(overrides) - set(_SETTINGS))
        if unknown:
            raise TypeError(f"Unknown argument(s) {unknown} for DabnetImageProcessor; valid: {', '.join(_SETTINGS)}.")
        overrides = {key: value for key, value in overrides.items() if value is not None}
        if not overrides:
            return self
        return type(self)(**{**{key: getattr(self, key) for key in _SETTINGS}, **overrides})

    def _normalize(self, image: np.ndarray) -> np.ndarray:
        pixels = image.astype(np.float32)
        if self.do_normalize:
            pixels = (pixels - np.asarray(self.image_mean, np.float32)) / np.asarray(self.image_std, np.float32)
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))

    def _prepare_labels(
        self, segmentation_maps: Any, original_sizes: list[tuple[int, int]], input_sizes: list[tuple[int, int]]
    ) -> np.ndarray:
        maps = _as_list(segmentation_maps, "segmentation_maps")
        if len(maps) != len(original_sizes):
            raise ValueError(f"Got {len(maps)} segmentation maps for {len(original_sizes)} images; pass one per image.")
        labels = []
        for index, (segmentation_map, original, (height, width)) in enumerate(zip(maps, original_sizes, input_sizes)):
            label = _to_label_array(segmentation_map)
            if label.shape != tuple(original):
                raise ValueError(
                    f"Segmentation map {index} has size {label.shape} but its image has {tuple(original)}; "
                    "label maps must match their images pixel for pixel."
                )
            if self.do_reduce_labels:
                label = _reduce_labels(label, self.ignore_index)
            labels.append(_resize_labels(label, height, width))
        return _pad_stack(labels, self.ignore_index, np.int64)


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


def _resize_rgb(image: np.ndarray, height: int, width: int, resample: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), resample=Image.Resampling(resample)))


def _pad_stack(arrays: list[np.ndarray], value: float, dtype: type) -> np.ndarray:
    """Stack arrays (..., h, w) into one batch, padding each at the bottom/right to the largest h and w."""
    height = max(a.shape[-2] for a in arrays)
    width = max(a.shape[-1] for a in arrays)
    batch = np.full((len(arrays), *arrays[0].shape[:-2], height, width), value, dtype=dtype)
    for out, array in zip(batch, arrays):
        out[..., : array.shape[-2], : array.shape[-1]] = array
    return batch


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

__all__ = ["DabnetImageProcessor", "DabnetImageProcessorKwargs", "get_resize_output_size", "to_rgb_uint8"]
