"""The latency protocol and its result schema (never timings)."""

from __future__ import annotations

import json

import pytest
import torch

from dabnet_zoo import DabnetZooError, create_model
from dabnet_zoo.benchmark import run_benchmark
from dabnet_zoo.cli.main import main


@pytest.fixture(scope="module")
def model():
    return create_model("dabnet_r18_p1")


def test_result_records_protocol_and_environment(model):
    result = run_benchmark(model, "optimized", 64, 128, batch_size=2, warmup=1, iterations=4, progress=False,
                           include_postprocess=True, model_name="dabnet_r18_p1", dataset="cityscapes")
    assert result["schema"] == "dabnet-zoo/benchmark/v1"
    assert (result["backend"], result["batch_size"], result["height"], result["width"]) == ("optimized", 2, 64, 128)
    assert result["includes_resize_argmax"] is True and result["iterations"] == 4
    latency = result["latency_ms"]
    assert 0 < latency["median"] <= latency["p90"] and latency["mean"] > 0
    assert result["fps"] == pytest.approx(1000 * 2 / latency["mean"])
    assert {"torch", "threads", "cpu"} <= set(result["environment"])


@pytest.mark.parametrize(
    "kwargs, message",
    [({"backend": "openvino"}, "Unknown backend"), ({"precision": "int8"}, "Unknown precision"),
     ({"backend": "tensorrt"}, "CUDA only")],
)
def test_bad_requests_are_refused(model, kwargs, message):
    with pytest.raises(DabnetZooError, match=message):
        run_benchmark(model, **{"warmup": 0, "iterations": 1, **kwargs})


def test_cli_prints_a_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(["benchmark", "dabnet_effb1", "--size", "64x128", "--warmup", "0", "--iterations", "2",
                 "--no-progress", "--json", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    assert "dabnet_effb1" in table.splitlines()[1] and "64x128" in table
    assert json.loads(out.read_text())["model"] == "dabnet_effb1"


def test_the_callers_model_is_left_as_it_was(model):
    model.train()
    run_benchmark(model, "eager", 64, 128, precision="bf16", warmup=0, iterations=1, progress=False)
    assert model.training and next(model.parameters()).dtype == torch.float32
