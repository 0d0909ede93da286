"""Results files: the two schemas, atomic writers, folder conventions and loaders."""

from __future__ import annotations

import json
import math

import pytest

from dabnet_zoo import OutputExistsError, create_model
from dabnet_zoo.results import (
    BENCHMARK_SCHEMA,
    EVAL_SCHEMA,
    BenchmarkResult,
    EvaluationResult,
    ResultsError,
    benchmark_file_name,
    benchmark_results_dir,
    evaluation_file_name,
    evaluation_results_dir,
    evaluations_of,
    load_benchmark_results,
    load_evaluation_results,
    read_result,
    validate_benchmark,
    validate_evaluation,
    write_benchmark_result,
    write_evaluation_result,
)


SHA = "5a" * 32


def evaluation(**changes) -> dict:
    data = {
        "schema": EVAL_SCHEMA, "model": "dabnet_r18_p2", "dataset": "cityscapes", "evaluated_on": "cityscapes",
        "split": "val", "mode": "whole", "test_size": [1024, 2048], "keep_ratio": True, "num_images": 500,
        "metrics": {"mean_iou": 0.7778, "mean_accuracy": 0.8485, "overall_accuracy": 0.9603},
        "per_category_iou": {"road": 0.9816, "sidewalk": 0.8482, "train": None}, "weights": "converted/p2",
        "weights_sha256": SHA, "command": "python recipes/evaluate.py converted/p2 --data-root data/cityscapes",
        "date": "2026-11-24",
    }
    data.update(changes)
    return data


def benchmark(**changes) -> dict:
    data = {
        "schema": BENCHMARK_SCHEMA, "model": "dabnet_r18_p2", "dataset": "cityscapes", "weights_sha256": None,
        "backend": "tensorrt", "precision": "fp16", "device": "cuda", "hardware": "NVIDIA H100 80GB HBM3",
        "batch_size": 1, "height": 1024, "width": 2048, "includes_resize_argmax": True, "warmup": 50,
        "iterations": 500, "latency_ms": {"median": 4.0, "p90": 4.3, "mean": 4.15}, "fps": 250.0,
        "environment": {"torch": "2.14.1", "tensorrt": "11.4"}, "command": "dabnet-zoo benchmark dabnet_r18_p2",
        "date": "2026-11-24T10:00:00Z", "accuracy": None,
    }
    data.update(changes)
    return data


def test_valid_records_round_trip_through_files(tmp_path):
    path = write_evaluation_result(tmp_path / "a" / "val_whole.json", evaluation())
    record = read_result(path)
    assert isinstance(record, EvaluationResult) and record.source == path
    assert record.to_dict() == evaluation() == json.loads(path.read_text())
    assert record.mean_iou == pytest.approx(0.7778) and record.per_category_iou["train"] is None
    path = write_benchmark_result(tmp_path / "b.json", benchmark())
    record = read_result(path)
    assert isinstance(record, BenchmarkResult) and record.to_dict() == benchmark()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["b.json", "val_whole.json"]  # no temp files


def test_existing_files_are_only_replaced_on_request(tmp_path):
    path = write_benchmark_result(tmp_path / "b.json", benchmark())
    slower = benchmark(latency_ms={"median": 8.0, "p90": 9.0, "mean": 8.5}, fps=125.0)
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        write_benchmark_result(path, slower)
    assert read_result(path).fps == pytest.approx(250.0)
    write_benchmark_result(path, slower, overwrite=True)
    assert read_result(path).fps == 125.0


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"schema": "dabnet-zoo/eval/v0"}, "unknown schema 'dabnet-zoo/eval/v0'"),
        ({"extra": 1}, r"unknown keys \['extra'\]"),
        ({"mode": "flip"}, "mode='flip' is not one of"),
        ({"num_images": True}, "num_images=True is not a positive integer"),
        ({"num_images": 0}, "num_images=0 is not a positive integer"),
        ({"metrics": {"mean_iou": 77.8, "mean_accuracy": 0.8, "overall_accuracy": 0.9}}, "not a fraction in 0..1"),
        ({"metrics": {"mean_iou": 0.7}}, "metrics must have exactly the keys"),
        ({"per_category_iou": {"road": math.nan}}, r"per_category_iou\['road'\]=nan"),
        ({"date": "yesterday"}, "date='yesterday' is not an ISO-8601 date"),
        ({"command": ""}, "command='' is not a non-empty string"),
        ({"evaluated_on": "camvid"}, "evaluated_on='camvid' is not the model's dataset .'cityscapes'. or 'synthetic'"),
        ({"test_size": [1024]}, r"test_size=\[1024\] is not \[height, width\]"),
        ({"keep_ratio": "yes"}, "keep_ratio='yes' is not true or false"),
        ({"weights_sha256": "sha256:" + SHA}, "weights_sha256=.* is not null or 64 lowercase hex digits"),
        ({"weights_sha256": SHA.upper()}, "is not null or 64 lowercase hex digits"),
    ],
)
def test_bad_evaluation_records_are_rejected_with_the_problem(tmp_path, changes, problem):
    with pytest.raises(ResultsError, match=problem):
        write_evaluation_result(tmp_path / "bad.json", evaluation(**changes))
    assert not (tmp_path / "bad.json").exists()


