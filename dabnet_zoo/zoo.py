"""Build models by name: the one construction path that the CLI, hubconf, the converter and the recipes use."""

from __future__ import annotations

import logging
import os
from typing import Any

from .configuration_dabnet import DabnetConfig
from .image_processing_dabnet import DabnetImageProcessor
from .errors import DabnetZooError, UnknownModelError, unknown_name_message
from .modeling_dabnet import DabnetForSemanticSegmentation
from .presets import IMAGENET_MEAN, IMAGENET_STD, get_dataset_preset
from .registry import VARIANTS, split_model_name

logger = logging.getLogger(__name__)


def create_config(name: str, dataset: str | None = None, **overrides: Any) -> DabnetConfig:
    """The configuration of a named variant for a dataset preset.

    Args:
        name: a variant (``"dabnet_r18_p8"``) or variant.dataset (``"dabnet_r18_p8.camvid"``).
        dataset: ``cityscapes`` (default), ``camvid``, ``coco_stuff10k`` or ``coco_stuff164k``; sets the class
            count and names.
        **overrides: any :class:`DabnetConfig` field, applied last.
    """
    variant, dataset = split_model_name(name, dataset)
    preset = get_dataset_preset(dataset)
    kwargs: dict[str, Any] = {
        "context_path": variant.context_path,
        "patch_size": variant.patch_size,
        "id2label": preset.id2label,
        "label2id": {label: i for i, label in preset.id2label.items()},
        "semantic_loss_ignore_index": preset.ignore_index,
        "image_mean": IMAGENET_MEAN,
        "image_std": IMAGENET_STD,
    }
    if "num_labels" in overrides:  # a custom class count replaces the preset's names
        kwargs.pop("id2label")
        kwargs.pop("label2id")
    kwargs.update(overrides)
    return DabnetConfig(**kwargs)


def create_model(
    name: str, dataset: str | None = None, pretrained: bool = False, **overrides: Any
) -> DabnetForSemanticSegmentation:
    """Build a named DABNet variant, e.g. ``create_model("dabnet_r18_p8", dataset="cityscapes")``.

    Args:
        name: one of :func:`dabnet_zoo.list_models` (optionally with ``.dataset``); an unknown name raises
            :class:`UnknownModelError` listing the known ones.
        dataset: dataset preset (class count and names); defaults to Cityscapes.
        pretrained: load trained weights. No trained DABNet weights are published on the Hub yet, so this
            raises an error that says how to convert the original project's checkpoint instead.
        **overrides: :class:`DabnetConfig` fields, e.g. ``num_labels=5`` for a new dataset.

    Returns:
        The model in training mode with randomly initialised weights (call ``.eval()`` for inference).
    """
    variant, dataset = split_model_name(name, dataset)
    if pretrained:
        raise DabnetZooError(
            f"No trained weights are published for {variant.name}.{dataset}. Download the original project's "
            f"checkpoint and convert it: dabnet-zoo convert ORIGINAL.pth OUT_DIR --variant {variant.name} "
            f"--dataset {dataset}; then load OUT_DIR with DabnetForSemanticSegmentation.from_pretrained(OUT_DIR)."
        )
    return DabnetForSemanticSegmentation(create_config(variant.name, dataset, **overrides))


def create_processor(dataset: str, **overrides: Any) -> DabnetImageProcessor:
    """The image processor that reproduces the original's test pipeline for a dataset preset.

    Cityscapes: 1024x2048 keeping the ratio; CamVid: exactly 768x960; COCO-Stuff: exactly 640x640 (spec §9);
    ImageNet mean/std on the 0-255 scale; COCO-Stuff-10k label maps with ``reduce_zero_label``.

    Args:
        dataset: ``cityscapes``, ``camvid``, ``coco_stuff10k`` or ``coco_stuff164k``; an unknown name raises
            an error listing the known ones.
        **overrides: any :class:`DabnetImageProcessor` argument, e.g. ``size={"height": 512, "width": 1024}``
            for faster inference at a lower resolution.
    """
    preset = get_dataset_preset(dataset)
    height, width = preset.test_size
    kwargs: dict[str, Any] = {
        "size": {"height": height, "width": width},
        "keep_ratio": preset.test_keep_ratio,
        "image_mean": IMAGENET_MEAN,
        "image_std": IMAGENET_STD,
        "do_reduce_labels": preset.reduce_zero_label,
        "ignore_index": preset.ignore_index,
    }
    kwargs.update(overrides)
    return DabnetImageProcessor(**kwargs)


def load_model(name_or_path: str | os.PathLike, dataset: str | None = None) -> DabnetForSemanticSegmentation:
    """A model from a zoo name (random weights), a ``save_pretrained`` folder or a Hub repo id, in eval mode."""
    name = str(name_or_path)
    if os.path.isdir(name):
        return DabnetForSemanticSegmentation.from_pretrained(name).eval()
    if name.partition(".")[0] in VARIANTS:
        logger.warning("%s is built with random weights (none are published); pass a converted folder for real "
                       "predictions (see `dabnet-zoo convert`).", name)
        return create_model(name, dataset).eval()
    if "/" not in name:
        raise UnknownModelError(
            unknown_name_message("model", name, VARIANTS) + " A local folder or a Hub repo id (ORG/NAME) also works."
        )
    return DabnetForSemanticSegmentation.from_pretrained(name).eval()


__all__ = ["create_config", "create_model", "create_processor", "load_model"]
