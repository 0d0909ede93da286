"""The results files that the recipes and the benchmark write and the model cards read: schemas, folders, I/O.

Two JSON schemas, each named by its ``schema`` key, both written only through this module (validated first,
then written atomically) and read back only through it (unknown schemas or keys are rejected with the file name),
plus the validator of a third, ``dabnet-zoo/training/v1`` (``training.json`` of ``recipes/train.py``, keys
:data:`TRAINING_KEYS`), which training cards read:

``dabnet-zoo/eval/v2``: one evaluation of one model on one split (``recipes/evaluate.py``)::

    {"schema": "dabnet-zoo/eval/v2", "model": str, "dataset": str, "evaluated_on": str, "split": str,
     "mode": "whole" | "slide" | "ms+flip", "test_size": [int, int], "keep_ratio": bool, "num_images": int,
     "metrics": {"mean_iou": float, "mean_accuracy": float, "overall_accuracy": float},
     "per_category_iou": {class_name: float | null}, "weights": str, "weights_sha256": str | null,
     "command": str, "date": str}

``dabnet-zoo/benchmark/v2``: one latency measurement of one model in one setting (``dabnet-zoo benchmark``)::

    {"schema": "dabnet-zoo/benchmark/v2", "model": str, "dataset": str, "weights_sha256": str | null,
     "backend": "eager" | "optimized" | "compile" | "onnxruntime" | "openvino" | "tensorrt",
     "precision": "fp32" | "fp16" | "bf16" | "int8",
     "device": "cpu" | "cuda", "hardware": str, "batch_size": int, "height": int, "width": int,
     "includes_resize_argmax": bool, "warmup": int, "iterations": int,
     "latency_ms": {"median": float, "p90": float, "mean": float}, "fps": float,
     "environment": {str: str}, "command": str, "date": str,
     "accuracy": null | {"reference": str, "data": str, "images": int, "label_agreement": float,
                         "mean_iou": float | null, "mean_iou_reference": float | null}}

``accuracy`` (absent in older files: null) is measured for reduced precisions: the fraction of pixels whose label
equals that of ``reference`` (the same model in FP32) on ``images`` images of ``data``, and with ground truth
the mIoU of both.

Metrics are fractions in 0..1 (a class absent from both prediction and ground truth has IoU null); ``model`` is
a zoo name (``dabnet_r18_p8`` or ``dabnet_r18_p8.cityscapes``) and ``dataset`` the label set of the model
(a dataset preset), ``date`` an ISO-8601 date or timestamp, ``command`` the exact command that produced the file.

A result says exactly what was measured, so that no number can end up describing something else:

* ``evaluated_on``: the images actually evaluated, ``dataset`` itself or :data:`SYNTHETIC` (the generated
  scenes of ``dabnet-zoo make-synthetic``, which use a preset's layout and labels but are not that dataset);
* ``test_size`` and ``keep_ratio``: the test resize (fit inside ``test_size`` keeping the aspect ratio, or
  exactly ``test_size``) and ``mode`` the inference mode, i.e. the protocol;
* ``weights_sha256``: sha256 of the ``model.safetensors`` measured, or null when unknown (random weights are
  never evaluated into a file). ``weights`` says where they came from (a folder, a Hub id@revision).

Model cards and ``dabnet-zoo push`` keep only the evaluations of the weights they describe, on the real dataset
(:func:`evaluations_of`). Speed does not depend on the weights' values, so a benchmark describes every set of
weights of its ``model`` and ``dataset``; ``fps`` is ``1000 * batch_size / median`` (the median latency).

Folders, relative to the repository root (one folder per ``variant.dataset``, any file names)::

    results/<variant>.<dataset>/*.json             evaluation results
    benchmarks/results/<variant>.<dataset>/*.json  benchmark results
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Union

from .errors import DabnetZooError, OutputExistsError, ResultsError
from .fileio import write_atomic
from .presets import DATASETS
from .registry import VARIANTS, split_model_name

logger = logging.getLogger(__name__)

EVAL_SCHEMA = "dabnet-zoo/eval/v2"
BENCHMARK_SCHEMA = "dabnet-zoo/benchmark/v2"
# Earlier schemas, refused with a hint: v1 records did not say which weights, data or test size they measured.
_OLD_SCHEMAS = {"dabnet-zoo/eval/v1": (EVAL_SCHEMA, "recipes/evaluate.py"),
                "dabnet-zoo/benchmark/v1": (BENCHMARK_SCHEMA, "dabnet-zoo benchmark")}
SYNTHETIC = "synthetic"
"""``evaluated_on`` of an evaluation on the synthetic scenes (``dabnet_zoo.data.synthetic``), never a real dataset."""
EVAL_RESULTS_DIR = "results"
BENCHMARK_RESULTS_DIR = "benchmarks/results"

EVAL_MODES = ("whole", "slide", "ms+flip")
EVAL_METRICS = ("mean_iou", "mean_accuracy", "overall_accuracy")
# "optimized" is dabnet_zoo.benchmark's BN-folded, channels-last eager path.
BACKENDS = ("eager", "optimized", "compile", "onnxruntime", "openvino", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
ACCURACY_KEYS = ("reference", "data", "images", "label_agreement", "mean_iou", "mean_iou_reference")
DEVICES = ("cpu", "cuda")
LATENCY_STATS = ("median", "p90", "mean")

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class EvaluationResult:
    """One ``dabnet-zoo/eval/v2`` record (see the module docstring); build it with :func:`validate_evaluation`."""

    model: str
    dataset: str
    evaluated_on: str
    split: str
    mode: str
    test_size: tuple[int, int]
    keep_ratio: bool
    num_images: int
    metrics: dict[str, float]
    per_category_iou: dict[str, float | None]
    weights: str
    weights_sha256: str | None
    command: str
    date: str
    schema: str = EVAL_SCHEMA
    source: Path | None = field(default=None, compare=False)

    @property
    def mean_iou(self) -> float:
        return self.metrics["mean_iou"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, keys in schema order."""
        data = {key: getattr(self, key) for key in _EVAL_KEYS}
        data["test_size"] = list(self.test_size)
        return data


