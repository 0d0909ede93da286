"""The training record, ``training.json``: what a finished run was and measured, which its model card shows.

The schema (``dabnet-zoo/training/v1``, :data:`~dabnet_zoo.results.TRAINING_KEYS`) lives with the other result
schemas in :mod:`dabnet_zoo.results`; this module builds a record from a run and writes it.

``training.json`` is the last thing a run writes, after ``final/``, so it marks a finished run: a run with it (and
its final evaluation) is never trained or finished again (:func:`finished_run`), and a run killed before it is
finished on ``--resume`` from its last checkpoint. A record without the final evaluation is never written.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ..errors import DabnetZooError, ResultsError
from ..fileio import write_atomic
from ..results import (
    TRAINING_KEYS,
    TRAINING_RESULTS_FILE,
    TRAINING_SCHEMA,
    load_training_record,
    validate_training_record,
)
from .batching import BatchPlan
from .checkpoints import TrainingState
from .recipe import RESOLVED_CONFIG_FILE, RecipeConfig

logger = logging.getLogger(__name__)

# The folders of a run, relative to its output folder.
FINAL_DIR = "final"
CHECKPOINTS_DIR = "checkpoints"
LOGS_DIR = "logs"


def final_eval_record(results: Mapping[str, Any], *, split: str, eval_size: tuple[int, int]) -> dict[str, Any]:
    """The ``final_eval`` of ``training.json`` from an :func:`~dabnet_zoo.evaluation.evaluate_model` result
    (a class absent from predictions and labels has IoU null, as JSON has no NaN)."""
    return {
        "split": split, "mode": "whole", "num_images": results["num_images"], "eval_size": list(eval_size),
        **{key: results[key] for key in ("mean_iou", "mean_accuracy", "overall_accuracy")},
        "per_category_iou": {k: (None if v != v else v) for k, v in results["per_category_iou"].items()},
    }


def environment_summary(device: torch.device, num_processes: int) -> tuple[dict[str, Any], dict[str, str]]:
    """(hardware, software versions) of this run for ``training.json``."""
    import accelerate
    import timm
    import transformers

    from .. import __version__

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU: {platform.processor() or platform.machine()} ({os.cpu_count()} logical cores)"
    per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", num_processes))
    hardware = {"device": device.type, "name": name, "num_processes": num_processes,
                "num_machines": max(1, num_processes // per_machine)}
    software = {"python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__,
                "accelerate": accelerate.__version__, "transformers": transformers.__version__,
                "dabnet_zoo": __version__}
    return hardware, software


def build_training_record(
    recipe: RecipeConfig,
    state: TrainingState,
    *,
    config_path: str | os.PathLike,
    plan: BatchPlan,
    mixed_precision: str,
    sync_bn: bool,
    hardware: Mapping[str, Any],
    software: Mapping[str, str],
    command: str,
    date: str | None = None,
) -> dict[str, Any]:
    """The ``training.json`` record of a finished run (``state.final_eval`` set), keys in schema order."""
    schedule = recipe.schedule
    record = {
        "schema": TRAINING_SCHEMA,
        "model": recipe.name,
        "variant": recipe.model,
        "dataset": recipe.dataset,
        "recipe": str(config_path),
        "description": recipe.description,
        "original_config": recipe.original_config,
        "init": recipe.init,
        "iterations": state.step,
        "max_iters": schedule.max_iters,
        "batch": plan.to_dict(),
        "optimizer": recipe.to_dict()["optimizer"],
        "lr_schedule": {"policy": "poly", "base_lr": recipe.optimizer.lr, "power": schedule.power,
                        "min_lr": schedule.min_lr, "warmup": "linear" if schedule.warmup_iters else None,
                        "warmup_iters": schedule.warmup_iters, "warmup_ratio": schedule.warmup_ratio,
                        "by": "iteration"},
        "loss_weights": list(recipe.loss_weights),
        "mixed_precision": str(mixed_precision),
        "sync_bn": sync_bn,
        "freeze_bn": recipe.freeze_bn,
        "seed": recipe.seed,
        "wall_time_s": round(state.wall_time, 1),
        "hardware": dict(hardware),
        "software": dict(software),
        "evaluations": list(state.evaluations),
        "final_eval": state.final_eval,
        "resumed_from": list(state.resumed_from),
        "outputs": {"final": FINAL_DIR, "config": RESOLVED_CONFIG_FILE, "checkpoints": CHECKPOINTS_DIR,
                    "logs": LOGS_DIR},
        "command": command,
        "date": date or datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return {key: record[key] for key in TRAINING_KEYS}


def write_training_results(path: str | os.PathLike, data: Mapping[str, Any]) -> Path:
    """Write ``training.json`` atomically after validating it (:func:`dabnet_zoo.results.validate_training_record`),
    so a bad record fails when the run ends, not later when a card is rendered from it.

    Raises:
        ResultsError: the record does not follow the schema, or lacks the final evaluation (a finished run always
            has one; writing it without would erase the run's result from its card).
    """
    validate_training_record(dict(data))
    if data["final_eval"] is None:
        raise ResultsError(f"{path}: a training record without its final evaluation is never written.")
    ordered = {key: data[key] for key in TRAINING_KEYS}
    return write_atomic(path, json.dumps(ordered, indent=2, allow_nan=False) + "\n")


def finished_run(output_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The training record of a finished run in ``output_dir`` (``training.json`` with its final evaluation, and
    ``final/``), or ``None`` when the run is not finished (a damaged record counts as not finished)."""
    output_dir = Path(output_dir)
    path = output_dir / TRAINING_RESULTS_FILE
    if not path.is_file() or not (output_dir / FINAL_DIR).is_dir():
        return None
    try:
        record = load_training_record(path)
    except DabnetZooError as error:
        logger.warning("%s is damaged (%s); the run counts as unfinished.", path, error)
        return None
    if record["final_eval"] is None or record["iterations"] < record["max_iters"]:
        return None
    return record


__all__ = [
    "CHECKPOINTS_DIR",
    "FINAL_DIR",
    "LOGS_DIR",
    "TRAINING_KEYS",
    "TRAINING_RESULTS_FILE",
    "TRAINING_SCHEMA",
    "build_training_record",
    "environment_summary",
    "final_eval_record",
    "finished_run",
    "write_training_results",
]
