"""Trained weights from the Hugging Face Hub: download at a pinned revision, verify, load.

The registry (:data:`dabnet_zoo.registry.WEIGHTS`) pins, for each published variant x dataset, the Hub repo
id, a 40-hex commit and the sha256 of ``model.safetensors``. This module fetches ``model.safetensors``,
``config.json`` and ``preprocessor_config.json`` at that commit with ``hf_hub_download`` (so the standard
Hugging Face cache, ``HF_HUB_CACHE``/``HF_HOME``, and offline mode apply), checks the sha256 and the
architecture, and returns a ``from_pretrained`` folder or the state dict. It never returns random weights:
every failure raises an error that names the repo id, the cause and the way out:

* :class:`WeightsNotPublishedError`: the registry has no published weights for that model (true of every
  DABNet model today); the message says how to convert the original checkpoint instead;
* :class:`WeightsDownloadError`: the file is not in the local cache and the Hub cannot be asked (offline mode
  or no network), or the Hub refused (missing repo, revision or file);
* :class:`WeightsIntegrityError`: the file does not have the recorded sha256 or size. Nothing is deleted; the
  message names the file so the user can decide.

Building the model from the state dict is :func:`dabnet_zoo.create_model`'s job (``pretrained=True``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from .errors import (
    CheckpointError,
    WeightsDownloadError,
    WeightsIntegrityError,
    WeightsNotPublishedError,
)
from .registry import CONFIG_FILE, WEIGHTS_FILE, ModelRef, WeightsEntry, get_weights, identify_config, resolve_model

logger = logging.getLogger(__name__)

PROCESSOR_FILE = "preprocessor_config.json"
HUB_FILES = (WEIGHTS_FILE, CONFIG_FILE, PROCESSOR_FILE)


def how_to_get_weights(entry: WeightsEntry) -> str:
    """The instructions every weights error ends with: convert the original checkpoint, or train."""
    return (
        "Download the original project's checkpoint and convert it: dabnet-zoo convert ORIGINAL.pth OUT_DIR "
        f"--variant {entry.variant} --dataset {entry.dataset}; then load OUT_DIR with "
        "DabnetForSemanticSegmentation.from_pretrained(OUT_DIR) (the original README links checkpoints for "
        "dabnet_r18_p2 and dabnet_effb1 on Cityscapes and COCO-Stuff-10k). Without an original checkpoint, "
        f"train one with the recipe {entry.recipe}."
    )


def require_published(name: str, dataset: str | None = None) -> WeightsEntry:
    """The registry entry of ``name`` (``"dabnet_r18_p8.cityscapes"`` or name + dataset), if published.

    Raises:
        WeightsNotPublishedError: naming the Hub repo id the weights would live in and how to convert the
            original checkpoint instead.
    """
    entry = get_weights(name, dataset)
    if not entry.published:
        raise WeightsNotPublishedError(
            f"No trained weights are published for {entry.name} (Hub repo {entry.hub_repo_id} has no pinned "
            f"revision in dabnet-zoo's registry). {how_to_get_weights(entry)}"
        )
    return entry


def download_weights(
    name: str,
    dataset: str | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
) -> Path:
    """Fetch the published weights of a model and return the folder holding them (a Hub cache snapshot).

    The folder holds ``model.safetensors`` (sha256- and size-checked), ``config.json`` (its context path,
    patch size and class count checked against the registry) and ``preprocessor_config.json``, so it loads
    with ``from_pretrained``. Files already in the cache are not downloaded again; with ``HF_HUB_OFFLINE=1``
    only the cache is used.

    Args:
        name: ``"dabnet_r18_p8"`` (with ``dataset``) or ``"dabnet_r18_p8.camvid"``.
        dataset: dataset preset; defaults to Cityscapes.
        cache_dir: Hugging Face cache folder; defaults to ``HF_HUB_CACHE``.
        force_download: download again even when the cache has the files (e.g. after an integrity error).

    Raises:
        WeightsNotPublishedError, WeightsDownloadError, WeightsIntegrityError, CheckpointError (a config that
        does not describe this model).
    """
    entry = require_published(name, dataset)
    paths = {filename: _download(entry, filename, cache_dir, force_download) for filename in HUB_FILES}
    verify_weights_file(paths[WEIGHTS_FILE], entry)
    _check_config(paths[CONFIG_FILE], entry)
    folder = paths[WEIGHTS_FILE].parent
    logger.info("Weights of %s at %s@%s: %s", entry.name, entry.hub_repo_id, entry.revision[:7], folder)
    return folder


def load_state_dict(
    name: str,
    dataset: str | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
) -> dict:
    """The verified state dict (tensors on the CPU) of a model's published weights; see :func:`download_weights`."""
    from safetensors.torch import load_file

    folder = download_weights(name, dataset, cache_dir=cache_dir, force_download=force_download)
    return load_file(folder / WEIGHTS_FILE, device="cpu")


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(name_or_path: str | os.PathLike | ModelRef, model=None, dataset: str | None = None) -> str | None:
    """sha256 of the ``model.safetensors`` a model was loaded from, which the results files record so that a
    number is only ever shown beside the weights it measured: the file of a folder, the registry's pin of a zoo
    name with published weights (downloads are checked against it), the cached file of a Hub id at the revision
    ``model`` was loaded from; ``None`` when unknown (random weights of a zoo name, another file format).
    ``name_or_path`` is anything :func:`dabnet_zoo.registry.resolve_model` takes."""
    ref = resolve_model(name_or_path, dataset)
    if ref.source == "folder":
        path = Path(ref.location) / WEIGHTS_FILE
        return sha256_of(path) if path.is_file() else None
    if ref.is_zoo_name:
        return ref.entry.sha256
    from huggingface_hub import try_to_load_from_cache

    revision = getattr(getattr(model, "config", None), "_commit_hash", None)
    cached = try_to_load_from_cache(ref.location, WEIGHTS_FILE, revision=revision)
    return sha256_of(cached) if isinstance(cached, str) else None