@dataclass(frozen=True)
class BenchmarkResult:
    """One ``dabnet-zoo/benchmark/v2`` record (see the module docstring); build it with :func:`validate_benchmark`."""

    model: str
    dataset: str
    weights_sha256: str | None
    backend: str
    precision: str
    device: str
    hardware: str
    batch_size: int
    height: int
    width: int
    includes_resize_argmax: bool
    warmup: int
    iterations: int
    latency_ms: dict[str, float]
    fps: float
    environment: dict[str, str]
    command: str
    date: str
    accuracy: dict[str, Any] | None = None
    schema: str = BENCHMARK_SCHEMA
    source: Path | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, keys in schema order."""
        return {key: getattr(self, key) for key in _BENCHMARK_KEYS}


def _json_keys(record_class: type) -> tuple[str, ...]:
    """The JSON keys of a record class, in file order: ``schema`` first, then its fields (``source`` is not stored)."""
    return ("schema", *(f.name for f in fields(record_class) if f.name not in ("schema", "source")))


_EVAL_KEYS = _json_keys(EvaluationResult)
_BENCHMARK_KEYS = _json_keys(BenchmarkResult)
Result = Union[EvaluationResult, BenchmarkResult]


# ---------------------------------------------------------------------------------------------------------
# Validation


class _Checker:
    """Collects every problem of one record so the error lists them all at once."""

    def __init__(self, data: Any, schema: str, keys: tuple[str, ...], source: str, written_by: str):
        self.data, self.source, self.problems = data, source, []
        if not isinstance(data, dict):
            raise ResultsError(f"{source}: expected a JSON object for {schema}, got {type(data).__name__}.")
        if _OLD_SCHEMAS.get(data.get("schema"), ("",))[0] == schema:
            _refuse_old_schema(data["schema"], source)
        if data.get("schema") != schema:
            raise ResultsError(
                f"{source}: unknown schema {data.get('schema')!r}; expected {schema!r}, as {written_by} writes it."
            )
        missing = [key for key in keys if key not in data]
        unknown = sorted(set(data) - set(keys))
        if missing:
            self.problems.append(f"missing keys {missing}")
        if unknown:
            self.problems.append(f"unknown keys {unknown} (the schema {schema} has exactly {list(keys)})")

    def value(self, key: str, check, what: str):
        if key not in self.data:
            return None
        value = self.data[key]
        if not check(value):
            self.problems.append(f"{key}={value!r} is not {what}")
        return value

    def mapping(self, key: str, keys: tuple[str, ...] | None, check, what: str) -> None:
        value = self.data.get(key)
        if key not in self.data:
            return
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self.problems.append(f"{key} is not an object with string keys")
            return
        if keys is not None and set(value) != set(keys):
            self.problems.append(f"{key} must have exactly the keys {list(keys)}, has {sorted(value)}")
        for name, item in value.items():
            if not check(item):
                self.problems.append(f"{key}[{name!r}]={item!r} is not {what}")

    def done(self) -> None:
        if self.problems:
            raise ResultsError(f"{self.source}: " + "; ".join(self.problems) + ".")


def _refuse_old_schema(schema: Any, source: str) -> None:
    if schema in _OLD_SCHEMAS:
        raise ResultsError(
            f"{source}: {schema} was written by an older dabnet-zoo and does not record the weights' sha256, the "
            f"data or the protocol it measured; run {_OLD_SCHEMAS[schema][1]} again, or delete the file."
        )


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_fraction(value: Any) -> bool:
    return _is_number(value) and 0.0 <= value <= 1.0


def _is_positive(value: Any) -> bool:
    return _is_number(value) and value > 0


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_sha256_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None)


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _one_of(choices: tuple[str, ...]):
    return lambda value: value in choices


def validate_evaluation(data: Any, source: PathLike | None = None) -> EvaluationResult:
    """Check a ``dabnet-zoo/eval/v2`` dict and return it as an :class:`EvaluationResult`.

    Raises:
        ResultsError: listing every problem (unknown schema, missing or unknown keys, wrong types, metrics
            outside 0..1, an unknown mode ...), prefixed with ``source``.
    """
    where = str(source) if source is not None else "evaluation result"
    check = _Checker(data, EVAL_SCHEMA, _EVAL_KEYS, where, "dabnet_zoo.results.write_evaluation_result")
    for key in ("model", "dataset", "split", "weights", "command"):
        check.value(key, _is_text, "a non-empty string")
    check.value("evaluated_on", _one_of((data.get("dataset"), SYNTHETIC)),
                f"the model's dataset ({data.get('dataset')!r}) or {SYNTHETIC!r}")
    check.value("mode", _one_of(EVAL_MODES), f"one of {EVAL_MODES}")
    check.value("test_size", lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x, 1) for x in v),
                "[height, width] in pixels")
    check.value("keep_ratio", lambda v: isinstance(v, bool), "true or false")
    check.value("num_images", lambda v: _is_int(v, 1), "a positive integer")
    check.value("weights_sha256", _is_sha256_or_null, "null or 64 lowercase hex digits")
    check.value("date", _is_date, "an ISO-8601 date")
    check.mapping("metrics", EVAL_METRICS, _is_fraction, "a fraction in 0..1")
    check.mapping("per_category_iou", None, lambda v: v is None or _is_fraction(v), "a fraction in 0..1 or null")
    check.done()
    values = {key: data[key] for key in _EVAL_KEYS}
    values["test_size"] = tuple(data["test_size"])
    values["metrics"] = {key: float(data["metrics"][key]) for key in EVAL_METRICS}
    values["per_category_iou"] = {k: None if v is None else float(v) for k, v in data["per_category_iou"].items()}
    return EvaluationResult(**values, source=Path(source) if source is not None else None)


def validate_benchmark(data: Any, source: PathLike | None = None) -> BenchmarkResult:
    """Check a ``dabnet-zoo/benchmark/v2`` dict and return it as a :class:`BenchmarkResult`.

    Raises:
        ResultsError: listing every problem (unknown schema, missing or unknown keys, wrong types, an unknown
            backend, precision or device, latencies that are not positive, p90 below the median ...).
    """
    where = str(source) if source is not None else "benchmark result"
    if isinstance(data, dict) and "accuracy" not in data:
        data = {**data, "accuracy": None}  # written before reduced precisions were measured
    check = _Checker(data, BENCHMARK_SCHEMA, _BENCHMARK_KEYS, where, "dabnet_zoo.results.write_benchmark_result")
    for key in ("model", "dataset", "hardware", "command"):
        check.value(key, _is_text, "a non-empty string")
    check.value("backend", _one_of(BACKENDS), f"one of {BACKENDS}")
    check.value("precision", _one_of(PRECISIONS), f"one of {PRECISIONS}")
    check.value("device", _one_of(DEVICES), f"one of {DEVICES}")
    for key in ("batch_size", "height", "width", "iterations"):
        check.value(key, lambda v: _is_int(v, 1), "a positive integer")
    check.value("warmup", lambda v: _is_int(v, 0), "a non-negative integer")
    check.value("includes_resize_argmax", lambda v: isinstance(v, bool), "true or false")
    check.value("weights_sha256", _is_sha256_or_null, "null or 64 lowercase hex digits")
    check.value("fps", _is_positive, "a positive number")
    check.value("date", _is_date, "an ISO-8601 date")
    check.mapping("latency_ms", LATENCY_STATS, _is_positive, "a positive number of milliseconds")
    check.mapping("environment", None, lambda v: isinstance(v, str), "a string")
    if data.get("accuracy") is not None:
        check.mapping("accuracy", ACCURACY_KEYS, lambda v: True, "")
        accuracy = data["accuracy"] if isinstance(data["accuracy"], dict) else {}
        fraction_or_null = lambda v: v is None or _is_fraction(v)  # noqa: E731
        for key, test, what in (
            ("reference", _is_text, "a non-empty string"),
            ("data", _is_text, "a non-empty string"),
            ("images", lambda v: _is_int(v, 1), "a positive integer"),
            ("label_agreement", _is_fraction, "a fraction"),
            ("mean_iou", fraction_or_null, "null or a fraction"),
            ("mean_iou_reference", fraction_or_null, "null or a fraction"),
        ):
            if key in accuracy and not test(accuracy[key]):
                check.problems.append(f"accuracy[{key!r}]={accuracy[key]!r} is not {what}")
    latency = data.get("latency_ms")
    if isinstance(latency, dict) and all(_is_positive(latency.get(k)) for k in ("median", "p90")):
        if latency["p90"] < latency["median"]:
            check.problems.append(f"latency_ms p90 ({latency['p90']}) is below the median ({latency['median']})")
        if _is_positive(data.get("fps")) and _is_int(data.get("batch_size"), 1):
            from_median = 1000.0 * data["batch_size"] / latency["median"]
            if not math.isclose(data["fps"], from_median, rel_tol=1e-6):
                check.problems.append(f"fps={data['fps']!r} is not 1000 * batch_size / median latency "
                                      f"({from_median:.6g})")
    check.done()
    values = {key: data[key] for key in _BENCHMARK_KEYS}
    values["latency_ms"] = {key: float(data["latency_ms"][key]) for key in LATENCY_STATS}
    values["fps"] = float(data["fps"])
    values["environment"] = dict(data["environment"])
    return BenchmarkResult(**values, source=Path(source) if source is not None else None)


def validate_result(data: Any, source: PathLike | None = None) -> Result:
    """Validate a dict of either schema, chosen by its ``schema`` key."""
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == BENCHMARK_SCHEMA:
        return validate_benchmark(data, source)
    if schema == EVAL_SCHEMA:
        return validate_evaluation(data, source)
    _refuse_old_schema(schema, str(source) if source is not None else "result")
    raise ResultsError(
        f"{source if source is not None else 'result'}: unknown schema {schema!r}; expected {EVAL_SCHEMA!r} or "
        f"{BENCHMARK_SCHEMA!r}."
    )


TRAINING_SCHEMA = "dabnet-zoo/training/v1"
TRAINING_RESULTS_FILE = "training.json"
# The keys of a training record, in the order recipes/train.py (dabnet_zoo.training.record) writes them.
TRAINING_KEYS = (
    "schema", "model", "variant", "dataset", "recipe", "description", "original_config", "init", "iterations",
    "max_iters", "batch", "optimizer", "lr_schedule", "loss_weights", "mixed_precision", "sync_bn", "freeze_bn",
    "seed", "wall_time_s", "hardware", "software", "evaluations", "final_eval", "resumed_from", "outputs",
    "command", "date",
)
_FINAL_EVAL_KEYS = ("split", "mode", "num_images", "eval_size", *EVAL_METRICS, "per_category_iou")
_BATCH_KEYS = ("per_device", "num_processes", "accumulation", "global")


def validate_training_record(data: Any, source: PathLike | None = None) -> dict[str, Any]:
    """Check a ``training.json`` record (``dabnet-zoo/training/v1``, written by ``recipes/train.py``) and return it.

    Raises:
        ResultsError: not that schema, or listing every problem of the record (missing or unknown keys, wrong
            types, metrics outside 0..1, a model that is not a zoo name ...), prefixed with ``source``.
    """
    where = str(source) if source is not None else "training record"
    check = _Checker(data, TRAINING_SCHEMA, TRAINING_KEYS, where, "recipes/train.py (training.json)")

    def is_dict(value):
        return isinstance(value, dict)

    for key in ("model", "variant", "dataset", "recipe", "command"):
        check.value(key, _is_text, "a non-empty string")
    check.value("variant", lambda v: v in VARIANTS, f"a variant ({', '.join(VARIANTS)})")
    check.value("dataset", lambda v: v in DATASETS, f"a dataset ({', '.join(DATASETS)})")
    check.value("description", lambda v: isinstance(v, str), "a string")
    for key in ("original_config", "init"):
        check.value(key, lambda v: v is None or isinstance(v, str), "a string or null")
    check.value("iterations", lambda v: _is_int(v, 0), "an integer >= 0")
    check.value("max_iters", lambda v: _is_int(v, 1), "a positive integer")
    check.mapping("batch", _BATCH_KEYS, lambda v: _is_int(v, 1), "a positive integer")
    check.value("optimizer", lambda v: is_dict(v) and _is_text(v.get("name")) and _is_number(v.get("lr")),
                "an object with name and lr")
    check.value("lr_schedule", is_dict, "an object")
    check.value("loss_weights", lambda v: isinstance(v, list) and len(v) == 3 and all(map(_is_number, v)),
                "a list of 3 numbers")
    check.value("mixed_precision", _is_text, "a non-empty string")
    for key in ("sync_bn", "freeze_bn"):
        check.value(key, lambda v: isinstance(v, bool), "true or false")
    check.value("seed", lambda v: _is_int(v, 0), "an integer >= 0")
    check.value("wall_time_s", lambda v: _is_number(v) and v >= 0, "a number of seconds >= 0")
    check.value("hardware", lambda v: is_dict(v) and {"device", "name", "num_processes", "num_machines"} <= set(v),
                "an object with device, name, num_processes and num_machines")
    check.mapping("software", None, lambda v: isinstance(v, str), "a version string")
    check.value("evaluations", lambda v: isinstance(v, list) and all(
        is_dict(e) and _is_int(e.get("iteration"), 0) and all(_is_fraction(e.get(m)) for m in EVAL_METRICS)
        for e in v),
        "a list of {iteration, mean_iou, mean_accuracy, overall_accuracy} objects with fractions in 0..1")
    check.value("final_eval", lambda v: v is None or (
        is_dict(v) and set(v) == set(_FINAL_EVAL_KEYS) and _is_text(v["split"]) and _is_text(v["mode"])
        and _is_int(v["num_images"], 1) and isinstance(v["eval_size"], list) and len(v["eval_size"]) == 2
        and all(_is_int(x, 1) for x in v["eval_size"]) and all(_is_fraction(v[m]) for m in EVAL_METRICS)
        and is_dict(v["per_category_iou"])
        and all(isinstance(k, str) and (x is None or _is_fraction(x)) for k, x in v["per_category_iou"].items())),
        f"null or an object with exactly {list(_FINAL_EVAL_KEYS)} (metrics and per-class IoU fractions in 0..1)")
    check.value("resumed_from", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                "a list of strings")
    check.value("outputs", is_dict, "an object")
    check.value("date", _is_date, "an ISO-8601 date")
    if not check.problems and data["model"] != f"{data['variant']}.{data['dataset']}":
        check.problems.append(f"model={data['model']!r} is not variant.dataset ({data['variant']}.{data['dataset']})")
    check.done()
    return data


# ---------------------------------------------------------------------------------------------------------
# Files and folders


def evaluation_results_dir(model: str, root: PathLike = ".") -> Path:
    """``<root>/results/<variant>.<dataset>``; ``model`` is ``variant.dataset`` or a variant (Cityscapes)."""
    return Path(root) / EVAL_RESULTS_DIR / _folder_name(model)


def benchmark_results_dir(model: str, root: PathLike = ".") -> Path:
    """``<root>/benchmarks/results/<variant>.<dataset>``."""
    return Path(root) / BENCHMARK_RESULTS_DIR / _folder_name(model)


def benchmark_file_name(result: BenchmarkResult | dict) -> str:
    """A file name that keeps different settings apart: backend, precision, device, batch, size, resize+argmax,
    hardware."""
    data = result.to_dict() if isinstance(result, BenchmarkResult) else result
    hardware = re.sub(r"[^a-z0-9]+", "-", str(data["hardware"]).lower()).strip("-") or "unknown"
    post = "_resize-argmax" if data["includes_resize_argmax"] else ""
    return (f"{data['backend']}_{data['precision']}_{data['device']}_b{data['batch_size']}_"
            f"{data['height']}x{data['width']}{post}_{hardware}.json")


def evaluation_file_name(result: EvaluationResult | dict) -> str:
    """``[synthetic_]<split>_<mode>[_<H>x<W>].json`` (``ms+flip`` becomes ``ms-flip``): the prefix for an
    evaluation on the synthetic scenes, the size when the test size is not the dataset's own, so that such
    results never take the name of the original protocol's."""
    data = result.to_dict() if isinstance(result, EvaluationResult) else result
    prefix = f"{SYNTHETIC}_" if data.get("evaluated_on") == SYNTHETIC else ""
    size = data.get("test_size")
    preset = DATASETS.get(data.get("dataset"))
    suffix = f"_{size[0]}x{size[1]}" if size is not None and preset is not None and tuple(size) != preset.test_size \
        else ""
    return f"{prefix}{data['split']}_{str(data['mode']).replace('+', '-')}{suffix}.json"


