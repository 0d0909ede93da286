"""transformers' own common test suites, fetched at test time, for ``tests/test_transformers_common.py``.

transformers checks every model it ships with three shared suites: ``ModelTesterMixin``
(``tests/test_modeling_common.py``), ``ConfigTester`` (``tests/test_configuration_common.py``) and
``ImageProcessingTestMixin`` (``tests/test_image_processing_common.py``). They are not in the wheel, and this
repository does not copy them: :func:`load` downloads the source distribution of the *installed* transformers
version from the package index with pip (so pip's own index settings apply), extracts those three files into a
cache folder, ``$XDG_CACHE_HOME/dabnet-zoo/transformers-tests/<version>/tests/`` (``~/.cache`` without
``XDG_CACHE_HOME``), and imports them from there as the package :data:`PACKAGE`. Later runs use the cache.

The three files import modules that the source distribution does not ship. Each is replaced by a small module
written here (:func:`_install_shims`), whose docstring says what is therefore not run:

* ``tests/exporters/test_export.py`` (``ExportTesterMixin``, a base of ``ModelTesterMixin``);
* ``tests/generation/test_utils.py`` (``GenerationTesterMixin``);
* ``tests/utils/test_configuration_utils.py`` (``config_common_kwargs``);
* ``utils/fetch_hub_objects_for_ci.py`` (``url_to_local_path``).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
import unittest
import warnings
from dataclasses import fields
from pathlib import Path

import transformers

UPSTREAM_FILES = ("test_modeling_common.py", "test_configuration_common.py", "test_image_processing_common.py")
# The name the fetched ``tests`` folder is imported under (its files import each other relatively).
PACKAGE = "transformers_common_tests"
_PIP_TIMEOUT_S = 600


class FetchError(RuntimeError):
    """The upstream test files could not be downloaded or read; the message is one line."""


def cache_dir(version: str | None = None) -> Path:
    """Where the test files of transformers ``version`` (default: the installed one) are kept."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dabnet-zoo" / "transformers-tests" / (version or transformers.__version__)


def fetch(version: str | None = None) -> Path:
    """The folder holding :data:`UPSTREAM_FILES` of transformers ``version``; downloads them on first use.

    Raises:
        FetchError: pip could not download the source distribution (offline, or a version that is not on the
            index, such as a development install), the archive lacks one of the files, or the cache folder cannot
            be written.
    """
    version = version or transformers.__version__
    target = cache_dir(version) / "tests"
    if _complete(target):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        downloads = tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-")
    except OSError as error:
        raise FetchError(f"cannot write the cache folder {target.parent}: {error}") from None
    with downloads as tmp:
        archive = _download_sdist(version, Path(tmp))
        staging = Path(tmp) / "tests"
        staging.mkdir()
        _extract(archive, staging)
        # direct_transformers_import(), which test_configuration_common.py calls on its own folder, executes
        # that folder's __init__.py; the source distribution has none.
        (staging / "__init__.py").write_text("")
        (staging / "SOURCE.txt").write_text(f"Extracted from {archive.name}, downloaded with pip.\n")
        if target.exists() and not _complete(target):
            shutil.rmtree(target)
        try:
            os.replace(staging, target)  # atomic: a concurrent run sees the whole folder or none of it
        except OSError:
            if not _complete(target):  # not merely another run that finished first
                raise
    return target


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (*UPSTREAM_FILES, "__init__.py"))


