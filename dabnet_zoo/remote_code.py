"""Saved folders that load with ``trust_remote_code=True`` where dabnet-zoo is not installed.

``import dabnet_zoo`` registers the configuration, the models and the image processor with transformers' Auto
classes, which is the primary way to load our folders. For users who only have transformers, every folder also
carries the three self-contained modules (``configuration_dabnet.py``, ``modeling_dabnet.py``,
``image_processing_dabnet.py``: they import only each other and third-party packages) and an ``auto_map`` in
``config.json`` and ``preprocessor_config.json``; then::

    AutoModelForSemanticSegmentation.from_pretrained(folder_or_repo, trust_remote_code=True)
    AutoImageProcessor.from_pretrained(folder_or_repo, trust_remote_code=True)

work without dabnet-zoo. The remote model still needs ``timm`` installed (it builds the ResNet-18 and
EfficientNet-B1 context paths; transformers checks the import and names the missing package).

One mechanism writes them, transformers' own: each module registers its classes with ``register_for_auto_class``,
so ``save_pretrained`` and ``push_to_hub`` (of a model, a config or a processor, whoever calls them: the
converter, the recipes, a user's fine-tuning script) copy the modules and write ``auto_map``.
:func:`add_remote_code` runs the same steps on a folder saved without them (by an older dabnet-zoo, or staged
file by file by ``dabnet-zoo push``) without re-writing its weights.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from transformers.dynamic_module_utils import custom_object_save

from . import configuration_dabnet, image_processing_dabnet, modeling_dabnet
from .configuration_dabnet import DabnetConfig
from .errors import InputError
from .fileio import write_atomic
from .image_processing_dabnet import DabnetImageProcessor
from .modeling_dabnet import DabnetForSemanticSegmentation, DabnetModel

logger = logging.getLogger(__name__)

REMOTE_CODE_FILES = tuple(
    Path(module.__file__).name for module in (configuration_dabnet, modeling_dabnet, image_processing_dabnet)
)
# What save_pretrained writes into auto_map (Auto class -> "module.Class"); tests hold it against transformers.
CONFIG_AUTO_MAP = {
    "AutoConfig": f"configuration_dabnet.{DabnetConfig.__name__}",
    "AutoModel": f"modeling_dabnet.{DabnetModel.__name__}",
    "AutoModelForSemanticSegmentation": f"modeling_dabnet.{DabnetForSemanticSegmentation.__name__}",
}
PROCESSOR_AUTO_MAP = {"AutoImageProcessor": f"image_processing_dabnet.{DabnetImageProcessor.__name__}"}
_CONFIG_FILE, _PROCESSOR_FILE = "config.json", "preprocessor_config.json"


def add_remote_code(folder: str | os.PathLike) -> list[Path]:
    """Copy the three modules into a ``save_pretrained`` folder and add ``auto_map`` to its JSON files, as
    ``save_pretrained`` does, without touching the weights.

    ``config.json`` must exist; ``preprocessor_config.json`` gets its ``auto_map`` when present. The JSON files
    are rewritten atomically from the loaded config and processor. Returns the files written.

    Raises:
        InputError: the folder has no ``config.json`` or it is not a DABNet config.
    """
    folder = Path(folder)
    config_path = folder / _CONFIG_FILE
    if not config_path.is_file():
        raise InputError(f"{folder} has no {_CONFIG_FILE}; save a model there first (save_pretrained or convert).")
    model_type = json.loads(config_path.read_text(encoding="utf-8")).get("model_type")
    if model_type != DabnetConfig.model_type:
        raise InputError(f"{config_path} is not a DABNet config (model_type {model_type!r}).")
    config = DabnetConfig.from_pretrained(folder)
    with torch.device("meta"):  # the classes only, without memory for the weights
        model = DabnetForSemanticSegmentation(config)
    written = set()
    for obj in (model, model.dabnet, config):  # what save_pretrained of the model and of its config do
        written.update(custom_object_save(obj, folder, config=config))
    written.add(write_atomic(config_path, config.to_json_string()))
    if (folder / _PROCESSOR_FILE).is_file():
        processor = DabnetImageProcessor.from_pretrained(folder)
        written.update(custom_object_save(processor, folder, config=processor))
        written.add(write_atomic(folder / _PROCESSOR_FILE, processor.to_json_string()))
    logger.info("Added remote code to %s", folder)
    return sorted(Path(path) for path in written)


__all__ = ["CONFIG_AUTO_MAP", "PROCESSOR_AUTO_MAP", "REMOTE_CODE_FILES", "add_remote_code"]