def write_evaluation_result(path: PathLike, data: dict | EvaluationResult, overwrite: bool = False) -> Path:
    """Validate an evaluation result and write it as JSON atomically (temporary file, then rename).

    Raises:
        ResultsError: the data does not follow ``dabnet-zoo/eval/v2`` (nothing is written).
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
    """
    record = data if isinstance(data, EvaluationResult) else validate_evaluation(data)
    return _write_json(Path(path), record.to_dict(), overwrite)


def write_benchmark_result(path: PathLike, data: dict | BenchmarkResult, overwrite: bool = False) -> Path:
    """Validate a benchmark result and write it as JSON atomically (temporary file, then rename).

    Raises:
        ResultsError: the data does not follow ``dabnet-zoo/benchmark/v2`` (nothing is written).
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
    """
    record = data if isinstance(data, BenchmarkResult) else validate_benchmark(data)
    return _write_json(Path(path), record.to_dict(), overwrite)


def read_result(path: PathLike) -> Result:
    """Read and validate one results file of either schema."""
    path = Path(path)
    return validate_result(_read_json(path), path)


def load_training_record(record: dict | PathLike) -> dict[str, Any]:
    """A validated training record, from a dict or a ``training.json`` path (see :func:`validate_training_record`)."""
    if not isinstance(record, (str, os.PathLike)):
        return validate_training_record(record)
    path = Path(record)
    return validate_training_record(_read_json(path), path)


