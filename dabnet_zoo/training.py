"""The reusable parts of the training recipe (``recipes/train.py``), so that the script stays a thin loop.

What the original trained with (reference spec §9) lives in ``recipes/configs/<variant>.<dataset>.yaml`` and is
read into a :class:`RecipeConfig` (unknown keys are an error naming them). This module turns a recipe into the
pieces of a run:

* :class:`PolyWarmupLR`, the original's learning-rate policy exactly (mmcv ``poly`` with ``min_lr`` and linear
  warm-up, stepped once per iteration); :func:`poly_lr` is the formula itself;
* :func:`create_optimizer`: SGD with weight decay on *all* parameters (one group, as the original) or Adam;
* :func:`plan_batches`: per-device batch x processes x gradient accumulation = the recipe's global batch, kept
  when the number of processes changes (an error when it cannot be kept exactly);
* :func:`load_backbone_weights`: ImageNet initialisation of the context path *after* construction (timm's Hub
  weights, the original's ``open-mmlab://resnet18_v1c`` checkpoint, or a local file in timm or mmcv key names);
* :func:`convert_sync_batchnorm` (multi-process CUDA only, timm's converter) and :func:`freeze_batch_norm`;
* :class:`GlobalBatchSampler`: every global batch holds the same samples whatever the number of processes and
  accumulation steps, and the position in the data is a pure function of the iteration (exact resume);
* :class:`CheckpointManager`: atomic ``save_state`` folders (temporary folder, then rename), last K kept;
* :func:`write_training_results`: the ``training.json`` that model cards read (:data:`TRAINING_SCHEMA`).

Nothing here imports ``accelerate`` (:class:`CheckpointManager` takes the run's accelerator as an argument), and the
package never imports the recipes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import ConcatDataset, Dataset, Sampler

from .convert import rename_original_key
from .errors import CheckpointError, RecipeError
from .presets import DATASETS
from .registry import VARIANTS

logger = logging.getLogger(__name__)

TRAINING_SCHEMA = "dabnet-zoo/training/v1"
TRAINING_RESULTS_FILE = "training.json"
RESOLVED_CONFIG_FILE = "config.yaml"
RESUME_FILE = "resume.json"

# Where each context path's ImageNet weights came from in the original (spec §9.1).
DEFAULT_BACKBONE_WEIGHTS = {
    "resnet18_v1c": "open-mmlab://resnet18_v1c",
    "efficientnet_b1": "timm:efficientnet_b1.ft_in1k",
}
# mmcv's ``open-mmlab://`` names used by DABNet's configs → download URL (the file name carries the sha256 prefix
# that torch.hub checks).
OPENMMLAB_URLS = {
    "resnet18_v1c": "https://download.openmmlab.com/pretrain/third_party/resnet18_v1c-b5776b93.pth",
}
# Keys of ImageNet classification heads that a backbone (features only) does not have: ignored when loading.
_CLASSIFIER_PREFIXES = ("fc.", "classifier.", "conv_head.", "bn2.", "head.", "global_pool.")


# --------------------------------------------------------------------------------------------------------------
# Recipe configuration
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """The training data and its augmentation (spec §9.2-9.6); sizes are (height, width).

    ``train_split`` may join several splits with ``+`` (CamVid trains on ``train+val``). ``scale`` and
    ``crop_size`` default (null) to the dataset's original values (``TRAIN_SCALES`` and the preset's crop);
    ``eval_size`` (null) to the preset's test size. ``num_workers`` is the per-process loader worker count
    (the original used 8 per GPU; ``--num-workers`` overrides it).
    """

    train_split: str = "train"
    val_split: str = "val"
    scale: tuple[int, int] | None = None
    crop_size: tuple[int, int] | None = None
    ratio_range: tuple[float, float] = (0.5, 2.0)
    cat_max_ratio: float = 0.75
    flip_prob: float = 0.5
    photometric: bool = True
    eval_size: tuple[int, int] | None = None
    num_workers: int = 8


@dataclass(frozen=True)
class BatchConfig:
    """The global batch (what the optimiser sees per step) and the per-process batch the original used."""

    global_batch_size: int
    per_device_batch_size: int


@dataclass(frozen=True)
class OptimizerConfig:
    """``name`` is ``sgd`` (momentum, weight_decay) or ``adam`` (betas, eps, weight_decay)."""

    name: str
    lr: float
    momentum: float = 0.9
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


@dataclass(frozen=True)
class ScheduleConfig:
    """mmcv's ``poly`` policy with ``min_lr``, stepped per iteration, with an optional linear warm-up."""

    max_iters: int
    power: float = 0.9
    min_lr: float = 1e-4
    warmup_iters: int = 0
    warmup_ratio: float = 0.1


_OPTIMIZER_KEYS = {
    "sgd": {"name", "lr", "momentum", "weight_decay"},
    "adam": {"name", "lr", "betas", "eps", "weight_decay"},
}


