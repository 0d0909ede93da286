"""Publish a model folder on the Hugging Face Hub: stage exactly what a user needs, then upload it.

``dabnet-zoo push DIR --repo-id ORG/NAME`` maps onto :func:`push_folder`. The folder (from ``dabnet-zoo
convert`` or a training run's ``save_pretrained``) is never uploaded as it is: an allow-list of files is staged
in a temporary folder, and only that folder is uploaded:

=============================  ===========================================================================
``model.safetensors``          the weights, byte for byte (hard-linked or copied, never re-saved)
``config.json``                the model config (+ ``auto_map`` for ``trust_remote_code`` users)
``preprocessor_config.json``   the image processor (the dataset's test protocol; generated if DIR lacks it)
``*_dabnet.py``                configuration, modeling and image-processing modules (remote code)
``conversion.json``            provenance of converted weights, when DIR has it
``README.md``                  the model card, generated for this folder (sha256 and size of its weights);
                               for a training run's ``final/`` folder, its training card (see below)
``results/*.json``             evaluations of these weights (``results/<name>/`` under the root, same sha256)
``benchmarks/*.json``          benchmark results of this model (``benchmarks/results/<name>/``)
=============================  ===========================================================================

A folder written by ``recipes/train.py`` carries the card of its run (``README.md``, rendered from the run's
``training.json``: the data it was really trained on, the recipe as it ran, its measured evaluation). That card
is kept, never replaced by a registry card: it is rendered again for the Hub repo (snippets loading ``repo_id``,
sha256 and size of the weights) when the run's ``training.json`` sits next to the folder, and uploaded as it is
otherwise. Such a folder also names its model (``training.json``), so ``--model`` is not needed.

Anything else in DIR (optimizer states, logs ...) is reported as skipped. ``dry_run=True`` stages and lists
the files with their sizes and touches no network. A real push calls ``HfApi.create_repo(exist_ok=True)``
(and ``create_branch`` for a ``revision``), then ``upload_folder``; the report carries the commit id, and
the revision, sha256 and size to record in the registry (:class:`dabnet_zoo.registry.WeightsEntry`) so that
``pretrained=True`` can use the upload.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .cards import (
    CARD_FILE,
    CardWeights,
    is_training_card,
    render_model_card,
    render_training_card,
)
from .errors import InputError, PublishError
from .fileio import write_atomic
from .registry import ORIGIN_CONVERTED, ORIGIN_TRAINED, WEIGHTS, WEIGHTS_FILE, WeightsEntry, get_weights
from .remote_code import REMOTE_CODE_FILES, add_remote_code
from .results import (
    TRAINING_RESULTS_FILE,
    evaluations_of,
    load_benchmark_results,
    load_evaluation_results,
    load_training_record,
)
from .weights import CONFIG_FILE, PROCESSOR_FILE, config_mismatches, sha256_of

logger = logging.getLogger(__name__)

CONVERSION_FILE = "conversion.json"
_COPIED = (WEIGHTS_FILE, CONFIG_FILE, PROCESSOR_FILE, CONVERSION_FILE)


@dataclass(frozen=True)
class StagedFile:
    """One file of the upload: its path in the repo, its size in bytes and where it comes from."""

    path_in_repo: str
    size: int
    source: str


@dataclass(frozen=True)
class PushReport:
    """What :func:`push_folder` staged and (unless a dry run) uploaded."""

    repo_id: str
    model: str
    files: tuple[StagedFile, ...]
    skipped: tuple[str, ...]
    weights_sha256: str
    weights_size: int
    dry_run: bool
    private: bool
    revision: str | None = None
    commit_oid: str | None = None
    commit_url: str | None = None

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def registry_fields(self) -> str:
        """The :class:`WeightsEntry` fields that publish these weights (after a real push)."""
        revision = f'"{self.commit_oid}"' if self.commit_oid else "<commit id of the upload>"
        return (f'published=True, revision={revision}, sha256="{self.weights_sha256}", '
                f"file_size={self.weights_size}")


def identify_model(model_dir: str | os.PathLike, repo_id: str, model: str | None = None) -> WeightsEntry:
    """The registry entry a folder holds: ``model`` if given, else its ``conversion.json``, else the run's
    ``training.json`` (a training run's ``final/``), else the repo name.

    The folder's ``config.json`` must agree with that entry (context path, patch size, class count).

    Raises:
        InputError: the folder is not a model folder, does not say which model it holds, or holds another one.
    """
    model_dir = Path(model_dir)
    config = _read_json(model_dir / CONFIG_FILE, f"{model_dir} has no readable {CONFIG_FILE}; pass a folder "
                        "written by `dabnet-zoo convert` or save_pretrained")
    if not (model_dir / WEIGHTS_FILE).is_file():
        raise InputError(f"{model_dir} has no {WEIGHTS_FILE}; pass a folder written by `dabnet-zoo convert` or "
                         "save_pretrained.")
    if config.get("model_type") != "dabnet":
        raise InputError(f"{model_dir}/{CONFIG_FILE} is not a DABNet config (model_type {config.get('model_type')!r}).")
    if model is None and (model_dir / CONVERSION_FILE).is_file():
        conversion = _read_json(model_dir / CONVERSION_FILE, f"{model_dir}/{CONVERSION_FILE} is not readable")
        if conversion.get("variant") and conversion.get("dataset"):
            model = f"{conversion['variant']}.{conversion['dataset']}"
    if model is None:
        record = _training_record(model_dir)
        if record is not None:
            model = record["model"]
    if model is None and repo_id.rpartition("/")[2] in WEIGHTS:  # the repo is named VARIANT.DATASET
        model = repo_id.rpartition("/")[2]
    if model is None:
        raise InputError(f"Cannot tell which zoo model {model_dir} holds (no {CONVERSION_FILE}, no training run, and "
                         f"the repo name is not VARIANT.DATASET); pass --model, e.g. --model dabnet_r18_p2.cityscapes.")
    entry = get_weights(model)
    wrong = config_mismatches(config, entry)
    if wrong:
        raise InputError(f"{model_dir} does not hold {entry.name}: " + ", ".join(wrong)
                         + ". Pass the right --model, or the right folder.")
    return entry


def stage_folder(
    model_dir: str | os.PathLike,
    staging_dir: str | os.PathLike,
    *,
    repo_id: str,
    model: str | None = None,
    root: str | os.PathLike = ".",
    remote_code: bool = True,
) -> tuple[WeightsEntry, list[StagedFile], list[str]]:
    """Fill ``staging_dir`` (empty or absent) with the files to upload; DIR itself is only read.

    Returns the model's registry entry, the staged files (sorted by path) and the names of DIR's files that
    are not uploaded.
    """
    model_dir, staging = Path(model_dir), Path(staging_dir)
    entry = identify_model(model_dir, repo_id, model)
    staging.mkdir(parents=True, exist_ok=True)
    if any(staging.iterdir()):
        raise InputError(f"Staging folder {staging} is not empty.")
    sources: dict[str, str] = {}

    _link_or_copy(model_dir / WEIGHTS_FILE, staging / WEIGHTS_FILE)
    for name in (CONFIG_FILE, PROCESSOR_FILE, CONVERSION_FILE):  # small files: copied, then edited in staging
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, staging / name)
            sources[name] = f"{model_dir.name}/{name}"
    sources[WEIGHTS_FILE] = f"{model_dir.name}/{WEIGHTS_FILE}"
    if not (staging / PROCESSOR_FILE).is_file():
        from .zoo import create_processor

        create_processor(entry.dataset).save_pretrained(staging)
        sources[PROCESSOR_FILE] = f"generated ({entry.dataset} test protocol)"
    if remote_code:
        add_remote_code(staging)
        sources.update({name: "dabnet_zoo (remote code)" for name in REMOTE_CODE_FILES})
        sources[CONFIG_FILE] += " + auto_map"
        sources[PROCESSOR_FILE] += " + auto_map"
    else:
        for name in (CONFIG_FILE, PROCESSOR_FILE):
            _drop_auto_map(staging / name)
        for name in REMOTE_CODE_FILES:  # a generated processor config comes with its module (save_pretrained)
            (staging / name).unlink(missing_ok=True)

    sha256, size = sha256_of(staging / WEIGHTS_FILE), (staging / WEIGHTS_FILE).stat().st_size
    evaluations = load_evaluation_results(entry.name, root)
    measured = evaluations_of(evaluations, sha256, entry.dataset)  # only numbers of the weights uploaded
    for record in evaluations:
        if record not in measured:
            logger.info("Not uploaded: %s (not an evaluation of these weights on %s)", record.source, entry.dataset)
    for folder, records in (("results", measured), ("benchmarks", load_benchmark_results(entry.name, root))):
        for record in records:
            target = f"{folder}/{record.source.name}"
            (staging / folder).mkdir(exist_ok=True)
            shutil.copyfile(record.source, staging / target)
            sources[target] = str(record.source)

    origin = ORIGIN_CONVERTED if (model_dir / CONVERSION_FILE).is_file() else ORIGIN_TRAINED
    weights = CardWeights(repo_id, True, origin, entry.license, sha256=sha256, file_size=size)
    library_name = "transformers" if remote_code else "dabnet-zoo"
    existing = model_dir / CARD_FILE
    existing_text = existing.read_text(encoding="utf-8") if existing.is_file() else ""
    if is_training_card(existing_text):  # a training run's card: the data and recipe it really used
        record = _training_record(model_dir)
        if record is not None:
            from huggingface_hub import ModelCard

            synthetic = "synthetic-data" in (ModelCard(existing_text).data.tags or [])
            card = render_training_card(record, synthetic=synthetic, repo_id=repo_id, weights_sha256=sha256,
                                        weights_size=size, library_name=library_name)
            sources[CARD_FILE] = f"training card of {model_dir.name}, rendered for {repo_id}"
        else:
            card = existing_text
            sources[CARD_FILE] = f"{model_dir.name}/{CARD_FILE} (training card, as it is)"
    else:
        card = render_model_card(entry.name, root=root, weights=weights, library_name=library_name)
        sources[CARD_FILE] = "generated model card"
    write_atomic(staging / CARD_FILE, card)

    files = sorted(
        (StagedFile(path.relative_to(staging).as_posix(), path.stat().st_size,
                    sources[path.relative_to(staging).as_posix()])
         for path in staging.rglob("*") if path.is_file()),
        key=lambda f: f.path_in_repo,
    )
    skipped = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*")
                     if p.is_file() and p.name not in _COPIED and not (remote_code and p.name in REMOTE_CODE_FILES))
    return entry, files, skipped


def push_folder(
    model_dir: str | os.PathLike,
    repo_id: str,
    *,
    model: str | None = None,
    root: str | os.PathLike = ".",
    private: bool = False,
    revision: str | None = None,
    dry_run: bool = False,
    remote_code: bool = True,
    commit_message: str | None = None,
) -> PushReport:
    """Stage ``model_dir`` (see the module docstring) and upload it to the Hub model repo ``repo_id``.

    Args:
        model_dir: a ``save_pretrained`` folder with ``config.json`` and ``model.safetensors``.
        repo_id: ``ORG/NAME``; created if missing (``exist_ok``).
        model: the zoo model the folder holds (``variant.dataset``); by default read from ``conversion.json``
            or from the repo name.
        root: repository root whose ``results/`` and ``benchmarks/results/`` files are uploaded and summarised
            in the card.
        private: create the repo private.
        revision: branch to upload to (created from main if missing); default main.
        dry_run: only stage and list; no network access at all.
        remote_code: ship the modules and ``auto_map`` for ``trust_remote_code=True`` users.
        commit_message: defaults to "Upload <model> with dabnet-zoo".

    Raises:
        InputError: a bad folder or repo id. PublishError: offline, or the Hub refused.
    """
    _check_repo_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="dabnet-zoo-push-") as staging:
        entry, files, skipped = stage_folder(model_dir, staging, repo_id=repo_id, model=model, root=root,
                                             remote_code=remote_code)
        weights = Path(staging) / WEIGHTS_FILE
        report = PushReport(repo_id, entry.name, tuple(files), tuple(skipped), sha256_of(weights),
                            weights.stat().st_size, dry_run, private, revision)
        if dry_run:
            logger.info("Dry run: %d files staged for %s, nothing uploaded", len(files), repo_id)
            return report
        commit = _upload(staging, repo_id, private, revision, commit_message or f"Upload {entry.name} with dabnet-zoo")
    return dataclasses.replace(report, commit_oid=getattr(commit, "oid", None),
                               commit_url=getattr(commit, "commit_url", None))


def _upload(staging: str, repo_id: str, private: bool, revision: str | None, message: str):
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    if constants.is_offline_mode():
        raise PublishError(f"Cannot push to {repo_id}: offline mode is on (HF_HUB_OFFLINE=1). Unset it on a machine "
                           "with network access, or use --dry-run to list what would be uploaded.")
    network_errors = (OfflineModeIsEnabled, OSError, *_transport_errors())
    api = HfApi(library_name="dabnet-zoo")
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, folder_path=staging, repo_type="model", revision=revision,
                                   commit_message=message)
    except network_errors as error:
        raise PublishError(f"Pushing to the Hub repo {repo_id} failed: {error}. Check the network, your token "
                           "(`hf auth login`) and your rights on the organisation, then retry.") from error
    logger.info("Uploaded to %s: %s", repo_id, getattr(commit, "commit_url", commit))
    return commit


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP client's error base class (a refused connection, a timeout; ``HfHubHTTPError`` derives from it):
    ``httpx2.HTTPError`` under huggingface_hub 2.x, ``httpx.HTTPError`` under 1.x. Neither is an ``OSError``."""
    import importlib

    errors = []
    for module in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module).HTTPError)
        except ImportError:
            pass
    return tuple(errors)


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise InputError(f"Invalid Hub repo id {repo_id!r}: {error}") from None
    if repo_id.count("/") != 1:
        raise InputError(f"Invalid Hub repo id {repo_id!r}: give ORG/NAME, e.g. dabnet-zoo/dabnet_r18_p2.cityscapes.")


def _training_record(model_dir: Path) -> dict | None:
    """The validated ``training.json`` of the run whose ``final/`` folder ``model_dir`` is, if it is one."""
    model_dir = model_dir.resolve()
    path = model_dir.parent / TRAINING_RESULTS_FILE
    if not path.is_file():
        return None
    record = load_training_record(path)  # ResultsError (a DabnetZooError) names the file and its problems
    return record if record["outputs"].get("final") == model_dir.name else None


def _read_json(path: Path, message: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(message + ".") from None
    if not isinstance(data, dict):
        raise InputError(message + " (not a JSON object).")
    return data


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link when possible (no copy of large weights); staging never writes to this file."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _drop_auto_map(path: Path) -> None:
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("auto_map", None) is not None:  # the modules it names are not uploaded
            write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


__all__ = ["PublishError", "PushReport", "StagedFile", "identify_model", "push_folder", "stage_folder"]