def load_evaluation_results(model: str, root: PathLike = ".") -> list[EvaluationResult]:
    """Every evaluation result of ``model`` under ``<root>/results/<variant>.<dataset>/``, sorted by file name.

    A missing folder gives an empty list. A file of another schema, a broken one, or one whose model/dataset
    is not the folder's raises :class:`ResultsError` naming the file.
    """
    return _load_folder(evaluation_results_dir(model, root), model, EvaluationResult)


def load_benchmark_results(model: str, root: PathLike = ".") -> list[BenchmarkResult]:
    """Every benchmark result of ``model`` under ``<root>/benchmarks/results/<variant>.<dataset>/``."""
    return _load_folder(benchmark_results_dir(model, root), model, BenchmarkResult)


def evaluations_of(
    records: list[EvaluationResult], weights_sha256: str | None, dataset: str
) -> list[EvaluationResult]:
    """The evaluations that measured the weights with this sha256 on the real ``dataset``.

    This is what a model card or a Hub upload may state about those weights: an evaluation of other weights
    (another sha256, or none recorded) or on the synthetic scenes says nothing about them. ``weights_sha256``
    None (weights not published, unknown) keeps nothing.
    """
    if weights_sha256 is None:
        return []
    return [r for r in records if r.weights_sha256 == weights_sha256 and r.evaluated_on == dataset == r.dataset]


