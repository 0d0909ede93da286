"""Checkpoints of a training run that resume it exactly and never execute anything they contain.

A checkpoint is a folder ``checkpoints/checkpoint_<iteration>/`` holding only data formats:

* ``model.safetensors``: every parameter and buffer of the model (batch-norm statistics included);
* ``optimizer.safetensors``: the tensors of the optimiser's state (momentum, Adam moments) and of the scheduler;
* ``resume.json`` (:data:`RESUME_FILE`, written last): the format, the iteration, the recipe and batch plan, the
  loop counters (:class:`TrainingState`), the structure of the optimiser, scheduler and gradient-scaler states
  (numbers and strings; tensors refer to ``optimizer.safetensors`` by key), every process's random-number
  generator states (Python, NumPy, torch CPU and CUDA), and the size and sha256 of both tensor files.

Reading one (:func:`read_checkpoint`) parses JSON and safetensors and nothing else: there is no pickle, so a
checkpoint from someone else can hold wrong numbers but cannot run code, and any other file in the folder
(``*.pkl``, ``*.bin``) is ignored. Accelerate's ``save_state``/``load_state`` are not used for this reason: they
unpickle the state of every object registered with ``register_for_checkpointing``.

A folder is written through :func:`dabnet_zoo.fileio.publish_dir` (complete or not at all; a full disk is one
:class:`~dabnet_zoo.errors.NoSpaceError` line and leaves no stage behind). A checkpoint whose files do not match
their recorded sha256 (a damaged disk, a truncated copy) is refused; :meth:`CheckpointManager.resolve` then falls
back, with a warning, to the previous complete one.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError, RecipeError
from ..fileio import no_space_error, publish_dir
from ..weights import sha256_of

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "dabnet-zoo/checkpoint/v1"
RESUME_FILE = "resume.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
# JSON files are small; this margin covers them (and file-system overhead) in the free-space check.
_JSON_MARGIN_BYTES = 2**20


class TrainingState:
    """The loop's own counters, saved in every checkpoint (:meth:`state_dict` is plain JSON data)."""

    def __init__(self) -> None:
        self.step = 0  # optimiser steps (iterations) done
        self.wall_time = 0.0  # seconds spent training, summed over resumed runs
        self.evaluations: list[dict[str, Any]] = []  # {"iteration", metrics…} of every periodic evaluation
        self.resumed_from: list[str] = []
        # The evaluation after the last iteration, as ``training.json`` records it: kept in the checkpoint so that a
        # run killed after its last checkpoint can finish without evaluating again.
        self.final_eval: dict[str, Any] | None = None

    def record_evaluation(self, record: Mapping[str, Any]) -> None:
        """Add ``{"iteration", metrics…}``, replacing an earlier evaluation of the same iteration."""
        self.evaluations = [e for e in self.evaluations if e["iteration"] != record["iteration"]] + [dict(record)]

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "wall_time": self.wall_time, "evaluations": list(self.evaluations),
                "resumed_from": list(self.resumed_from), "final_eval": self.final_eval}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        self.wall_time = float(state.get("wall_time", 0.0))
        self.evaluations = list(state.get("evaluations", []))
        self.resumed_from = list(state.get("resumed_from", []))
        self.final_eval = state.get("final_eval")


# --------------------------------------------------------------------------------------------------------------
# Nested state <-> JSON + tensors
# --------------------------------------------------------------------------------------------------------------


def _encode(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON data for a nested state (``optimizer.state_dict()``); tensors go into ``tensors`` under ``key``.

    Containers become one-key objects (``{"dict": …}``, ``{"items": [[k, v], …]}`` for non-string keys,
    ``{"list": …}``, ``{"tuple": …}``, ``{"tensor": key}``) so that :func:`_decode` restores them exactly.
    """
    if isinstance(value, torch.Tensor):
        tensors[key] = value.detach().to("cpu").contiguous()
        return {"tensor": key}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value):
            return {"dict": {k: _encode(v, f"{key}.{k}", tensors) for k, v in value.items()}}
        if not all(isinstance(k, (int, str)) and not isinstance(k, bool) for k in value):
            raise TypeError(f"{key}: only string or integer keys can be saved, got {list(value)[:4]}")
        return {"items": [[k, _encode(v, f"{key}.{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{key}: a {type(value).__name__} cannot be saved in a checkpoint (JSON + safetensors only)")


def _decode(data: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if not isinstance(data, dict):
        return data
    if len(data) != 1:
        raise ValueError(f"unexpected object {sorted(data)[:4]}")
    (kind, value), = data.items()
    if kind == "tensor":
        if value not in tensors:
            raise ValueError(f"the tensor {value!r} is missing")
        return tensors[value]
    if kind == "dict":
        return {k: _decode(v, tensors) for k, v in value.items()}
    if kind == "items":
        return {k: _decode(v, tensors) for k, v in value}
    if kind in ("list", "tuple"):
        items = [_decode(v, tensors) for v in value]
        return items if kind == "list" else tuple(items)
    raise ValueError(f"unknown kind {kind!r}")


# --------------------------------------------------------------------------------------------------------------
# Random-number generators
# --------------------------------------------------------------------------------------------------------------


def _bytes_of(state: torch.Tensor) -> str:
    return base64.b64encode(state.cpu().numpy().tobytes()).decode("ascii")


def _tensor_of(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def capture_rng_state() -> dict[str, Any]:
    """This process's generator states (Python, NumPy's global one, torch CPU and every CUDA device) as JSON."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": _encode(random.getstate(), "python", {}),
        "numpy": {"kind": kind, "keys": keys.tolist(), "position": int(position), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "torch": _bytes_of(torch.get_rng_state()),
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_bytes_of(s) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Set this process's generators to a :func:`capture_rng_state` result."""
    random.setstate(_decode(state["python"], {}))
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], np.asarray(numpy["keys"], dtype=np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    torch.set_rng_state(_tensor_of(state["torch"]))
    if state["cuda"]:
        torch.cuda.set_rng_state_all([_tensor_of(s) for s in state["cuda"]])


# --------------------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """Everything one checkpoint folder holds, read and verified (:func:`read_checkpoint`)."""

    path: Path
    step: int
    info: dict[str, Any]  # recipe, batch, world_size: what the run was
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any] | None
    training: dict[str, Any]
    rng: list[dict[str, Any]] = field(default_factory=list)  # one per process