def _download_sdist(version: str, folder: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "transformers",
        "--disable-pip-version-check", "--no-input", "--quiet", "--retries", "2", "--timeout", "30",
        "--dest", str(folder), f"transformers=={version}",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise FetchError(f"`pip download transformers=={version}` (sdist) took over {_PIP_TIMEOUT_S} s") from None
    archives = sorted(folder.glob("transformers-*.tar.gz"))
    if result.returncode != 0 or not archives:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        raise FetchError(f"`pip download transformers=={version}` (sdist) failed: {reason}")
    return archives[0]


def _extract(archive: Path, folder: Path) -> None:
    """Copy the members ``<top>/tests/<name>`` of :data:`UPSTREAM_FILES` into ``folder``, and nothing else."""
    try:
        with tarfile.open(archive) as tar:
            members = {
                parts[2]: member
                for member in tar.getmembers()
                if member.isfile() and len(parts := member.name.split("/")) == 3 and parts[1] == "tests"
            }
            for name in UPSTREAM_FILES:
                if name not in members:
                    raise FetchError(f"{archive.name} has no tests/{name}")
                (folder / name).write_bytes(tar.extractfile(members[name]).read())
    except (tarfile.TarError, OSError) as error:
        raise FetchError(f"cannot read {archive.name}: {error}") from None


# --------------------------------------------------------------------------------------------------------------
# Shims for the modules the source distribution lacks
# --------------------------------------------------------------------------------------------------------------


class ExportTesterMixin:
    """Stands in for transformers' ``tests/exporters/test_export.py`` mixin, a base of ``ModelTesterMixin``.

    That mixin tests exporting every model with ``torch.export``, ONNX and OpenVINO through transformers'
    exporters; its file is not in the source distribution, so those tests are not run here. DABNet's own export
    paths are tested in ``tests/test_export.py`` (ONNX, ``torch.export``) and ``tests/test_openvino.py``.
    """


class GenerationTesterMixin:
    """Stands in for transformers' ``tests/generation/test_utils.py`` mixin (the ``generate()`` tests).

    DABNet is not generative, so no test class uses it; ``ModelTesterMixin`` only checks that a model that cannot
    generate does *not* inherit it (``test_generation_tester_mixin_inheritance``), which still runs.
    """


def url_to_local_path(url: str) -> str:
    """Stands in for transformers' ``utils/fetch_hub_objects_for_ci.py``, which maps the test images' URLs to files
    its CI downloaded beforehand. These tests reach no network but the package index, so every test that needs a
    remote image (COCO, ADE20k) is skipped here."""
    raise unittest.SkipTest(f"needs the remote test image {url}; these tests reach no network but PyPI")


# Every argument of transformers' PreTrainedConfig with a value that is not its default (the 5.x fields). The
# labels are two (a DABNet config needs at least two); the rest is what any config must store as given.
# ``is_encoder_decoder`` is left out as transformers' own list leaves it out (it describes the architecture).
# test_transformers_common.py checks that this covers every field of the installed PreTrainedConfig and that no
# value is a default, so ConfigTester.check_config_arguments_init cannot pass without checking anything.
CONFIG_COMMON_KWARGS = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "chunk_size_feed_forward": 5,
    "architectures": ["DabnetForSemanticSegmentation"],
    "id2label": {0: "background", 1: "foreground"},
    "label2id": {"background": 0, "foreground": 1},
    "problem_type": "single_label_classification",
}
# PreTrainedConfig fields that CONFIG_COMMON_KWARGS leaves out on purpose.
CONFIG_FIELDS_NOT_COVERED = frozenset({"transformers_version", "is_encoder_decoder"})


def pretrained_config_fields() -> list[str]:
    """The public constructor fields of the installed ``PreTrainedConfig``."""
    return [field.name for field in fields(transformers.PreTrainedConfig) if not field.name.startswith("_")]


def _module(name: str, doc: str, package: bool = False, **attributes) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    module.__dict__.update(attributes)
    if package:
        module.__path__ = []  # its submodules are all registered in sys.modules
    sys.modules[name] = module
    return module


def _install_shims() -> None:
    for folder, name, doc, attributes in (
        ("exporters", "test_export", ExportTesterMixin.__doc__, {"ExportTesterMixin": ExportTesterMixin}),
        ("generation", "test_utils", GenerationTesterMixin.__doc__, {"GenerationTesterMixin": GenerationTesterMixin}),
        (
            "utils", "test_configuration_utils",
            "Stands in for transformers' tests/utils/test_configuration_utils.py, of which the common config tests "
            "use only config_common_kwargs: see CONFIG_COMMON_KWARGS in tests/transformers_common.py.",
            {"config_common_kwargs": CONFIG_COMMON_KWARGS},
        ),
    ):
        parent = _module(f"{PACKAGE}.{folder}", f"Shim package {folder}/ (see tests/transformers_common.py).", True)
        setattr(parent, name, _module(f"{PACKAGE}.{folder}.{name}", doc, **attributes))
    # test_image_processing_common.py imports it as a top-level module from transformers' utils/ folder.
    _module("fetch_hub_objects_for_ci", url_to_local_path.__doc__, url_to_local_path=url_to_local_path)


def load() -> types.SimpleNamespace:
    """Import the three upstream files (fetching them first if needed).

    Returns:
        A namespace with ``modeling``, ``configuration`` and ``image_processing``: the imported
        ``test_modeling_common``, ``test_configuration_common`` and ``test_image_processing_common`` modules.

    Raises:
        FetchError: see :func:`fetch`.
    """
    folder = fetch()
    package = sys.modules.get(PACKAGE)
    if package is None:
        package = types.ModuleType(PACKAGE, "Three files of transformers' tests/ (see tests/transformers_common.py)")
        package.__path__ = [str(folder)]
        package.__file__ = str(folder / "__init__.py")
        sys.modules[PACKAGE] = package
        _install_shims()
    with warnings.catch_warnings():
        # The files mark tests with pytest marks that transformers registers in its own conftest.py (flash_attn_test,
        # torch_compile_test ...); they select nothing here.
        warnings.filterwarnings("ignore", message=r"Unknown pytest\.mark\.")
        return types.SimpleNamespace(
            modeling=importlib.import_module(f"{PACKAGE}.test_modeling_common"),
            configuration=importlib.import_module(f"{PACKAGE}.test_configuration_common"),
            image_processing=importlib.import_module(f"{PACKAGE}.test_image_processing_common"),
        )