def verify_weights_file(path: str | os.PathLike, entry: WeightsEntry) -> None:
    """Check a ``model.safetensors`` against the size and sha256 the registry records; never deletes it."""
    path = Path(path)
    size = path.stat().st_size
    if entry.file_size is not None and size != entry.file_size:
        problem = f"is {size} bytes, but the registry records {entry.file_size} bytes"
    else:
        actual = sha256_of(path)
        if actual == entry.sha256:
            return
        problem = f"has sha256 {actual}, but the registry records {entry.sha256}"
    raise WeightsIntegrityError(
        f"{WEIGHTS_FILE} of {entry.name} ({entry.hub_repo_id}@{entry.revision}) at {path} {problem}: the file is "
        "damaged or was replaced. It was left in place (nothing was deleted). Download it again with "
        f"download_weights({entry.name!r}, force_download=True), or delete that file yourself and retry."
    )


def _download(entry: WeightsEntry, filename: str, cache_dir: str | os.PathLike | None, force: bool) -> Path:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{filename} of {entry.name} from the Hub repo {entry.hub_repo_id} at revision {entry.revision}"
    if force and constants.is_offline_mode():
        raise WeightsDownloadError(f"Cannot download {where} again: offline mode is on (HF_HUB_OFFLINE=1).")
    try:
        return Path(
            hf_hub_download(
                entry.hub_repo_id,
                filename,
                revision=entry.revision,
                cache_dir=cache_dir,
                force_download=force,
                library_name="dabnet-zoo",
                library_version=_package_version(),
            )
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as error:  # before EntryNotFoundError: a subclass
        if constants.is_offline_mode() or isinstance(error, OfflineModeIsEnabled):
            cause = ("offline mode is on (HF_HUB_OFFLINE=1) and the file is not in the local Hugging Face cache; "
                     "unset HF_HUB_OFFLINE on a machine with network access, or copy the cache")
        else:
            cause = ("the Hub could not be reached (no network?) and the file is not in the local Hugging Face "
                     "cache; check the connection and retry")
        raise WeightsDownloadError(f"Cannot get {where}: {cause}. Or: {how_to_get_weights(entry)}") from error
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as error:
        missing = ("repository" if isinstance(error, RepositoryNotFoundError)
                   else "revision" if isinstance(error, RevisionNotFoundError) else "file")
        raise WeightsDownloadError(
            f"Cannot get {where}: the Hub has no such {missing} ({error}). The registry may be ahead of the Hub. "
            f"{how_to_get_weights(entry)}"
        ) from error
    except HfHubHTTPError as error:
        raise WeightsDownloadError(f"Cannot get {where}: the Hub answered {error}. Retry later.") from error


def config_mismatches(config: dict, entry: WeightsEntry) -> list[str]:
    """How a ``config.json`` (as a dict) disagrees with a registry entry's context path, patch size and class
    count, as ``"key=found (expected value)"`` items; empty when it describes that model."""
    return identify_config(config).mismatches(entry)


def _check_config(path: Path, entry: WeightsEntry) -> None:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{CONFIG_FILE} of {entry.hub_repo_id}@{entry.revision} is not readable JSON: {error}")
    wrong = config_mismatches(config, entry)
    if wrong:
        raise CheckpointError(
            f"{CONFIG_FILE} of {entry.hub_repo_id}@{entry.revision} does not describe {entry.name}: "
            + ", ".join(wrong) + ". The registry entry points at the wrong repo or revision."
        )


def _package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dabnet-zoo")
    except PackageNotFoundError:
        return None


__all__ = [
    "CONFIG_FILE",
    "HUB_FILES",
    "PROCESSOR_FILE",
    "WeightsDownloadError",
    "WeightsIntegrityError",
    "WeightsNotPublishedError",
    "config_mismatches",
    "download_weights",
    "how_to_get_weights",
    "load_state_dict",
    "require_published",
    "sha256_of",
    "verify_weights_file",
    "weights_sha256",
]