def read_resume_info(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """The ``resume.json`` of a checkpoint folder (what the run was: recipe, batch plan, iteration)."""
    path = Path(checkpoint) / RESUME_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} cannot be read ({error}); the checkpoint is damaged.") from None
    if not isinstance(info, dict) or info.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path.parent} is not a {CHECKPOINT_FORMAT} checkpoint (an older dabnet-zoo wrote accelerate's "
            "pickled state, which --resume never loads); resume from a checkpoint of this version or start again."
        )
    return info


def read_checkpoint(checkpoint: str | os.PathLike) -> Checkpoint:
    """Read and verify a checkpoint folder without executing anything in it.

    Raises:
        CheckpointError: the folder is not a complete checkpoint of this format, a file is missing, its size or
            sha256 differs from ``resume.json``, or its content does not parse.
    """
    folder = Path(checkpoint)
    info = read_resume_info(folder)
    try:
        for name, expected in info["files"].items():
            path = folder / name
            if not path.is_file() or path.stat().st_size != expected["bytes"] or sha256_of(path) != expected["sha256"]:
                raise CheckpointError(f"{path} is missing or damaged (its size or sha256 differs from {RESUME_FILE}).")
        model = load_file(folder / MODEL_FILE)
        tensors = load_file(folder / OPTIMIZER_FILE)
        return Checkpoint(
            path=folder, step=int(info["step"]),
            info={key: info[key] for key in ("recipe", "batch", "world_size")},
            model=model, optimizer=_decode(info["optimizer"], tensors), scheduler=_decode(info["scheduler"], tensors),
            scaler=_decode(info["scaler"], tensors), training=dict(info["training"]), rng=list(info["rng"]),
        )
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, OSError, SafetensorError) as error:
        raise CheckpointError(f"{folder} is damaged: {type(error).__name__}: {error}.") from None


# --------------------------------------------------------------------------------------------------------------
# The checkpoints of a run
# --------------------------------------------------------------------------------------------------------------


