"""dabnet-zoo: DABNet real-time semantic segmentation, faithful to the original and easy to use.

Importing the package is light: the registry, the presets and the errors are plain Python, and everything
that needs torch, timm or transformers (the model, the image processor, the zoo functions) is imported on
first use through the module-level ``__getattr__`` below, as transformers does. So ``dabnet-zoo models`` and
``import dabnet_zoo.registry`` never import torch.

The Auto classes still know DABNet after a plain ``import dabnet_zoo``: see :mod:`dabnet_zoo.auto_registration`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import auto_registration
from .errors import (
    CheckpointError,
    DabnetZooError,
    InputError,
    OutputExistsError,
    UnknownModelError,
    WeightsDownloadError,
    WeightsIntegrityError,
    WeightsNotPublishedError,
)
from .lazy import lazy_exports
from .presets import DATASETS, DatasetPreset, get_dataset_preset
from .registry import VARIANTS, WEIGHTS, Variant, WeightsEntry, get_variant, get_weights, list_models, list_weights

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


# torch and transformers are loaded once a lazy name is: registering the Auto classes is cheap then.
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, on_import=auto_registration.register_auto_classes)

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