def test_every_problem_is_listed_at_once():
    data = evaluation(mode="flip")
    del data["split"]
    with pytest.raises(ResultsError) as raised:
        validate_evaluation(data, "results/x/a.json")
    message = str(raised.value)
    assert message.startswith("results/x/a.json: ") and "missing keys ['split']" in message and "mode='flip'" in message


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"schema": EVAL_SCHEMA}, "unknown schema"),
        ({"backend": "tvm"}, "backend='tvm' is not one of"),
        ({"precision": "int4"}, "precision='int4'"),
        ({"device": "mps"}, "device='mps'"),
        ({"includes_resize_argmax": 1}, "is not true or false"),
        ({"latency_ms": {"median": 4.0, "p90": 3.0, "mean": 4.0}}, "p90 .3.0. is below the median"),
        ({"latency_ms": {"median": 0, "p90": 3.0, "mean": 4.0}}, "not a positive number of milliseconds"),
        ({"environment": {"torch": 2.14}}, r"environment\['torch'\]=2.14 is not a string"),
        ({"warmup": -1}, "warmup=-1 is not a non-negative integer"),
        ({"weights_sha256": "abc"}, "weights_sha256='abc' is not null or 64 lowercase hex digits"),
        # FPS is 1000 * batch / median: 1000 / 4.0 ms = 250; one from the mean (1000 / 4.15) is refused.
        ({"fps": 1000 / 4.15}, r"fps=240.96.* is not 1000 \* batch_size / median latency \(250\)"),
        ({"batch_size": 2}, r"fps=250.0 is not 1000 \* batch_size / median latency \(500\)"),
    ],
)
def test_bad_benchmark_records_are_rejected_with_the_problem(changes, problem):
    with pytest.raises(ResultsError, match=problem):
        validate_benchmark(benchmark(**changes))


def test_folders_are_per_model_and_files_must_belong_there(tmp_path):
    assert evaluation_results_dir("dabnet_r18_p2", tmp_path) == tmp_path / "results" / "dabnet_r18_p2.cityscapes"
    assert benchmark_results_dir("dabnet_r18_p2.camvid", tmp_path) == (
        tmp_path / "benchmarks" / "results" / "dabnet_r18_p2.camvid")
    assert load_evaluation_results("dabnet_r18_p2", tmp_path) == []  # no folder: nothing measured
    folder = evaluation_results_dir("dabnet_r18_p2.cityscapes", tmp_path)
    write_evaluation_result(folder / "b.json", evaluation(split="test", mode="ms+flip"))
    write_evaluation_result(folder / "a.json", evaluation(model="dabnet_r18_p2.cityscapes"))
    assert [r.split for r in load_evaluation_results("dabnet_r18_p2", tmp_path)] == ["val", "test"]
    write_evaluation_result(folder / "c.json", evaluation(model="dabnet_r18_p8"))
    with pytest.raises(ResultsError, match=r"c.json: the file is about dabnet_r18_p8.cityscapes but sits in the "
                                           r"folder of dabnet_r18_p2.cityscapes"):
        load_evaluation_results("dabnet_r18_p2", tmp_path)
    (folder / "c.json").unlink()
    write_benchmark_result(folder / "d.json", benchmark())
    with pytest.raises(ResultsError, match="d.json: a dabnet-zoo/benchmark/v2 file in a folder"):
        load_evaluation_results("dabnet_r18_p2", tmp_path)
    (folder / "d.json").write_text("{not json")
    with pytest.raises(ResultsError, match="d.json: not a readable JSON file"):
        load_evaluation_results("dabnet_r18_p2", tmp_path)