class CheckpointManager:
    """``checkpoint_<step>`` folders under ``directory``, written atomically, the last ``keep`` kept.

    Every process calls :meth:`save` and :meth:`restore` at the same point of the loop. The main process writes
    the folder (the other processes send it their generator states), so only the resume needs a file system
    that every process can read.
    """

    PREFIX = "checkpoint_"

    def __init__(self, directory: str | os.PathLike, keep: int | None = None) -> None:
        if keep is not None and keep < 1:
            raise RecipeError(f"--keep-checkpoints must be >= 1, got {keep}.")
        self.directory = Path(directory)
        self.keep = keep

    def path(self, step: int) -> Path:
        return self.directory / f"{self.PREFIX}{step}"

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints (with their ``resume.json``), oldest first; their content is not verified."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir() if p.is_dir() and p.name.startswith(self.PREFIX)
                 and p.name[len(self.PREFIX):].isdigit() and (p / RESUME_FILE).is_file()]
        return sorted(found, key=lambda p: int(p.name[len(self.PREFIX):]))

    def latest(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def save(self, accelerator: Any, step: int, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: Any, state: TrainingState, info: Mapping[str, Any]) -> Path:
        """Write ``checkpoint_<step>`` (see the module docstring); call it on every process.

        ``info`` is what the run was (``recipe``, ``batch``, ``world_size``); :meth:`restore` checks nothing in it,
        the recipe compares it. Raises :class:`~dabnet_zoo.errors.NoSpaceError` (nothing written) when the disk
        cannot hold the checkpoint.
        """
        from accelerate.utils import gather_object

        from ..evaluation import _raise_together

        rng = gather_object([capture_rng_state()])  # every process's generators, in process order
        final = self.path(step)
        error = None
        if accelerator.is_main_process:
            try:
                self._write(final, step, accelerator.unwrap_model(model).state_dict(), optimizer, scheduler,
                            getattr(accelerator, "scaler", None), state, info, rng)
            except Exception as caught:  # noqa: BLE001 -- raised below, on every process together
                error = caught
        _raise_together(accelerator, error)
        accelerator.wait_for_everyone()
        return final

    def _write(self, final: Path, step: int, model_state: Mapping[str, torch.Tensor], optimizer: Any,
               scheduler: Any, scaler: Any, state: TrainingState, info: Mapping[str, Any],
               rng: list[dict[str, Any]]) -> None:
        model_tensors = {k: v.detach().to("cpu").contiguous() for k, v in model_state.items()}
        tensors: dict[str, torch.Tensor] = {}
        structure = {
            "optimizer": _encode(optimizer.state_dict(), "optimizer", tensors),
            "scheduler": _encode(scheduler.state_dict(), "scheduler", tensors),
            "scaler": _encode(scaler.state_dict(), "scaler", tensors) if scaler is not None else None,
        }
        needed = sum(t.numel() * t.element_size() for t in (*model_tensors.values(), *tensors.values()))
        needed += _JSON_MARGIN_BYTES
        self.directory.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(self.directory).free < needed:  # refuse before filling the disk
            raise no_space_error(final, needed)
        with publish_dir(final, overwrite=True, expected_bytes=needed) as stage:
            save_file(model_tensors, stage / MODEL_FILE, metadata={"format": CHECKPOINT_FORMAT})
            save_file(tensors, stage / OPTIMIZER_FILE, metadata={"format": CHECKPOINT_FORMAT})
            files = {name: {"bytes": (stage / name).stat().st_size, "sha256": sha256_of(stage / name)}
                     for name in (MODEL_FILE, OPTIMIZER_FILE)}
            resume = {"format": CHECKPOINT_FORMAT, "step": step, **dict(info), "training": state.state_dict(),
                      **structure, "rng": rng, "files": files}
            (stage / RESUME_FILE).write_text(json.dumps(resume, indent=1) + "\n")  # last: marks it complete
        if self.keep is not None:
            for old in self.checkpoints()[:-self.keep]:
                (old / RESUME_FILE).unlink(missing_ok=True)  # no longer complete, even if the removal is cut short
                shutil.rmtree(old, ignore_errors=True)

    def candidates(self) -> list[Path]:
        """Complete checkpoints, newest first: the order :meth:`resolve` tries them."""
        return self.checkpoints()[::-1]

    @classmethod
    def resolve(cls, path: str | os.PathLike) -> Checkpoint:
        """Read the checkpoint ``--resume PATH`` names: the folder itself, or the newest readable one in a run
        folder (``PATH/checkpoints``) or a checkpoints folder.

        A damaged newest checkpoint is skipped with a warning naming it, for the one before; a checkpoint folder
        named explicitly must be readable itself.
        """
        path = Path(path)
        if (path / RESUME_FILE).is_file():
            return read_checkpoint(path)
        for directory in (path / "checkpoints", path):
            candidates = cls(directory).candidates()
            for candidate in candidates:
                try:
                    return read_checkpoint(candidate)
                except CheckpointError as error:
                    logger.warning("Skipping checkpoint %s: %s", candidate.name, error)
            if candidates:
                raise CheckpointError(f"No readable checkpoint in {directory}: every one is damaged (see the "
                                      "warnings); start the run again in a new --output-dir.")
        raise RecipeError(f"No complete checkpoint in {path} (looked for {cls.PREFIX}<step>/{RESUME_FILE} in "
                          f"{path / 'checkpoints'} and {path}).")


def restore_checkpoint(checkpoint: Checkpoint, accelerator: Any, *, model: torch.nn.Module,
                       optimizer: torch.optim.Optimizer, scheduler: Any, state: TrainingState) -> bool:
    """Put a run back where ``checkpoint`` was saved: weights and buffers, optimiser, scheduler, gradient scaler,
    loop counters and, when the number of processes is unchanged, every process's generators.

    Returns whether the generators were restored (with another number of processes they cannot be: the caller
    seeds them, and the run continues correctly but not bit for bit as an uninterrupted one would).
    """
    try:
        accelerator.unwrap_model(model).load_state_dict(checkpoint.model, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{checkpoint.path} does not fit this model: {error}".splitlines()[0]) from None
    optimizer.load_state_dict(checkpoint.optimizer)
    scheduler.load_state_dict(checkpoint.scheduler)
    scaler = getattr(accelerator, "scaler", None)
    if scaler is not None and checkpoint.scaler:
        scaler.load_state_dict(checkpoint.scaler)
    state.load_state_dict(checkpoint.training)
    if len(checkpoint.rng) != accelerator.num_processes:
        return False
    restore_rng_state(checkpoint.rng[accelerator.process_index])
    return True


__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "CheckpointManager",
    "MODEL_FILE",
    "OPTIMIZER_FILE",
    "RESUME_FILE",
    "TrainingState",
    "capture_rng_state",
    "read_checkpoint",
    "read_resume_info",
    "restore_checkpoint",
    "restore_rng_state",
]