@dataclass(frozen=True)
class RecipeConfig:
    """One training recipe: *what* is trained. How it runs (devices, precision, output) comes from flags.

    Attributes:
        model: a variant name (``dabnet_r18_p2``).
        dataset: a dataset preset (``cityscapes``, ``camvid``, ``coco_stuff10k``, ``coco_stuff164k``); it also
            selects the reader of the data root.
        data, batch, optimizer, schedule: see their classes.
        init: backbone ImageNet weights (see :func:`load_backbone_weights`), or null for timm's random init.
        loss_weights: (decode, auxiliary 1/8, auxiliary 1/16); the decode weight must be 1.0 (the model's).
        model_overrides: extra :class:`~dabnet_zoo.DabnetConfig` fields (e.g. ``classifier_dropout_prob``).
        eval_every, checkpoint_every: iterations between evaluations / checkpoints (0 = only at the end);
            ``--eval-every`` / ``--checkpoint-every`` override them.
        sync_bn: synchronise batch-norm statistics over processes (applied on multi-process CUDA only).
        freeze_bn: keep every batch-norm layer in eval mode (running statistics fixed, affine parameters still
            trained). Makes a step independent of how the global batch is split over processes.
        seed: seeds model initialisation, data order and augmentation.
        description, original_config, notes: provenance, copied into ``training.json``.
    """

    model: str
    dataset: str
    batch: BatchConfig
    optimizer: OptimizerConfig
    schedule: ScheduleConfig
    data: DataConfig = field(default_factory=DataConfig)
    init: str | None = None
    loss_weights: tuple[float, float, float] = (1.0, 0.4, 0.4)
    model_overrides: dict[str, Any] = field(default_factory=dict)
    eval_every: int = 8000
    checkpoint_every: int = 8000
    sync_bn: bool = True
    freeze_bn: bool = False
    seed: int = 0
    description: str = ""
    original_config: str | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _validate_recipe(self)

    @property
    def name(self) -> str:
        """``variant.dataset``, the zoo name of what this recipe trains."""
        return f"{self.model}.{self.dataset}"

    def replace(self, **changes: Any) -> RecipeConfig:
        """A copy with top-level fields replaced; nested ones with ``"section.field"`` keys
        (``replace(**{"schedule.max_iters": 10})``)."""
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if name:
                nested.setdefault(section, {})[name] = value
            else:
                top[key] = value
        for section, values in nested.items():
            if section not in _SECTIONS:
                raise RecipeError(f"{section!r} is not a section of a recipe ({', '.join(_SECTIONS)}).")
            top[section] = dataclasses.replace(getattr(self, section), **values)
        return dataclasses.replace(self, **top)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-ready data (tuples as lists) in reading order; :func:`recipe_from_dict` reads it back."""
        data = _plain(dataclasses.asdict(self))
        optimizer = data["optimizer"]
        data["optimizer"] = {k: optimizer[k] for k in ("name", "lr", "momentum", "betas", "eps", "weight_decay")
                             if k in _OPTIMIZER_KEYS[optimizer["name"]]}
        return {key: data[key] for key in _FIELD_ORDER}


# DabnetConfig fields that a recipe sets through other keys (the variant, loss_weights).
_NOT_OVERRIDABLE = {"context_path", "patch_size", "auxiliary_loss_weights"}
_FIELD_ORDER = ("description", "original_config", "notes", "model", "dataset", "init", "model_overrides",
                "loss_weights", "data", "batch", "optimizer", "schedule", "eval_every", "checkpoint_every", "sync_bn",
                "freeze_bn", "seed")
_SECTIONS = {"data": DataConfig, "batch": BatchConfig, "optimizer": OptimizerConfig, "schedule": ScheduleConfig}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _validate_recipe(recipe: RecipeConfig) -> None:
    problems: list[str] = []
    if recipe.model not in VARIANTS:
        problems.append(f"model {recipe.model!r} is not a variant ({', '.join(VARIANTS)})")
    if recipe.dataset not in DATASETS:
        problems.append(f"dataset {recipe.dataset!r} is not a dataset preset ({', '.join(DATASETS)})")
    batch, optimizer, schedule, data = recipe.batch, recipe.optimizer, recipe.schedule, recipe.data
    if batch.global_batch_size < 1 or batch.per_device_batch_size < 1:
        problems.append("batch sizes must be >= 1")
    elif batch.global_batch_size % batch.per_device_batch_size:
        problems.append(f"batch.global_batch_size {batch.global_batch_size} is not a multiple of "
                        f"batch.per_device_batch_size {batch.per_device_batch_size}")
    if optimizer.name not in _OPTIMIZER_KEYS:
        problems.append(f"optimizer.name must be one of {sorted(_OPTIMIZER_KEYS)}, got {optimizer.name!r}")
    if not optimizer.lr > 0:
        problems.append(f"optimizer.lr must be > 0, got {optimizer.lr}")
    if optimizer.weight_decay < 0:
        problems.append(f"optimizer.weight_decay must be >= 0, got {optimizer.weight_decay}")
    if schedule.max_iters < 1:
        problems.append(f"schedule.max_iters must be >= 1, got {schedule.max_iters}")
    if schedule.warmup_iters < 0 or not 0 < schedule.warmup_ratio <= 1:
        problems.append("schedule.warmup_iters must be >= 0 and schedule.warmup_ratio in (0, 1]")
    if schedule.min_lr < 0 or schedule.min_lr > optimizer.lr:
        problems.append(f"schedule.min_lr must be in [0, optimizer.lr], got {schedule.min_lr}")
    if len(recipe.loss_weights) != 3 or recipe.loss_weights[0] != 1.0:
        problems.append(f"loss_weights must be [1.0, aux_8, aux_16] (the model weights the decode head by 1.0), "
                        f"got {list(recipe.loss_weights)}")
    for name in ("scale", "crop_size", "eval_size"):
        size = getattr(data, name)
        if size is not None and (len(size) != 2 or min(size) < 2):
            problems.append(f"data.{name} must be [height, width] (each >= 2) or null, got {size}")
    if not 0 < data.ratio_range[0] <= data.ratio_range[1]:
        problems.append(f"data.ratio_range must be 0 < low <= high, got {list(data.ratio_range)}")
    if data.num_workers < 0:
        problems.append("data.num_workers must be >= 0")
    for name in ("eval_every", "checkpoint_every"):
        if getattr(recipe, name) < 0:
            problems.append(f"{name} must be >= 0 (0: only at the end)")
    from .configuration_dabnet import DabnetConfig

    settable = set(DabnetConfig.__annotations__) - _NOT_OVERRIDABLE
    unknown = sorted(set(recipe.model_overrides) - settable)
    if unknown:
        problems.append(f"model_overrides {unknown} are not settable DabnetConfig fields "
                        f"({', '.join(sorted(settable))}; the variant sets context_path/patch_size and "
                        "loss_weights the auxiliary weights)")
    if problems:
        raise RecipeError("Invalid recipe: " + "; ".join(problems) + ".")


# Scalar annotations (the text before any ``| None``) → (accepted types, what the message asks for).
_SCALARS = {"bool": ((bool,), "true or false"), "int": ((int,), "an integer"),
            "float": ((int, float), "a number"), "str": ((str,), "a string")}


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    """Coerce YAML values into the annotated field type, or raise naming the key."""
    text = str(annotation)
    base = text.split(" | ")[0]

    def fail(expected: str) -> RecipeError:
        return RecipeError(f"{where}: expected {expected}, got {value!r}.")

    if value is None:
        if "None" in text:
            return None
        raise fail(text.replace("typing.", ""))
    if base.startswith("tuple["):
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        element = "float" if "float" in base else "int" if "int" in base else "str"
        if "..." not in base and base.count(",") + 1 != len(value):
            raise fail(f"a list of {base.count(',') + 1} values")
        return tuple(_check_type(v, element, f"{where}[{i}]") for i, v in enumerate(value))
    if base.startswith("dict"):
        if not isinstance(value, Mapping):
            raise fail("a mapping")
        return dict(value)
    if base in _SCALARS:
        types, expected = _SCALARS[base]
        if isinstance(value, bool) != (base == "bool") or not isinstance(value, types):  # YAML true is no number
            raise fail(expected)
        return float(value) if base == "float" else value
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise RecipeError(f"{where or 'recipe'}: expected a mapping of keys, got {type(data).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    allowed = set(fields)
    if cls is OptimizerConfig and data.get("name") in _OPTIMIZER_KEYS:
        allowed = _OPTIMIZER_KEYS[data["name"]]
    unknown = sorted(set(data) - allowed)
    if unknown:
        prefix = f"{where}." if where else ""
        raise RecipeError(
            f"Unknown recipe key(s) {', '.join(prefix + k for k in unknown)}; valid keys"
            f"{' of ' + where if where else ''}: {', '.join(sorted(allowed))}."
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        if name in _SECTIONS and cls is RecipeConfig:
            kwargs[name] = _build(_SECTIONS[name], value, key)
        else:
            kwargs[name] = _check_type(value, fields[name].type, key)
    required = [f.name for f in fields.values()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in kwargs]
    if missing:
        prefix = f"{where}." if where else ""
        raise RecipeError(f"Recipe lacks required key(s): {', '.join(prefix + m for m in missing)}.")
    return cls(**kwargs)


def recipe_from_dict(data: Mapping[str, Any]) -> RecipeConfig:
    """A :class:`RecipeConfig` from plain data (a parsed YAML file); unknown or mistyped keys raise
    :class:`RecipeError` naming them."""
    return _build(RecipeConfig, data, "")


def load_recipe(path: str | os.PathLike) -> RecipeConfig:
    """Read and validate a recipe YAML file (``recipes/configs/<variant>.<dataset>.yaml``)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"Recipe file {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise RecipeError(f"{path} is not valid YAML: {error}") from None
    try:
        return recipe_from_dict(data or {})
    except RecipeError as error:
        raise RecipeError(f"{path}: {error}") from None


