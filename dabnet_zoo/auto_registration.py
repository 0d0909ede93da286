"""DABNet in transformers' Auto classes, without importing transformers at ``import dabnet_zoo``.

``AutoModelForSemanticSegmentation.from_pretrained(folder)`` finds ``model_type: "dabnet"`` only once
``AutoConfig.register`` and friends have run, and registering needs the classes, hence torch, timm and
transformers. ``import dabnet_zoo`` must stay light (the CLI, the registry), so the package registers at the
first moment someone can need it: once transformers' Auto machinery
(``transformers.models.auto.configuration_auto``) is loaded.

* :func:`install` (run by ``import dabnet_zoo``) registers at once if it is loaded already, and otherwise adds
  an import hook that watches transformers' modules and the DABNet ones as they finish importing;
* registering imports transformers' Auto classes and the DABNet modules, which must not happen while any of
  them is half-imported (the Auto machinery loads in the middle of other transformers modules, and
  ``import dabnet_zoo.modeling_dabnet`` loads it itself, part way through): the hook waits until the last
  watched module of the import in progress has finished, then registers and removes itself;
* the package's lazy ``__getattr__`` (``dabnet_zoo.DabnetForSemanticSegmentation``) registers too.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

_TRIGGER = "transformers.models.auto.configuration_auto"
_WATCHED_PACKAGES = ("transformers", "dabnet_zoo")
_state = {"registered": False, "registering": False}


def register_auto_classes() -> None:
    """Register DabnetConfig, DabnetModel, DabnetForSemanticSegmentation and DabnetImageProcessor with the Auto
    classes (idempotent; imports torch and transformers)."""
    if _state["registered"] or _state["registering"]:
        return
    _state["registering"] = True
    try:
        from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForSemanticSegmentation

        from .configuration_dabnet import DabnetConfig
        from .image_processing_dabnet import DabnetImageProcessor
        from .modeling_dabnet import DabnetForSemanticSegmentation, DabnetModel

        AutoConfig.register(DabnetConfig.model_type, DabnetConfig, exist_ok=True)
        AutoModel.register(DabnetConfig, DabnetModel, exist_ok=True)
        AutoModelForSemanticSegmentation.register(DabnetConfig, DabnetForSemanticSegmentation, exist_ok=True)
        # One processor serves every backend transformers may ask for (it has a single implementation of the
        # original's test protocol): registered for "torchvision" too, or each load warns of a fallback to "pil".
        AutoImageProcessor.register(
            DabnetConfig, image_processor_classes={"pil": DabnetImageProcessor, "torchvision": DabnetImageProcessor},
            exist_ok=True,
        )
        _state["registered"] = True
    finally:
        _state["registering"] = False
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _RegisterAfterImport)]


def install() -> None:
    """Register now if transformers' Auto machinery is loaded, else add the import hook (once).

    Called at the end of ``dabnet_zoo/__init__.py``: the package itself is still marked as importing, but all
    that registering needs from it is defined, so it does not count as half-imported here."""
    if _state["registered"]:
        return
    if _TRIGGER in sys.modules:
        _register_when_ready(finished=__package__)
    elif not any(isinstance(finder, _RegisterAfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())


def _register_when_ready(finished: str | None = None) -> None:
    """Register if the Auto machinery is loaded and no watched module but ``finished`` (whose code has just run)
    is half-imported; otherwise the completion of the next watched module calls this again."""
    if _TRIGGER not in sys.modules:
        return
    for name, module in list(sys.modules.items()):
        if name != finished and _is_watched(name) and getattr(getattr(module, "__spec__", None), "_initializing", False):
            return
    register_auto_classes()


def _is_watched(name: str) -> bool:
    return name.partition(".")[0] in _WATCHED_PACKAGES


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds the watched modules with the other finders and wraps their loaders to call back after running."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if not _is_watched(fullname) or _state["registered"]:
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _NotifyingLoader(spec.loader, fullname)
                return spec
        return None


class _NotifyingLoader(importlib.abc.Loader):
    """A loader that runs the real one, then :func:`_register_when_ready`; everything else is delegated."""

    def __init__(self, loader: Any, fullname: str) -> None:
        self._loader, self._fullname = loader, fullname

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        _register_when_ready(finished=self._fullname)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, is_package, ...
        return getattr(self._loader, name)


__all__ = ["install", "register_auto_classes"]
