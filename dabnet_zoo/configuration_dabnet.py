"""DABNet model configuration.

This module imports nothing from the rest of the package, so it can travel to the Hub as remote code
beside ``modeling_dabnet.py``.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

# Context paths the model knows, with the channel defaults of the original for each: the spatial path
# widths (sp_0, sp_1, sp_2 outputs) and the width of the "low" branch of each stage's SIM (spec §3.4, §3.7).
CONTEXT_PATH_DEFAULTS: dict[str, dict[str, tuple[int, ...]]] = {
    "resnet18_v1c": {"spatial_channels": (64, 64, 128), "sim_channels": (32, 64, 64, 64)},
    "efficientnet_b1": {"spatial_channels": (24, 64, 128), "sim_channels": (24, 32, 32, 32)},
}
PATCH_SIZES: tuple[int, ...] = (1, 2, 4, 8, 16)
# The original's ImageNet statistics on the 0-255 scale (spec §2).
_IMAGENET_MEAN = (123.675, 116.28, 103.53)
_IMAGENET_STD = (58.395, 57.12, 57.375)
_DEFAULT_NUM_LABELS = 19  # Cityscapes, the dataset every DABNet variant was trained on


@strict
class DabnetConfig(PreTrainedConfig):
    r"""
    Configuration of a DABNet (Densely Aggregated Bilateral Network) semantic-segmentation model.

    The defaults build DABNet-R with patch size 2 for Cityscapes (19 classes), the original project's main
    model. The named variants (``dabnet_r18_p1`` ... ``dabnet_effb1``) differ only in ``context_path`` and
    ``patch_size``; build them with :func:`dabnet_zoo.create_model` rather than by hand.

    Args:
        context_path (`str`, *optional*, defaults to `"resnet18_v1c"`):
            The ImageNet CNN whose four stages (strides 4, 8, 16, 32) feed the SIMs and the aggregation:
            `"resnet18_v1c"` (ResNet-18 with the 32-32-64 deep stem, built by timm) or `"efficientnet_b1"`
            (timm's EfficientNet-B1, DABNet-E).
        patch_size (`int`, *optional*, defaults to 2):
            Patch size P of every SIM (the paper's patch-based channel/spatial embedding): one of 1, 2, 4, 8, 16.
            The low branch of each SIM sees the stage at 1/P resolution; the first low-branch convolution has
            P² times the stage's channels as input, which is why P16 has 152 M parameters. Input sizes that
            the original accepts depend on P (see `DabnetForSemanticSegmentation`).
        num_labels (`int`, *optional*, defaults to 19):
            Number of classes. Ignored when `id2label` is given.
        id2label (`dict[int, str]`, *optional*):
            Class names by index; `label2id` is its inverse.
        num_channels (`int`, *optional*, defaults to 3):
            Channels of the input image (RGB).
        spatial_channels (`tuple[int, int, int]`, *optional*):
            Output widths of the three convolutions of the context-guided spatial path (`sp_0`, `sp_1`,
            `sp_2`). Defaults to the original's: (64, 64, 128) for ResNet-18, (24, 64, 128) for EfficientNet-B1.
            The last one must equal `context_channels`: the feature fusion sees both halves at that width.
        sim_channels (`tuple[int, int, int, int]`, *optional*):
            Width of the low/high interaction branches of the SIM on each of the four stages. Defaults to the
            original's: (32, 64, 64, 64) for ResNet-18, (24, 32, 32, 32) for EfficientNet-B1.
        context_channels (`int`, *optional*, defaults to 128):
            Output width of the two attention refinement modules and the two context heads (`arm16`, `arm32`,
            `conv_head16`, `conv_head32`).
        fusion_channels (`int`, *optional*, defaults to 256):
            Output width of the feature fusion module, the input of the decode head.
        decode_head_channels (`int`, *optional*, defaults to 256):
            Width of the decode head's 3x3 convolution before its classifier.
        auxiliary_head_channels (`int`, *optional*, defaults to 64):
            Width of the two auxiliary heads' 3x3 convolutions.
        classifier_dropout_prob (`float`, *optional*, defaults to 0.1):
            `Dropout2d` probability before every classifier (decode and auxiliary heads), in training only.
        auxiliary_loss_weights (`tuple[float, float]`, *optional*, defaults to `(0.4, 0.4)`):
            Weights of the two auxiliary heads' losses; the decode head's weight is 1.
        semantic_loss_ignore_index (`int`, *optional*, defaults to 255):
            Label value that the loss ignores.
        image_mean (`tuple[float, float, float]`, *optional*, defaults to `(123.675, 116.28, 103.53)`):
            Per-channel RGB mean on the 0-255 scale that inputs are normalised with. The model never applies it;
            it is stored so that a saved model says how its inputs must be prepared.
        image_std (`tuple[float, float, float]`, *optional*, defaults to `(58.395, 57.12, 57.375)`):
            Per-channel RGB standard deviation on the 0-255 scale, as `image_mean`.

    Raises:
        ValueError: for an unknown `context_path`, a `patch_size` outside 1, 2, 4, 8, 16, fewer than one label,
            or channel tuples of the wrong length; the message lists the valid choices.

    Example:

    ```python
    >>> from dabnet_zoo import DabnetConfig, DabnetForSemanticSegmentation
    >>> config = DabnetConfig(context_path="resnet18_v1c", patch_size=8, num_labels=19)
    >>> model = DabnetForSemanticSegmentation(config)
    ```"""

    model_type = "dabnet"

    context_path: str = "resnet18_v1c"
    patch_size: int = 2
    num_channels: int = 3
    spatial_channels: list[int] | tuple[int, ...] | None = None
    sim_channels: list[int] | tuple[int, ...] | None = None
    context_channels: int = 128
    fusion_channels: int = 256
    decode_head_channels: int = 256
    auxiliary_head_channels: int = 64
    classifier_dropout_prob: float | int = 0.1
    auxiliary_loss_weights: list[float] | tuple[float, ...] = (0.4, 0.4)
    semantic_loss_ignore_index: int = 255
    image_mean: list[float] | tuple[float, ...] = _IMAGENET_MEAN
    image_std: list[float] | tuple[float, ...] = _IMAGENET_STD

    def __post_init__(self, **kwargs):
        if self.id2label is None and kwargs.get("num_labels") is None:
            kwargs["num_labels"] = _DEFAULT_NUM_LABELS
        if kwargs.get("num_labels") is not None and kwargs["num_labels"] < 1:
            raise ValueError(f"num_labels must be at least 1, got {kwargs['num_labels']}.")
        if self.context_path not in CONTEXT_PATH_DEFAULTS:
            raise ValueError(
                f"Unknown context_path {self.context_path!r}; valid choices: {', '.join(CONTEXT_PATH_DEFAULTS)}."
            )
        if self.patch_size not in PATCH_SIZES:
            raise ValueError(
                f"patch_size must be one of {', '.join(map(str, PATCH_SIZES))}; got {self.patch_size}."
            )
        defaults = CONTEXT_PATH_DEFAULTS[self.context_path]
        if self.spatial_channels is None:
            self.spatial_channels = defaults["spatial_channels"]
        if self.sim_channels is None:
            self.sim_channels = defaults["sim_channels"]
        # JSON round trips turn tuples into lists; keep one type so saved and fresh configs compare equal.
        for name in ("spatial_channels", "sim_channels", "auxiliary_loss_weights", "image_mean", "image_std"):
            setattr(self, name, tuple(getattr(self, name)))
        for name, length in (("spatial_channels", 3), ("sim_channels", 4), ("auxiliary_loss_weights", 2),
                             ("image_mean", self.num_channels), ("image_std", self.num_channels)):
            if len(getattr(self, name)) != length:
                raise ValueError(f"{name} must have {length} values, got {getattr(self, name)}.")
        if self.spatial_channels[-1] != self.context_channels:
            raise ValueError(
                f"spatial_channels[-1] ({self.spatial_channels[-1]}) must equal context_channels "
                f"({self.context_channels}): the feature fusion concatenates the two at the same width."
            )
        super().__post_init__(**kwargs)
        if self.label2id is None:
            self.label2id = {label: index for index, label in self.id2label.items()}
        if self.num_labels < 1:
            raise ValueError(f"num_labels must be at least 1, got {self.num_labels}.")


__all__ = ["DabnetConfig", "CONTEXT_PATH_DEFAULTS", "PATCH_SIZES"]
