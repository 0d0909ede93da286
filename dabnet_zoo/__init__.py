"""dabnet-zoo: DABNet real-time semantic segmentation, faithful to the original and easy to use."""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForSemanticSegmentation

from .configuration_dabnet import DabnetConfig
from .errors import CheckpointError, DabnetZooError, InputError, OutputExistsError, UnknownModelError
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
from .presets import DATASETS, DatasetPreset, get_dataset_preset
from .registry import VARIANTS, Variant, get_variant, list_models
from .registry import WEIGHTS, WeightsEntry, get_weights, list_weights
from .weights import WeightsDownloadError, WeightsIntegrityError, WeightsNotPublishedError
from .zoo import create_config, create_model, create_processor, load_model

__version__ = "0.1.0"

# Registering once makes AutoConfig / AutoModelForSemanticSegmentation.from_pretrained work on our folders.
AutoConfig.register(DabnetConfig.model_type, DabnetConfig, exist_ok=True)
AutoModel.register(DabnetConfig, DabnetModel, exist_ok=True)
AutoModelForSemanticSegmentation.register(DabnetConfig, DabnetForSemanticSegmentation, exist_ok=True)
AutoImageProcessor.register(DabnetConfig, image_processor_classes={"pil": DabnetImageProcessor}, exist_ok=True)

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
