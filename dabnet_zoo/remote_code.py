"""Make saved folders loadable with ``trust_remote_code=True`` by people who do not install dabnet-zoo.

``import dabnet_zoo`` registers the configuration, the models and the image processor with transformers' Auto
classes, which is the primary way to load our folders. For users who only have transformers, a folder can also
carry the three self-contained modules (``configuration_dabnet.py``, ``modeling_dabnet.py``,
``image_processing_dabnet.py``: they import only each other and third-party packages) plus an ``auto_map`` in
``config.json`` and ``preprocessor_config.json``; then::

    AutoModelForSemanticSegmentation.from_pretrained(folder_or_repo, trust_remote_code=True)
    AutoImageProcessor.from_pretrained(folder_or_repo, trust_remote_code=True)

work without dabnet-zoo. The remote model still needs ``timm`` installed (it builds the ResNet-18 and
EfficientNet-B1 context paths; transformers checks the import and names the missing package).

Two ways to get such a folder:

* :func:`save_pretrained_with_remote_code`: transformers' own mechanism (``register_for_auto_class``) copies
  the modules and writes ``auto_map``. It is scoped to the call, not global, because a global registration
  would change every folder the package writes (the converter's output, the recipes');
* :func:`add_remote_code` on an existing folder (``dabnet-zoo push`` uses it on the staged copy): copies the
  modules and writes the same ``auto_map`` without re-saving, so the user's ``model.safetensors`` stays
  byte-for-byte what it was. A test checks that both produce the same ``auto_map``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

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
# Auto class -> "module.Class", as transformers writes it.
CONFIG_AUTO_MAP = {
    "AutoConfig": f"configuration_dabnet.{DabnetConfig.__name__}",
    "AutoModel": f"modeling_dabnet.{DabnetModel.__name__}",
    "AutoModelForSemanticSegmentation": f"modeling_dabnet.{DabnetForSemanticSegmentation.__name__}",
}
PROCESSOR_AUTO_MAP = {"AutoImageProcessor": f"image_processing_dabnet.{DabnetImageProcessor.__name__}"}
_REGISTRATIONS = (
    (DabnetConfig, "AutoConfig"),
    (DabnetForSemanticSegmentation, "AutoModelForSemanticSegmentation"),
    (DabnetModel, "AutoModel"),
    (DabnetImageProcessor, "AutoImageProcessor"),
)


def save_pretrained_with_remote_code(folder: str | os.PathLike, model=None, processor=None) -> Path:
    """``save_pretrained`` of a model and/or image processor into ``folder``, with the remote code.

    transformers' own mechanism does the work (``register_for_auto_class`` for the duration of the call, so
    ``save_pretrained`` copies the modules and writes ``auto_map``); afterwards the classes and the model's
    config are as before, so later plain ``save_pretrained`` calls write plain folders.
    """
    folder = Path(folder)
    # save_pretrained stores the auto_map on the live config / processor: remember what was there to restore it.
    holders = [obj for obj in (getattr(model, "config", None), processor) if obj is not None]
    before = [(obj, "auto_map" in obj.__dict__, obj.__dict__.get("auto_map")) for obj in holders]
    try:
        with _auto_classes_registered():
            if model is not None:
                model.save_pretrained(folder)
            if processor is not None:
                processor.save_pretrained(folder)
    finally:
        for obj, had, value in before:
            if had:
                obj.auto_map = value
            else:
                obj.__dict__.pop("auto_map", None)
    return folder


@contextlib.contextmanager
def _auto_classes_registered() -> Iterator[None]:
    previous = [(cls, cls.__dict__.get("_auto_class", None)) for cls, _ in _REGISTRATIONS]
    try:
        for cls, auto_class in _REGISTRATIONS:
            cls.register_for_auto_class(auto_class)
        yield
    finally:
        for cls, value in previous:
            cls._auto_class = value


def add_remote_code(folder: str | os.PathLike) -> list[Path]:
    """Copy the three modules into a ``save_pretrained`` folder and add ``auto_map`` to its JSON files.

    ``config.json`` must exist; ``preprocessor_config.json`` gets its ``auto_map`` when present. Other files are
    not touched. Returns the files written.

    Raises:
        InputError: the folder has no ``config.json`` or it is not a DABNet config.
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise InputError(f"{folder} has no config.json; save a model there first (save_pretrained or convert).")
    written = [_add_auto_map(config_path, CONFIG_AUTO_MAP, require_model_type=True)]
    processor_path = folder / "preprocessor_config.json"
    if processor_path.is_file():
        written.append(_add_auto_map(processor_path, PROCESSOR_AUTO_MAP))
    package = Path(__file__).parent
    for name in REMOTE_CODE_FILES:
        shutil.copyfile(package / name, folder / name)
        written.append(folder / name)
    logger.info("Added remote code to %s", folder)
    return written


def _add_auto_map(path: Path, entries: dict[str, str], require_model_type: bool = False) -> Path:
    data = json.loads(path.read_text(encoding="utf-8"))
    if require_model_type and data.get("model_type") != DabnetConfig.model_type:
        raise InputError(f"{path} is not a DABNet config (model_type {data.get('model_type')!r}).")
    data["auto_map"] = {**data.get("auto_map", {}), **entries}
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


__all__ = [
    "CONFIG_AUTO_MAP",
    "PROCESSOR_AUTO_MAP",
    "REMOTE_CODE_FILES",
    "add_remote_code",
    "save_pretrained_with_remote_code",
]
