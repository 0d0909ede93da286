"""The public API: every name a module lists in ``__all__`` exists, so ``from dabnet_zoo.x import *`` works."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import dabnet_zoo

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(dabnet_zoo.__path__, prefix="dabnet_zoo.")
    if not info.name.startswith("dabnet_zoo.evaluate_metric")  # a Hub-style metric folder, loaded by `evaluate`
)


@pytest.mark.parametrize("name", ["dabnet_zoo", *MODULES])
def test_every_exported_name_exists(name):
    module = importlib.import_module(name)
    missing = [export for export in getattr(module, "__all__", ()) if not hasattr(module, export)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"


def test_errors_all_derive_from_the_package_error():
    from dabnet_zoo import errors

    for export in errors.__all__:
        value = getattr(errors, export)
        if isinstance(value, type):
            assert issubclass(value, errors.DabnetZooError), export
