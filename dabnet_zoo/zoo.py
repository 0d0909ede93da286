"""Build models by name: the one construction path that the CLI, hubconf, the converter and the recipes use."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from .configuration_dabnet import DabnetConfig
from .image_processing_dabnet import DabnetImageProcessor
from .errors import CheckpointError, WeightsDownloadError
from .modeling_dabnet import DabnetForSemanticSegmentation
from .presets import get_dataset_preset
from .registry import ModelRef, resolve_model, split_model_name

logger = logging.getLogger(__name__)
_random_weights_noted = False  # the random-weights notice is given once per process, not once per model


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
    config = create_config(variant.name, dataset, **overrides)  # a misspelt override fails before any download
    state_dict = None
    if pretrained:  # fetch (or fail) before building anything
        from .weights import load_state_dict

        state_dict = load_state_dict(variant.name, dataset)
    model = DabnetForSemanticSegmentation(config)
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

    Cityscapes: 1024x2048 keeping the ratio; CamVid: exactly 768x960; COCO-Stuff: exactly 640x640
    (docs/architecture.md §7.1); ImageNet mean/std on the 0-255 scale; COCO-Stuff-10k label maps with
    ``reduce_zero_label``.

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


def saved_processor(name_or_path: str | os.PathLike | ModelRef) -> DabnetImageProcessor | None:
    """The image processor saved beside a folder's or Hub repo's weights (``preprocessor_config.json``): the test
    protocol the model was trained and published with, which ``predict`` and ``recipes/evaluate.py`` follow unless
    told otherwise. None for a zoo name (its dataset preset is the protocol) and where none was saved."""
    ref = resolve_model(name_or_path)
    if ref.is_zoo_name:
        return None
    try:
        return DabnetImageProcessor.from_pretrained(ref.location)
    except (OSError, ValueError) as error:
        logger.info("No image processor saved with %s (%s); using the dataset's protocol.", ref, error)
        return None


def model_processor(
    ref: ModelRef | None, model: DabnetForSemanticSegmentation, dataset: str | None, use_saved: bool = True
) -> DabnetImageProcessor:
    """The processor that defines a model's test protocol, for everything that feeds it images (predict, the
    evaluation recipe, INT8 calibration, accuracy checks): with ``use_saved``, the one saved beside its weights
    (:func:`saved_processor`); else the dataset preset's, with the normalisation the model's config records; else
    (no dataset) no resize."""
    if use_saved and ref is not None and (saved := saved_processor(ref)) is not None:
        logger.info("Test protocol of %s: the preprocessor_config.json saved beside its weights.", ref)
        return saved
    mean_std = {"image_mean": model.config.image_mean, "image_std": model.config.image_std}
    if dataset is not None:
        return create_processor(dataset, **mean_std)
    logger.warning("The model's classes match no dataset preset; images are segmented at their own size.")
    return DabnetImageProcessor(do_resize=False, **mean_std)


def with_size(processor: DabnetImageProcessor, size: tuple[int, int]) -> DabnetImageProcessor:
    """A copy of ``processor`` that resizes to ``size`` (height, width), keeping its ratio rule: how a size the
    user asks for (``predict --size``, ``evaluate.py --test-size``) replaces the protocol's."""
    return type(processor).from_dict(
        {**processor.to_dict(), "do_resize": True, "size": {"height": size[0], "width": size[1]}}
    )


def load_model(
    name_or_path: str | os.PathLike | ModelRef, dataset: str | None = None
) -> DabnetForSemanticSegmentation:
    """A model from a zoo name, a ``save_pretrained`` folder or a Hub repo id, in eval mode: the one loading path
    of the CLI, ``predict`` and the evaluation recipe.

    ``name_or_path`` is resolved by :func:`dabnet_zoo.registry.resolve_model` (a mistyped path fails at once as
    "no such folder"). A zoo name loads its published weights (``create_model(pretrained=True)``); where none
    are published it builds the architecture with random weights and says so (once per process). A folder or
    repo id must hold every tensor the model needs: unlike ``from_pretrained``, which initialises what is missing
    (useful to fine-tune from a partial checkpoint), this refuses, since such a model predicts nonsense.

    Raises:
        CheckpointError: missing or mis-shaped tensors (named), or unreadable weights.
        WeightsDownloadError: a Hub repo id that cannot be fetched (offline, no network, no such repo).
    """
    global _random_weights_noted

    ref = resolve_model(name_or_path, dataset)
    if ref.source == "zoo":
        return create_model(ref.variant, ref.dataset, pretrained=True).eval()
    if ref.source == "random":
        if not _random_weights_noted:
            logger.warning("%s (and any other zoo name in this run) is built with random weights: none are "
                           "published yet. Pass a converted folder for real predictions (see `dabnet-zoo convert`).",
                           ref.name)
            _random_weights_noted = True
        return create_model(ref.variant, ref.dataset).eval()
    from safetensors import SafetensorError

    try:
        with _quiet_loading():
            # Mismatched shapes are collected in the report rather than raised, so they are named below.
            model, info = DabnetForSemanticSegmentation.from_pretrained(
                ref.location, output_loading_info=True, ignore_mismatched_sizes=True
            )
    except OSError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if ref.source == "hub":
            raise WeightsDownloadError(f"Cannot load {ref.location} from the Hub: {first_line} Check the repo id "
                                       "and the network (offline, only the local cache is used), or pass an "
                                       "existing local folder.") from None
        raise CheckpointError(f"Cannot load {ref.location}: {first_line}") from None
    except SafetensorError as error:
        raise CheckpointError(f"The weights of {ref.location} are damaged ({error}); convert or download them "
                              "again.") from None
    _refuse_incomplete(ref.location, info)
    return model.eval()


def _refuse_incomplete(location: str, info: dict[str, Any]) -> None:
    """Raise, naming them, if the loading report of ``from_pretrained`` lists tensors that were not loaded."""
    missing = sorted(info["missing_keys"])
    mismatched = sorted(f"{key} {tuple(found)} vs {tuple(expected)}" for key, found, expected in
                        info["mismatched_keys"])
    problems = []
    for title, items in ((f"lacks {len(missing)} tensor(s) the model needs", missing),
                         (f"has {len(mismatched)} tensor(s) of the wrong shape (checkpoint vs config)", mismatched)):
        if items:
            problems.append(f"{title}: {', '.join(items[:6])}" + (f" and {len(items) - 6} more" if len(items) > 6
                                                                   else ""))
    if problems:
        raise CheckpointError(
            f"{location} " + "; ".join(problems) + ". The model would predict from uninitialised weights: convert "
            "or save the full model again (to fine-tune from partial weights, call from_pretrained directly)."
        )


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Silence transformers' progress bar and loading table and huggingface_hub's retry messages for one load:
    :func:`load_model` reports every problem itself, in one line."""
    from transformers.utils import logging as transformers_logging

    hub_logger = logging.getLogger("huggingface_hub")
    verbosity, hub_level = transformers_logging.get_verbosity(), hub_logger.level
    bar = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    hub_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        hub_logger.setLevel(hub_level)
        if bar:
            transformers_logging.enable_progress_bar()


__all__ = ["create_config", "create_model", "create_processor", "load_model", "model_processor", "saved_processor",
           "with_size"]
