"""Build models by name: the one construction path that the CLI, hubconf, the converter and the recipes use."""

from __future__ import annotations

import logging
import os
from typing import Any

from .configuration_dabnet import DabnetConfig
from .image_processing_dabnet import DabnetImageProcessor
from .errors import CheckpointError, UnknownModelError, unknown_name_message
from .modeling_dabnet import DabnetForSemanticSegmentation
from .presets import get_dataset_preset
from .registry import VARIANTS, get_weights, split_model_name

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
        "id2label": preset.id2label,  # the config derives label2id
        "semantic_loss_ignore_index": preset.ignore_index,
    }
    if "num_labels" in overrides:  # a custom class count replaces the preset's names
        kwargs.pop("id2label")
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
        pretrained: load the trained weights published on the Hub for this variant x dataset, at the revision
            and sha256 pinned in the registry (:mod:`dabnet_zoo.weights`). Where none are published (today:
            every model) or they cannot be fetched (offline, no network), this raises an error naming the Hub
            repo id and how to convert the original project's checkpoint instead; it never falls back to
            random weights. With ``num_labels`` overridden, every weight but the classifiers is loaded.
        **overrides: :class:`DabnetConfig` fields, e.g. ``num_labels=5`` for a new dataset.

    Returns:
        The model in training mode (call ``.eval()`` for inference), randomly initialised unless ``pretrained``.
    """
    variant, dataset = split_model_name(name, dataset)
    state_dict = None
    if pretrained:  # fetch (or fail) before building anything
        from .weights import load_state_dict

        state_dict = load_state_dict(variant.name, dataset)
    model = DabnetForSemanticSegmentation(create_config(variant.name, dataset, **overrides))
    if state_dict is not None:
        _load_pretrained(model, state_dict, f"{variant.name}.{dataset}")
    return model


def _load_pretrained(model: DabnetForSemanticSegmentation, state_dict: dict, name: str) -> None:
    """Load published weights strictly; only the classifiers may be left out, when ``num_labels`` was changed."""
    own = model.state_dict()
    skipped = [key for key in state_dict if ".classifier." in key and key in own
               and own[key].shape != state_dict[key].shape]
    try:
        result = model.load_state_dict({k: v for k, v in state_dict.items() if k not in skipped}, strict=False)
    except RuntimeError as error:  # shapes that do not fit, e.g. a patch_size override
        raise CheckpointError(
            f"The published weights of {name} do not fit the model as configured: {error}"
        ) from None
    missing = [key for key in result.missing_keys if key not in skipped]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"The published weights of {name} do not fit the model: missing {missing[:5]}, unexpected "
            f"{result.unexpected_keys[:5]}. Report this: the registry points at incompatible weights."
        )
    if skipped:
        logger.info("%s: classifiers re-initialised for %d classes (%s)", name, model.config.num_labels, skipped)


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
        "do_reduce_labels": preset.reduce_zero_label,
        "ignore_index": preset.ignore_index,
    }
    kwargs.update(overrides)
    return DabnetImageProcessor(**kwargs)


def load_model(name_or_path: str | os.PathLike, dataset: str | None = None) -> DabnetForSemanticSegmentation:
    """A model from a ``save_pretrained`` folder, a Hub repo id or a zoo name, in eval mode.

    A zoo name loads its published weights (see ``create_model(pretrained=True)``); where none are published,
    it builds the architecture with random weights and logs a warning saying so.
    """
    name = str(name_or_path)
    if os.path.isdir(name):
        return DabnetForSemanticSegmentation.from_pretrained(name).eval()
    if name.partition(".")[0] in VARIANTS:
        if get_weights(name, dataset).published:
            return create_model(name, dataset, pretrained=True).eval()
        logger.warning("%s is built with random weights (none are published); pass a converted folder for real "
                       "predictions (see `dabnet-zoo convert`).", name)
        return create_model(name, dataset).eval()
    if "/" not in name:
        raise UnknownModelError(
            unknown_name_message("model", name, VARIANTS) + " A local folder or a Hub repo id (ORG/NAME) also works."
        )
    return DabnetForSemanticSegmentation.from_pretrained(name).eval()


__all__ = ["create_config", "create_model", "create_processor", "load_model"]
