"""DABNet model configuration.

This module imports nothing from the rest of the package, so it can travel to the Hub as remote code
beside ``modeling_dabnet.py``.
"""

from __future__ import annotations  # string annotations: @strict then leaves checking to check_values()

import math
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

# Context paths the model knows, with the channel defaults of the original for each: the spatial path
# widths (sp_0, sp_1, sp_2 outputs) and the width of the "low" branch of each stage's SIM (see
# docs/architecture.md).
CONTEXT_PATH_DEFAULTS: dict[str, dict[str, tuple[int, ...]]] = {
    "resnet18_v1c": {"spatial_channels": (64, 64, 128), "sim_channels": (32, 64, 64, 64)},
    "efficientnet_b1": {"spatial_channels": (24, 64, 128), "sim_channels": (24, 32, 32, 32)},
}
PATCH_SIZES: tuple[int, ...] = (1, 2, 4, 8, 16)
# Bounds that keep a hostile or mistyped config.json from allocating gigabytes before anything fails: COCO-Stuff
# has 171 classes and the widest layer of the original 512 channels.
MAX_LABELS = 65536
MAX_CHANNELS = 4096
# The original's ImageNet statistics on the 0-255 scale.
_IMAGENET_MEAN = (123.675, 116.28, 103.53)
_IMAGENET_STD = (58.395, 57.12, 57.375)
_DEFAULT_NUM_LABELS = 19  # Cityscapes, the dataset every DABNet variant was trained on
# Keyword arguments that are not fields but that transformers passes when it builds or loads a config (its
# PreTrainedConfig.__post_init__ consumes them).
_TRANSFORMERS_KWARGS = frozenset({
    "model_type", "auto_map", "torch_dtype", "name_or_path", "_name_or_path", "_commit_hash", "output_attentions",
    "attn_implementation", "experts_implementation", "per_layer_config", "_attn_implementation",
    "_attn_implementation_internal", "_experts_implementation", "_experts_implementation_internal",
})
_TUPLE_FIELDS = ("spatial_channels", "sim_channels", "auxiliary_loss_weights", "image_mean", "image_std")


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
            Number of classes, 2 to 65536. Ignored when `id2label` is given. Binary segmentation uses 2 classes
            (background and foreground): the heads score every class and predictions are their argmax, so a
            single-channel sigmoid head (SegFormer's `num_labels=1`) is not supported.
        id2label (`dict[int, str]`, *optional*):
            Class names by index 0 .. num_labels - 1; `label2id` is its inverse.
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
            Label value that the loss ignores; it cannot be a class index.
        image_mean (`tuple[float, float, float]`, *optional*, defaults to `(123.675, 116.28, 103.53)`):
            Per-channel RGB mean on the 0-255 scale that inputs are normalised with. The model never applies it;
            it is stored so that a saved model says how its inputs must be prepared.
        image_std (`tuple[float, float, float]`, *optional*, defaults to `(58.395, 57.12, 57.375)`):
            Per-channel RGB standard deviation on the 0-255 scale, as `image_mean`; every value must be positive.

    The loss is the original's (mmseg 0.19), and it is not SegFormer's. Each head's cross-entropy, on its logits
    upsampled to the label size, is averaged over *all* pixels of the batch, ignored ones included: they add 0
    to the sum but count in the denominator. The decode head's loss (weight 1) and the two auxiliary heads'
    (`auxiliary_loss_weights`) are summed. `SegformerForSemanticSegmentation` has one head and averages over the
    labelled pixels only, so DABNet's decode term is SegFormer's loss times the fraction of labelled pixels:
    smaller where much is ignored (padded crops, Cityscapes' unlabelled regions), which the original's
    learning rates were tuned for. For SegFormer's average, compute the loss from `logits` yourself, e.g. with
    the Trainer's `compute_loss_func`.

    Raises:
        TypeError: for a keyword argument that is not a configuration field (e.g. `num_classes`), naming the
            accepted ones, or a value of the wrong type.
        ValueError: for a value out of range (an unknown `context_path`, a `patch_size` outside 1, 2, 4, 8, 16,
            fewer than two or more than 65536 labels, non-positive or huge channel counts, a zero image std,
            non-finite loss weights, tuples of the wrong length); the message names the valid values.
            Configs loaded from a file keep transformers' leniency for keys they do not know.

    Example:

    ```python
    >>> from dabnet_zoo import DabnetConfig, DabnetForSemanticSegmentation
    >>> config = DabnetConfig(context_path="resnet18_v1c", patch_size=8, num_labels=19)
    >>> model = DabnetForSemanticSegmentation(config)
    ```"""

    model_type = "dabnet"
    # What the Trainer leaves out of the predictions it gathers for compute_metrics.
    keys_to_ignore_at_inference = ["auxiliary_logits", "hidden_states"]

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
        unknown = sorted(set(kwargs) - _TRANSFORMERS_KWARGS - {"num_labels"})
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                f"it accepts {', '.join(self.argument_names())}."
            )
        # The label count first: transformers builds an id2label dict of that size.
        if kwargs.get("num_labels") is not None:
            _check_num_labels("num_labels", kwargs["num_labels"])
        elif self.id2label is None:
            kwargs["num_labels"] = _DEFAULT_NUM_LABELS
        else:
            _check_num_labels("len(id2label)", len(self.id2label))
        if self.context_path in CONTEXT_PATH_DEFAULTS:
            defaults = CONTEXT_PATH_DEFAULTS[self.context_path]
            if self.spatial_channels is None:
                self.spatial_channels = defaults["spatial_channels"]
            if self.sim_channels is None:
                self.sim_channels = defaults["sim_channels"]
        self._check_architecture()
        # JSON round trips turn tuples into lists; keep one type so saved and fresh configs compare equal.
        for name in _TUPLE_FIELDS:
            setattr(self, name, tuple(getattr(self, name)))
        super().__post_init__(**kwargs)
        if self.label2id is None:
            self.label2id = {label: index for index, label in self.id2label.items()}
        self._check_labels()

    @classmethod
    def argument_names(cls) -> list[str]:
        """The keyword arguments the constructor accepts: DABNet's fields first, then transformers' common ones."""
        own = [f.name for f in fields(cls) if f.name in cls.__annotations__]
        common = [f.name for f in fields(cls) if f.name not in own and f.name not in {"transformers_version"}]
        return own + ["num_labels"] + common

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs):
        """As transformers', but keys of a saved config that this version does not know (written by another
        version, or by hand) become plain attributes, as transformers' own configs treat them, instead of
        failing the strict constructor."""
        accepted = set(cls.argument_names()) | _TRANSFORMERS_KWARGS | {"transformers_version"}
        extra = {key: value for key, value in config_dict.items() if key not in accepted}
        result = super().from_dict({k: v for k, v in config_dict.items() if k not in extra}, **kwargs)
        config = result[0] if isinstance(result, tuple) else result
        for key, value in extra.items():
            setattr(config, key, value)
        return result

    def check_values(self) -> None:
        """Check every field (types, ranges, consistency), raising a one-line ``TypeError``/``ValueError``.

        The constructor runs it; the models run it again before they allocate anything, because attributes can
        change after construction (``from_pretrained(..., patch_size=8)`` sets them one by one).
        """
        self._check_architecture()
        _check_num_labels("num_labels", self.num_labels)
        self._check_labels()

    def _check_architecture(self) -> None:
        if self.context_path not in CONTEXT_PATH_DEFAULTS:
            raise ValueError(
                f"Unknown context_path {self.context_path!r}; valid choices: {', '.join(CONTEXT_PATH_DEFAULTS)}."
            )
        if isinstance(self.patch_size, bool) or self.patch_size not in PATCH_SIZES:
            raise ValueError(f"patch_size must be one of {', '.join(map(str, PATCH_SIZES))}; got {self.patch_size!r}.")
        _check_int("num_channels", self.num_channels, 1, MAX_CHANNELS)
        _check_ints("spatial_channels", self.spatial_channels, 3, 1, MAX_CHANNELS)
        _check_ints("sim_channels", self.sim_channels, 4, 1, MAX_CHANNELS)
        for name in ("context_channels", "fusion_channels", "decode_head_channels", "auxiliary_head_channels"):
            _check_int(name, getattr(self, name), 1, MAX_CHANNELS)
        if self.spatial_channels[-1] != self.context_channels:
            raise ValueError(
                f"spatial_channels[-1] ({self.spatial_channels[-1]}) must equal context_channels "
                f"({self.context_channels}): the feature fusion concatenates the two at the same width."
            )
        _check_real("classifier_dropout_prob", self.classifier_dropout_prob, 0.0, 1.0)
        _check_reals("auxiliary_loss_weights", self.auxiliary_loss_weights, 2, low=0.0)
        _check_reals("image_mean", self.image_mean, self.num_channels)
        _check_reals("image_std", self.image_std, self.num_channels)
        if min(self.image_std) <= 0:
            raise ValueError(f"image_std values must be positive (inputs are divided by them), got {self.image_std}.")

    def _check_labels(self) -> None:
        if sorted(self.id2label) != list(range(len(self.id2label))):
            raise ValueError(
                f"id2label keys must be the class indices 0 .. {len(self.id2label) - 1}, got "
                f"{sorted(self.id2label)[:5]}{' ...' if len(self.id2label) > 5 else ''}."
            )
        _check_int("semantic_loss_ignore_index", self.semantic_loss_ignore_index, -(2**63), 2**63 - 1)
        if 0 <= self.semantic_loss_ignore_index < self.num_labels:
            raise ValueError(
                f"semantic_loss_ignore_index {self.semantic_loss_ignore_index} is a class index (0 .. "
                f"{self.num_labels - 1}); use a value outside, e.g. 255 or -100."
            )


def _check_num_labels(name: str, value: Any) -> None:
    if value == 1 and not isinstance(value, bool):
        raise ValueError(
            f"{name} must be at least 2: DABNet predicts the argmax over classes, so binary segmentation uses "
            "num_labels=2 (background and foreground, labels 0 and 1) with its cross-entropy loss."
        )
    _check_int(name, value, 2, MAX_LABELS)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}.")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}.")


def _check_ints(name: str, values: Any, length: int, low: int, high: int) -> None:
    _check_sequence(name, values, length)
    for index, value in enumerate(values):
        _check_int(f"{name}[{index}]", value, low, high)


def _check_real(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}.")


def _check_reals(name: str, values: Any, length: int, low: float = -math.inf) -> None:
    _check_sequence(name, values, length)
    for index, value in enumerate(values):
        _check_real(f"{name}[{index}]", value, low)


def _check_sequence(name: str, values: Any, length: int) -> None:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a list or tuple of {length} values, got {type(values).__name__} {values!r}.")
    if len(values) != length:
        raise ValueError(f"{name} must have {length} values, got {tuple(values)}.")


# save_pretrained and push_to_hub then copy this module beside config.json and name it in auto_map, so the
# folder loads with trust_remote_code=True where dabnet-zoo is not installed.
DabnetConfig.register_for_auto_class()

__all__ = ["DabnetConfig", "CONTEXT_PATH_DEFAULTS", "MAX_CHANNELS", "MAX_LABELS", "PATCH_SIZES"]