def test_file_names_keep_settings_apart():
    names = {benchmark_file_name(benchmark(hardware=h, precision=p)) for h in ("NVIDIA H100", "NVIDIA H200")
             for p in ("fp16", "fp32")}
    assert len(names) == 4 and all(name.endswith(".json") and " " not in name for name in names)
    assert evaluation_file_name(evaluation(mode="ms+flip")) != evaluation_file_name(evaluation())
    assert "+" not in evaluation_file_name(evaluation(mode="ms+flip"))
    # Synthetic data and a test size of one's own never take the name of the original protocol's result.
    assert evaluation_file_name(evaluation()) == "val_whole.json"
    assert evaluation_file_name(evaluation(test_size=[128, 256])) == "val_whole_128x256.json"
    assert evaluation_file_name(evaluation(evaluated_on="synthetic", test_size=[128, 256])) == (
        "synthetic_val_whole_128x256.json")


def test_records_of_the_first_schemas_are_refused_with_what_to_do(tmp_path):
    old = evaluation(schema="dabnet-zoo/eval/v1")
    for key in ("evaluated_on", "test_size", "keep_ratio", "weights_sha256"):
        del old[key]
    (tmp_path / "old.json").write_text(json.dumps(old))
    with pytest.raises(ResultsError, match=r"old.json: dabnet-zoo/eval/v1 was written by an older dabnet-zoo and does "
                                           r"not record the weights' sha256.*run recipes/evaluate.py again"):
        read_result(tmp_path / "old.json")
    with pytest.raises(ResultsError, match="dabnet-zoo/benchmark/v1 .*run dabnet-zoo benchmark again"):
        validate_benchmark(benchmark(schema="dabnet-zoo/benchmark/v1"))


def test_only_evaluations_of_the_same_weights_on_the_real_dataset_describe_them():
    """The issue's scenario: a demo model evaluated on the synthetic scenes, or other weights, never describe a
    card's weights; unknown weights (no sha256) describe nothing."""
    ours = validate_evaluation(evaluation())
    other_weights = validate_evaluation(evaluation(weights_sha256="6" * 64, metrics={
        "mean_iou": 0.4512, "mean_accuracy": 0.5, "overall_accuracy": 0.6}))
    synthetic = validate_evaluation(evaluation(evaluated_on="synthetic"))
    unknown = validate_evaluation(evaluation(weights_sha256=None))
    records = [ours, other_weights, synthetic, unknown]
    assert evaluations_of(records, SHA, "cityscapes") == [ours]
    assert evaluations_of(records, "6" * 64, "cityscapes") == [other_weights]
    assert evaluations_of(records, None, "cityscapes") == []  # unpublished weights: nothing is theirs
    assert evaluations_of(records, SHA, "camvid") == []


def test_the_benchmark_module_writes_records_this_schema_accepts(tmp_path):
    """The producer (dabnet_zoo.benchmark) and the schema must agree; the CLI fills in the command."""
    from dabnet_zoo.benchmark import run_benchmark

    result = run_benchmark(create_model("dabnet_r18_p1").eval(), height=64, width=64, warmup=0, iterations=3,
                           progress=False, model_name="dabnet_r18_p1", dataset="cityscapes", weights_sha256=SHA)
    result["command"] = "dabnet-zoo benchmark dabnet_r18_p1 --height 64 --width 64"
    folder = benchmark_results_dir("dabnet_r18_p1", tmp_path)
    write_benchmark_result(folder / benchmark_file_name(result), result)
    (record,) = load_benchmark_results("dabnet_r18_p1", tmp_path)
    assert (record.height, record.width, record.iterations, record.weights_sha256) == (64, 64, 3, SHA)
    assert record.fps == pytest.approx(1000 / record.latency_ms["median"])  # the median, not the mean
