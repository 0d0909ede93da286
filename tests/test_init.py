"""The public API: every name a module lists in ``__all__`` exists, so ``from dabnet_zoo.x import *`` works."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

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


# ----------------------------------------------------------------------------------------------------------
# The package imports lazily, and the Auto classes know DABNet whichever way it was imported.

AUTO_DOORS = """
import sys
from transformers import AutoConfig, AutoImageProcessor, AutoModelForSemanticSegmentation
model = AutoModelForSemanticSegmentation.from_pretrained(sys.argv[1])
processor = AutoImageProcessor.from_pretrained(sys.argv[1])
print(type(model).__module__, type(model).__name__, type(processor).__name__,
      type(AutoConfig.from_pretrained(sys.argv[1])).__name__)
"""


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    from dabnet_zoo import create_model, create_processor

    folder = tmp_path_factory.mktemp("auto")
    create_model("dabnet_r18_p1", dataset="camvid").save_pretrained(folder)
    create_processor("camvid").save_pretrained(folder)
    return folder


@pytest.mark.parametrize("first", [
    "import dabnet_zoo",  # the README's door: the package, then transformers
    "import transformers.models.auto.modeling_auto; import dabnet_zoo.registry",  # transformers first, a submodule
    "import dabnet_zoo.modeling_dabnet",  # a model module on its own loads the Auto machinery part way through
])
def test_auto_classes_load_dabnet_folders(model_folder, first):
    out = subprocess.run([sys.executable, "-c", first + "\n" + AUTO_DOORS, str(model_folder)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["dabnet_zoo.modeling_dabnet", "DabnetForSemanticSegmentation",
                                  "DabnetImageProcessor", "DabnetConfig"]


def test_heavy_names_are_imported_on_first_access():
    # That `import dabnet_zoo` itself imports no torch is checked in a fresh process by tests/cli/test_main.py.
    assert "DabnetForSemanticSegmentation" in dir(dabnet_zoo)
    assert dabnet_zoo.DabnetForSemanticSegmentation.__module__ == "dabnet_zoo.modeling_dabnet"
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        dabnet_zoo.nothing_here  # noqa: B018