def dump_recipe(recipe: RecipeConfig, header: str = "") -> str:
    """The recipe as YAML text (keys in declaration order), optionally after a ``#`` comment header."""
    import yaml

    class Dumper(yaml.SafeDumper):  # mappings as blocks, lists inline: [1024, 1024]
        pass

    Dumper.add_representer(list, lambda dumper, value: dumper.represent_sequence(
        "tag:yaml.org,2002:seq", value, flow_style=all(not isinstance(v, str) or len(v) < 40 for v in value)))
    lines = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) if header else ""
    return lines + yaml.dump(recipe.to_dict(), Dumper=Dumper, sort_keys=False, width=110, allow_unicode=True)


# --------------------------------------------------------------------------------------------------------------
# Learning-rate schedule and optimiser
# --------------------------------------------------------------------------------------------------------------


def poly_lr(iteration: int, base_lr: float, max_iters: int, power: float = 0.9, min_lr: float = 1e-4,
            warmup_iters: int = 0, warmup_ratio: float = 0.1) -> float:
    """The learning rate of 0-based iteration ``iteration`` under the original's policy (spec §9.1).

    ``lr(i) = (base_lr − min_lr)·(1 − i/max_iters)^power + min_lr``, and for ``i < warmup_iters``
    ``lr(i)·(1 − (1 − i/warmup_iters)·(1 − warmup_ratio))``. Iterations past ``max_iters`` keep ``min_lr``.
    (mmcv logs the lr of iteration i as "Iter [i+1]": its 3.601e-3 at "iteration 50" is ``poly_lr(49, 0.025, …)``.)
    """
    progress = min(max(iteration, 0), max_iters) / max_iters
    lr = (base_lr - min_lr) * (1.0 - progress) ** power + min_lr
    if iteration < warmup_iters:
        lr *= 1.0 - (1.0 - iteration / warmup_iters) * (1.0 - warmup_ratio)
    return lr


