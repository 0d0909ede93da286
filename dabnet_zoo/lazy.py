"""Module attributes imported on first use (PEP 562), for packages whose exports need torch or transformers.

``dabnet_zoo`` and ``dabnet_zoo.training`` list their public names by submodule; :func:`lazy_exports` gives them
the module-level ``__getattr__`` and ``__dir__`` that import a submodule when one of its names is first asked for,
so that importing the package (``dabnet-zoo --help``, reading a recipe) stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str,
    namespace: dict[str, Any],
    exports: Mapping[str, tuple[str, ...]],
    on_import: Callable[[], None] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package ``package`` whose globals are ``namespace``.

    Args:
        exports: the public names of each submodule, by the submodule's name relative to ``package``.
        on_import: called after each lazy import (the top-level package registers its Auto classes then).
    """
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        if on_import is not None:
            on_import()
        namespace[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(module_of))

    return __getattr__, __dir__
