"""The recipe schema: what a run trains, read from ``recipes/configs/<variant>.<dataset>.yaml``.

What the original trained with (see docs/architecture.md) is written in those files and read into a
:class:`RecipeConfig`. Reading is strict: unknown keys, mistyped values and impossible combinations raise
:class:`~dabnet_zoo.errors.RecipeError` naming the key, so a typo never silently trains something else. How a run
executes (devices, precision, output folder) is not part of a recipe: those are ``recipes/train.py`` flags.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RecipeError
from ..presets import DATASETS
from ..registry import VARIANTS

# The resolved recipe of a run, written into its output folder (``--resume`` reads it back).
RESOLVED_CONFIG_FILE = "config.yaml"


@dataclass(frozen=True)
class DataConfig:
    """The training data and its augmentation (see docs/architecture.md); sizes are (height, width).

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
    from ..configuration_dabnet import DabnetConfig

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


__all__ = [
    "BatchConfig",
    "DataConfig",
    "OptimizerConfig",
    "RESOLVED_CONFIG_FILE",
    "RecipeConfig",
    "ScheduleConfig",
    "dump_recipe",
    "load_recipe",
    "recipe_from_dict",
]