class PolyWarmupLR(torch.optim.lr_scheduler.LRScheduler):
    """:func:`poly_lr` as a scheduler: call ``step()`` once per optimiser step (iteration).

    After ``k`` calls the learning rate is ``poly_lr(k, base_lr, …)`` for every parameter group's base lr; the
    state (``last_epoch`` = iterations done) round-trips through ``state_dict``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, max_iters: int, power: float = 0.9, min_lr: float = 1e-4,
                 warmup_iters: int = 0, warmup_ratio: float = 0.1, last_epoch: int = -1) -> None:
        self.max_iters = max_iters
        self.power = power
        self.min_lr = min_lr
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [poly_lr(self.last_epoch, base, self.max_iters, self.power, self.min_lr, self.warmup_iters,
                        self.warmup_ratio) for base in self.base_lrs]


def create_scheduler(optimizer: torch.optim.Optimizer, schedule: ScheduleConfig) -> PolyWarmupLR:
    """The recipe's per-iteration schedule on ``optimizer``."""
    return PolyWarmupLR(optimizer, schedule.max_iters, schedule.power, schedule.min_lr, schedule.warmup_iters,
                        schedule.warmup_ratio)


def create_optimizer(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    """SGD (momentum, weight decay on *all* parameters, BN and biases included) or Adam, one parameter group,
    as the original (no param-wise rules, spec §9.1)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=tuple(config.betas), eps=config.eps,
                                weight_decay=config.weight_decay)
    raise RecipeError(f"optimizer.name must be one of {sorted(_OPTIMIZER_KEYS)}, got {config.name!r}.")


# --------------------------------------------------------------------------------------------------------------
# Batch plan
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchPlan:
    """How a global batch is made: ``global_batch_size = per_device × num_processes × accumulation``."""

    per_device: int
    num_processes: int
    accumulation: int

    @property
    def global_batch_size(self) -> int:
        return self.per_device * self.num_processes * self.accumulation

    def describe(self) -> str:
        return (f"global batch {self.global_batch_size} = {self.per_device} per device x {self.num_processes} "
                f"process(es) x {self.accumulation} gradient accumulation step(s)")

    def to_dict(self) -> dict[str, int]:
        return {"per_device": self.per_device, "num_processes": self.num_processes,
                "accumulation": self.accumulation, "global": self.global_batch_size}


def plan_batches(global_batch_size: int, per_device_batch_size: int, num_processes: int) -> BatchPlan:
    """Keep the recipe's global batch on ``num_processes`` processes with gradient accumulation.

    Raises :class:`RecipeError` when ``per_device_batch_size × num_processes`` does not divide the global batch
    (the message suggests per-device sizes that work).
    """
    if min(global_batch_size, per_device_batch_size, num_processes) < 1:
        raise RecipeError("batch sizes and the number of processes must be >= 1.")
    per_step = per_device_batch_size * num_processes
    if global_batch_size % per_step:
        options = [b for b in range(1, global_batch_size + 1) if global_batch_size % (b * num_processes) == 0]
        hint = (f" Per-device sizes that keep it with {num_processes} process(es): {', '.join(map(str, options))}"
                if options else f" No per-device size keeps it with {num_processes} processes; use a number of "
                f"processes that divides {global_batch_size}")
        raise RecipeError(
            f"Cannot keep the global batch of {global_batch_size}: {per_device_batch_size} per device x "
            f"{num_processes} process(es) = {per_step} does not divide it.{hint} (--per-device-batch-size)."
        )
    return BatchPlan(per_device_batch_size, num_processes, global_batch_size // per_step)


# --------------------------------------------------------------------------------------------------------------
# Backbone initialisation
# --------------------------------------------------------------------------------------------------------------


def _backbone(model: nn.Module) -> nn.Module:
    for path in ("dabnet.backbone", "backbone"):
        try:
            return model.get_submodule(path)
        except AttributeError:
            continue
    raise TypeError(f"{type(model).__name__} has no DABNet context path (.dabnet.backbone or .backbone).")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _no_weights_message(source: str, why: str) -> str:
    return (f"No backbone weights could be had from {source!r}: {why}. Download them once where there is network "
            "access (they are cached), or pass a local file (--init PATH, timm or mmcv key names), or train "
            "from timm's random initialisation with --init none.")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    from timm.models import load_state_dict as timm_load_state_dict

    try:  # handles safetensors, {'state_dict': ...}/{'model': ...} wrappers and the 'module.' prefix
        state = timm_load_state_dict(str(path), use_ema=False, weights_only=True)
    except Exception as error:  # noqa: BLE001 -- any unreadable file gets the same clear message
        raise CheckpointError(f"{path} is not a readable weights file (torch or safetensors): {error}") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors.")
    return dict(state)


def _download_openmmlab(name: str) -> tuple[dict[str, torch.Tensor], str]:
    if name not in OPENMMLAB_URLS:
        raise CheckpointError(f"Unknown open-mmlab:// checkpoint {name!r}; known: {', '.join(OPENMMLAB_URLS)}.")
    url = OPENMMLAB_URLS[name]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    if not cached.is_file():
        if _offline():
            raise CheckpointError(_no_weights_message(
                f"open-mmlab://{name}", f"offline (HF_HUB_OFFLINE is set) and {cached} is not cached; the file is "
                f"{url}"))
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:  # torch.hub writes a temporary file and moves it into place only once its sha256 prefix matches
            torch.hub.download_url_to_file(url, str(cached), hash_prefix=cached.stem.rsplit("-", 1)[-1],
                                           progress=False)
        except Exception as error:  # noqa: BLE001 -- network and hash errors come in many types
            raise CheckpointError(_no_weights_message(f"open-mmlab://{name}",
                                                      f"downloading {url} failed ({error})")) from None
    return _read_state_dict(cached), str(cached)


def _download_timm(tag: str, source: str) -> dict[str, torch.Tensor]:
    import timm

    try:
        model = timm.create_model(tag, pretrained=True)
    except Exception as error:  # noqa: BLE001 -- hub, network and missing-tag errors alike
        why = f"offline (HF_HUB_OFFLINE is set) and not in the Hugging Face cache ({type(error).__name__})" \
            if _offline() else f"{type(error).__name__}: {error}"
        raise CheckpointError(_no_weights_message(source, why)) from None
    return model.state_dict()


def _is_timm_pretrained_tag(text: str) -> bool:
    import timm

    return "." in text and "/" not in text and bool(timm.list_pretrained(text))


def _to_backbone_keys(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Rename a state dict into timm's backbone key names; returns (state, detected format)."""
    keys = list(state)
    if any(k.startswith("backbone.backbone.") for k in keys):  # an original DABNet segmentor checkpoint
        fmt, renamed = "original DABNet checkpoint", {}
        for key, value in state.items():
            new = rename_original_key(key)
            if new is not None and new.startswith("dabnet.backbone."):
                renamed[new[len("dabnet.backbone."):]] = value
        return renamed, fmt
    if any(k.startswith("stem.") for k in keys):  # mmcv ResNetV1c (open-mmlab://resnet18_v1c)
        renamed = {}
        for key, value in state.items():
            new = rename_original_key("backbone.backbone." + key)
            renamed[new[len("dabnet.backbone."):] if new else key] = value
        return renamed, "mmcv ResNetV1c"
    if any(k.startswith("dabnet.backbone.") for k in keys):  # one of our own checkpoints
        return {k[len("dabnet.backbone."):]: v for k, v in state.items() if k.startswith("dabnet.backbone.")}, \
            "dabnet-zoo"
    return dict(state), "timm"


def load_backbone_weights(model: nn.Module, source: str | os.PathLike) -> dict[str, Any]:
    """Initialise a DABNet's context path (timm backbone) with ImageNet weights, after construction.

    Call it on a constructed model (transformers' ``post_init`` would overwrite weights loaded earlier,
    ecosystem note §0.2). ``source`` is one of:

    * ``"open-mmlab://resnet18_v1c"``: the original's ResNet-18 v1c checkpoint (mmcv key names ``stem.0…``),
      downloaded once into torch.hub's cache and checked against the sha256 prefix in its file name;
    * ``"timm:<arch>.<tag>"`` (e.g. ``timm:efficientnet_b1.ft_in1k``; the bare tag and ``hf-hub:ORG/NAME`` work
      too): timm's pretrained weights from the Hugging Face Hub (or its cache);
    * a local file (``.pth``/``.bin``/``.safetensors``) in timm key names (``conv1.0.weight``), mmcv ResNetV1c
      key names (``stem.0.weight``), an original DABNet checkpoint (``backbone.backbone.…``) or one of ours.

    Every backbone tensor must be present with the right shape (``num_batches_tracked`` may be absent);
    classification-head keys (``fc.``, ``classifier.``, ``conv_head.``, ``bn2.``) are ignored; anything else
    raises :class:`CheckpointError`, as does a source that cannot be had (offline: ``HF_HUB_OFFLINE=1``, or no
    network) — the message says how to get the weights. Returns a report (source, format, counts).
    """
    backbone = _backbone(model)
    text = str(source)
    where = text
    if text.startswith("open-mmlab://"):
        state, where = _download_openmmlab(text[len("open-mmlab://"):])
    elif text.startswith("timm:"):
        state = _download_timm(text[len("timm:"):], text)
    elif Path(text).is_file():
        state = _read_state_dict(Path(text))
    elif text.startswith("hf-hub:") or _is_timm_pretrained_tag(text):
        state = _download_timm(text, text)
    else:
        raise CheckpointError(
            f"Backbone weights {text!r} are neither a file, 'open-mmlab://NAME' ({', '.join(OPENMMLAB_URLS)}) nor "
            "'timm:ARCH.TAG' (e.g. timm:efficientnet_b1.ft_in1k)."
        )
    state, fmt = _to_backbone_keys(state)
    own = backbone.state_dict()
    ignored = sorted(k for k in state if k not in own and k.startswith(_CLASSIFIER_PREFIXES))
    unexpected = sorted(k for k in state if k not in own and k not in ignored)
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    mis_shaped = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                  for k in own if k in state and state[k].shape != own[k].shape]
    if unexpected or missing or mis_shaped:
        hint = ""
        if any(k.startswith("conv1.") for k in mis_shaped + missing) and "conv1.0.weight" in own:
            hint = (" DABNet's ResNet-18 is the v1c deep stem (three 3x3 convs); timm's resnet18 weights have a "
                    "single 7x7 stem conv and do not fit: use open-mmlab://resnet18_v1c.")
        parts = [f"{len(v)} {title}: {', '.join(v[:6])}{' …' if len(v) > 6 else ''}"
                 for title, v in (("unexpected keys", unexpected), ("missing keys", missing),
                                  ("mis-shaped tensors", mis_shaped)) if v]
        raise CheckpointError(f"Backbone weights {text!r} ({fmt} key names) do not fit the "
                              f"{model.config.context_path} context path: {'; '.join(parts)}.{hint}")
    backbone.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    loaded = sum(1 for k in state if k in own)
    logger.info("Backbone initialised from %s (%s key names): %d tensors, %d classifier keys ignored",
                where, fmt, loaded, len(ignored))
    return {"source": text, "file": where, "format": fmt, "loaded": loaded, "ignored": ignored}


