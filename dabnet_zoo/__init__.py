"""dabnet-zoo: DABNet real-time semantic segmentation, faithful to the original and easy to use.

Importing the package is light: the registry, the presets and the errors are plain Python, and everything
that needs torch, timm or transformers (the model, the image processor, the zoo functions) is imported on
first use through the module-level ``__getattr__`` below, as transformers does. So ``dabnet-zoo models`` and
``import dabnet_zoo.registry`` never import torch.

The Auto classes still know DABNet after a plain ``import dabnet_zoo``: see :mod:`dabnet_zoo.auto_registration`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import auto_registration
from .errors import CheckpointError, DabnetZooError, InputError, OutputExistsError, UnknownModelError
from .presets import DATASETS, DatasetPreset, get_dataset_preset
from .registry import VARIANTS, WEIGHTS, Variant, WeightsEntry, get_variant, get_weights, list_models, list_weights
from .errors import WeightsDownloadError, WeightsIntegrityError, WeightsNotPublishedError

__version__ = "0.1.0"

# Names whose modules import torch/transformers, by module: imported when first asked for.
_LAZY: dict[str, tuple[str, ...]] = {
    "configuration_dabnet": ("DabnetConfig",),
    "image_processing_dabnet": ("DabnetImageProcessor",),
    "metrics": ("ConfusionMatrixMeter", "mean_iou"),
    "modeling_dabnet": (
        "DabnetForSemanticSegmentation",
        "DabnetModel",
        "DabnetModelOutput",
        "DabnetPreTrainedModel",
        "DabnetSemanticSegmenterOutput",
        "valid_input_size",
    ),
    "zoo": ("create_config", "create_model", "create_processor", "load_model"),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .configuration_dabnet import DabnetConfig
    from .image_processing_dabnet import DabnetImageProcessor
    from .metrics import ConfusionMatrixMeter, mean_iou
    from .modeling_dabnet import (
        DabnetForSemanticSegmentation,
        DabnetModel,
        DabnetModelOutput,
        DabnetPreTrainedModel,
        DabnetSemanticSegmenterOutput,
        valid_input_size,
    )
    from .zoo import create_config, create_model, create_processor, load_model


def __getattr__(name: str) -> Any:
    module_name = _LAZY_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    auto_registration.register_auto_classes()  # torch and transformers are loaded now: registering is cheap
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))


auto_registration.install()

__all__ = [
    "CheckpointError",
    "ConfusionMatrixMeter",
    "DATASETS",
    "DabnetConfig",
    "DabnetForSemanticSegmentation",
    "DabnetImageProcessor",
    "DabnetModel",
    "DabnetModelOutput",
    "DabnetPreTrainedModel",
    "DabnetSemanticSegmenterOutput",
    "DabnetZooError",
    "DatasetPreset",
    "InputError",
    "OutputExistsError",
    "UnknownModelError",
    "VARIANTS",
    "Variant",
    "WEIGHTS",
    "WeightsDownloadError",
    "WeightsEntry",
    "WeightsIntegrityError",
    "WeightsNotPublishedError",
    "__version__",
    "create_config",
    "create_model",
    "get_dataset_preset",
    "get_variant",
    "get_weights",
    "list_models",
    "list_weights",
    "load_model",
    "mean_iou",
    "create_processor",
    "valid_input_size",
]