def _folder_name(model: str) -> str:
    variant, dataset = split_model_name(model)
    return f"{variant.name}.{dataset}"


def _load_folder(folder: Path, model: str, kind: type) -> list:
    if not folder.is_dir():
        return []
    expected = split_model_name(model)
    records = []
    for path in sorted(folder.glob("*.json")):
        record = read_result(path)
        if not isinstance(record, kind):
            raise ResultsError(f"{path}: a {record.schema} file in a folder for {kind.__name__} files; move it.")
        try:
            found = split_model_name(record.model, record.dataset)
        except DabnetZooError as error:
            raise ResultsError(f"{path}: model {record.model!r} / dataset {record.dataset!r}: {error}") from None
        if found != expected:
            raise ResultsError(
                f"{path}: the file is about {found[0].name}.{found[1]} but sits in the folder of "
                f"{expected[0].name}.{expected[1]}; move it."
            )
        records.append(record)
    return records


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultsError(f"{path}: not a readable JSON file ({error}).") from None


def _write_json(path: Path, data: dict, overwrite: bool) -> Path:
    if path.exists() and not overwrite:  # early, with the results-specific hint; write_atomic re-checks atomically
        raise OutputExistsError(f"{path} already exists; choose another name or pass overwrite=True.")
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", overwrite=overwrite)
    logger.info("Wrote %s", path)
    return path


__all__ = [
    "ACCURACY_KEYS",
    "BACKENDS",
    "BENCHMARK_RESULTS_DIR",
    "BENCHMARK_SCHEMA",
    "BenchmarkResult",
    "DEVICES",
    "EVAL_METRICS",
    "EVAL_MODES",
    "EVAL_RESULTS_DIR",
    "EVAL_SCHEMA",
    "EvaluationResult",
    "LATENCY_STATS",
    "PRECISIONS",
    "ResultsError",
    "SYNTHETIC",
    "TRAINING_KEYS",
    "TRAINING_RESULTS_FILE",
    "TRAINING_SCHEMA",
    "benchmark_file_name",
    "benchmark_results_dir",
    "evaluation_file_name",
    "evaluation_results_dir",
    "evaluations_of",
    "load_benchmark_results",
    "load_evaluation_results",
    "load_training_record",
    "read_result",
    "validate_benchmark",
    "validate_evaluation",
    "validate_result",
    "validate_training_record",
    "write_benchmark_result",
    "write_evaluation_result",
]