# --------------------------------------------------------------------------------------------------------------
# Batch norm
# --------------------------------------------------------------------------------------------------------------


def convert_sync_batchnorm(model: nn.Module, device: torch.device | str, num_processes: int) -> tuple[nn.Module, bool]:
    """SyncBatchNorm over the processes, only where it works and matters: CUDA with more than one process.

    Uses timm's converter, which keeps timm's fused ``BatchNormAct2d`` activations (torch's converter silently
    drops them, and SyncBatchNorm raises on CPU). Returns (model, converted?).
    """
    if torch.device(device).type != "cuda" or num_processes < 2:
        return model, False
    from timm.layers import convert_sync_batchnorm as timm_convert_sync_batchnorm

    return timm_convert_sync_batchnorm(model), True


def freeze_batch_norm(model: nn.Module) -> int:
    """Put every batch-norm layer in eval mode (running statistics used and not updated); affine parameters
    keep training. Call after each ``model.train()``. Returns the number of layers frozen."""
    count = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
            count += 1
    return count


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


class ConcatSegmentationDataset(ConcatDataset):
    """Several splits as one training set (CamVid's ``train+val``), forwarding ``set_epoch``."""

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            dataset.set_epoch(epoch)


def create_train_dataset(recipe: RecipeConfig, root: str | os.PathLike, seed: int | None = None) -> Dataset:
    """The recipe's training set under ``root`` with the original augmentation, seeded per sample."""
    from .data import TrainTransform, create_dataset

    data = recipe.data
    overrides: dict[str, Any] = dict(ratio_range=tuple(data.ratio_range), cat_max_ratio=data.cat_max_ratio,
                                     flip_prob=data.flip_prob, photometric=data.photometric)
    if data.scale is not None:
        overrides["scale"] = tuple(data.scale)
    if data.crop_size is not None:
        overrides["crop_size"] = tuple(data.crop_size)
    transform = TrainTransform.from_preset(recipe.dataset, **overrides)
    seed = recipe.seed if seed is None else seed
    splits = data.train_split.split("+")
    parts = [create_dataset(recipe.dataset, root, split, transform=transform, seed=seed + 1_000_003 * i)
             for i, split in enumerate(splits)]
    return parts[0] if len(parts) == 1 else ConcatSegmentationDataset(parts)


def create_val_dataset(recipe: RecipeConfig, root: str | os.PathLike) -> Dataset:
    """The recipe's validation split under ``root`` with the test resize (the preset's, or ``data.eval_size``)
    and normalisation; labels keep their size, as the original evaluates (for ``evaluate_model``)."""
    from .data import TestTransform, create_dataset

    overrides = {"size": tuple(recipe.data.eval_size)} if recipe.data.eval_size else {}
    return create_dataset(recipe.dataset, root, recipe.data.val_split,
                          transform=TestTransform.from_preset(recipe.dataset, **overrides))


class GlobalBatchSampler(Sampler[list[int]]):
    """Batches of one process such that global batch ``k`` of an epoch is the same set of samples whatever the
    number of processes and gradient-accumulation steps.

    Epoch ``e`` shuffles the dataset with a generator seeded by ``(seed, e)``; global batch ``k`` is
    ``order[k·G : (k+1)·G]`` (G = global batch size) and is cut into ``num_processes × accumulation``
    micro-batches of ``per_device`` samples: process ``r`` gets micro-batches ``r, r + P, r + 2P, …``. The
    incomplete tail of an epoch is dropped (every step sees a full global batch). Because the order is a pure
    function of (seed, epoch), resuming at iteration ``i`` is ``set_epoch(i // steps_per_epoch,
    start_step=i % steps_per_epoch)``: nothing needs to be saved and no skipped batch is loaded.
    """

    def __init__(self, dataset_size: int, plan: BatchPlan, process_index: int = 0, seed: int = 0) -> None:
        if not 0 <= process_index < plan.num_processes:
            raise ValueError(f"process_index {process_index} is not in 0..{plan.num_processes - 1}")
        self.dataset_size = dataset_size
        self.plan = plan
        self.process_index = process_index
        self.seed = seed
        self.steps_per_epoch = dataset_size // plan.global_batch_size
        if self.steps_per_epoch < 1:
            raise RecipeError(f"The training set has {dataset_size} samples, fewer than one global batch "
                              f"({plan.describe()}).")
        self.epoch = 0
        self.start_step = 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        if not 0 <= start_step < self.steps_per_epoch:
            raise ValueError(f"start_step must be in 0..{self.steps_per_epoch - 1}, got {start_step}")
        self.epoch = epoch
        self.start_step = start_step

    def order(self, epoch: int) -> np.ndarray:
        """The shuffled sample order of ``epoch`` (the same on every process)."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))
        return rng.permutation(self.dataset_size)

    def __iter__(self) -> Iterator[list[int]]:
        plan, order = self.plan, self.order(self.epoch)
        for step in range(self.start_step, self.steps_per_epoch):
            for accumulation_step in range(plan.accumulation):
                start = step * plan.global_batch_size \
                    + (accumulation_step * plan.num_processes + self.process_index) * plan.per_device
                yield order[start:start + plan.per_device].tolist()

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.start_step) * self.plan.accumulation


# --------------------------------------------------------------------------------------------------------------
# Checkpoints and run state
# --------------------------------------------------------------------------------------------------------------


class TrainingState:
    """The loop counters that accelerate does not restore (register it with ``register_for_checkpointing``)."""

    def __init__(self) -> None:
        self.step = 0  # optimiser steps (iterations) done
        self.wall_time = 0.0  # seconds spent training, summed over resumed runs
        self.evaluations: list[dict[str, Any]] = []  # {"step", metrics…} of every periodic evaluation
        self.resumed_from: list[str] = []

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "wall_time": self.wall_time, "evaluations": list(self.evaluations),
                "resumed_from": list(self.resumed_from)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        self.wall_time = float(state.get("wall_time", 0.0))
        self.evaluations = list(state.get("evaluations", []))
        self.resumed_from = list(state.get("resumed_from", []))


class CheckpointManager:
    """``checkpoint_<step>`` folders under ``directory``, written atomically, the last ``keep`` kept.

    Every process calls :meth:`save` (each writes its RNG state); the state goes to ``.tmp-checkpoint_<step>``
    and the main process renames it once complete, so an interrupted save never looks like a checkpoint.
    The folder must be on a file system all processes share (as for ``accelerator.save_state``).
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
        """Complete checkpoints, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir() if p.is_dir() and p.name.startswith(self.PREFIX)
                 and p.name[len(self.PREFIX):].isdigit() and (p / RESUME_FILE).is_file()]
        return sorted(found, key=lambda p: int(p.name[len(self.PREFIX):]))

    def latest(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def save(self, accelerator: Any, step: int, info: Mapping[str, Any]) -> Path:
        final = self.path(step)
        temporary = self.directory / f".tmp-{final.name}"
        if accelerator.is_main_process:
            self.directory.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(temporary, ignore_errors=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(temporary))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (temporary / RESUME_FILE).write_text(json.dumps({"step": step, **info}, indent=2) + "\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(temporary, final)
            if self.keep is not None:
                for old in self.checkpoints()[:-self.keep]:
                    shutil.rmtree(old, ignore_errors=True)
        accelerator.wait_for_everyone()
        return final

    @classmethod
    def resolve(cls, path: str | os.PathLike) -> Path:
        """A checkpoint folder from ``--resume PATH``: the folder itself, or the latest one in an output folder
        (``PATH/checkpoints``) or a checkpoints folder."""
        path = Path(path)
        if (path / RESUME_FILE).is_file():
            return path
        for directory in (path / "checkpoints", path):
            latest = cls(directory).latest()
            if latest is not None:
                return latest
        raise RecipeError(f"No complete checkpoint in {path} (looked for {cls.PREFIX}<step>/{RESUME_FILE} in "
                          f"{path / 'checkpoints'} and {path}).")


def read_resume_info(checkpoint: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(checkpoint) / RESUME_FILE).read_text())


# --------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------

TRAINING_KEYS = (
    "schema", "model", "variant", "dataset", "recipe", "description", "original_config", "init", "iterations",
    "max_iters", "batch", "optimizer", "lr_schedule", "loss_weights", "mixed_precision", "sync_bn", "freeze_bn",
    "seed", "wall_time_s", "hardware", "software", "evaluations", "final_eval", "resumed_from", "outputs",
    "command", "date",
)


def write_training_results(path: str | os.PathLike, data: Mapping[str, Any]) -> Path:
    """Write ``training.json`` atomically after validating it (:func:`dabnet_zoo.results.validate_training_record`),
    so a bad record fails when the run ends, not later when a card is rendered from it."""
    from .results import validate_training_record, write_atomic

    validate_training_record(dict(data))
    ordered = {key: data[key] for key in TRAINING_KEYS}
    return write_atomic(path, json.dumps(ordered, indent=2, allow_nan=False) + "\n")


def environment_summary(device: torch.device) -> tuple[str, dict[str, str]]:
    """(hardware description, software versions) for ``training.json``."""
    import platform

    import accelerate
    import timm
    import transformers

    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        hardware = f"CPU: {platform.processor() or platform.machine()} ({os.cpu_count()} logical cores)"
    from . import __version__

    software = {"python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__,
                "accelerate": accelerate.__version__, "transformers": transformers.__version__,
                "dabnet_zoo": __version__}
    return hardware, software


__all__ = [
    "BatchConfig",
    "BatchPlan",
    "CheckpointManager",
    "ConcatSegmentationDataset",
    "DEFAULT_BACKBONE_WEIGHTS",
    "DataConfig",
    "GlobalBatchSampler",
    "OPENMMLAB_URLS",
    "OptimizerConfig",
    "PolyWarmupLR",
    "RESOLVED_CONFIG_FILE",
    "RecipeConfig",
    "RecipeError",
    "ScheduleConfig",
    "TRAINING_KEYS",
    "TRAINING_RESULTS_FILE",
    "TRAINING_SCHEMA",
    "TrainingState",
    "convert_sync_batchnorm",
    "create_optimizer",
    "create_scheduler",
    "create_train_dataset",
    "create_val_dataset",
    "dump_recipe",
    "environment_summary",
    "freeze_batch_norm",
    "load_backbone_weights",
    "load_recipe",
    "plan_batches",
    "poly_lr",
    "read_resume_info",
    "recipe_from_dict",
    "write_training_results",
]
