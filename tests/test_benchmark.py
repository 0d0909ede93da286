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
    assert result["schema"] == "dabnet-zoo/benchmark/v2" and result["weights_sha256"] is None
    assert (result["backend"], result["batch_size"], result["height"], result["width"]) == ("optimized", 2, 64, 128)
    assert result["includes_resize_argmax"] is True and result["iterations"] == 4
    latency = result["latency_ms"]
    assert 0 < latency["median"] <= latency["p90"] and latency["mean"] > 0
    assert result["fps"] == pytest.approx(1000 * 2 / latency["median"])  # FPS of the median shown beside it
    assert {"torch", "threads", "cpu"} <= set(result["environment"])


@pytest.mark.parametrize(
    "kwargs, message",
    [({"backend": "openvino"}, "Unknown backend"), ({"precision": "int8"}, "Unknown precision"),
     ({"backend": "tensorrt"}, "CUDA only"), ({"iterations": 0}, "at least 1"), ({"batch_size": 0}, "at least 1"),
     ({"warmup": -1}, "warm-up at least 0")],
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


def test_onnxruntime_backend_times_the_exported_graph(model):
    pytest.importorskip("onnxruntime")
    result = run_benchmark(model, "onnxruntime", 64, 128, batch_size=2, warmup=1, iterations=2, progress=False,
                           include_postprocess=True)
    assert result["backend"] == "onnxruntime" and result["includes_resize_argmax"] is True
    assert result["batch_size"] == 2 and result["fps"] == pytest.approx(2000 / result["latency_ms"]["mean"])
    assert "onnxruntime" in result["environment"] and result["latency_ms"]["median"] > 0


def test_timing_settings_apply_only_while_timing_and_are_restored_after_errors():
    from dabnet_zoo.benchmark import _timing_settings

    before = (torch.get_num_threads(), torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32)
    threads = 1 if before[0] > 1 else 2
    with pytest.raises(RuntimeError, match="boom"), _timing_settings("cuda", threads):
        assert torch.get_num_threads() == threads
        assert torch.backends.cudnn.benchmark is True and torch.backends.cudnn.allow_tf32 is False
        raise RuntimeError("boom")
    assert (torch.get_num_threads(), torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32) == before
    with _timing_settings("cpu", threads):
        assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32) == before[1:]


def test_gpu_driver_and_clocks_come_from_nvidia_smi(tmp_path, monkeypatch):
    from dabnet_zoo.benchmark import _gpu_state

    monkeypatch.setenv("PATH", str(tmp_path))
    assert _gpu_state(0) == {}  # no nvidia-smi: nothing recorded, nothing raised
    fake = tmp_path / "nvidia-smi"
    fake.write_text('#!/bin/sh\necho "580.65.06, 1980 MHz, 1980 MHz, 2619 MHz, 700.00 W"\n')
    fake.chmod(0o755)
    state = _gpu_state(0)
    assert state["gpu_driver_version"] == "580.65.06" and state["gpu_clocks_max_sm"] == "1980 MHz"
    assert state["gpu_power_limit"] == "700.00 W" and len(state) == 5


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@needs_cuda
@pytest.mark.parametrize("backend, precision", [("eager", "fp16"), ("optimized", "bf16"), ("compile", "fp16")])
def test_gpu_protocol_records_its_settings_and_restores_them(model, backend, precision):
    tf32_before = torch.backends.cudnn.allow_tf32
    result = run_benchmark(model, backend, 256, 512, precision=precision, device="cuda", warmup=3, iterations=5,
                           progress=False, include_postprocess=True)
    environment = result["environment"]
    assert result["device"] == "cuda" and result["hardware"] == torch.cuda.get_device_name()
    assert environment["cudnn_benchmark"] == "on" and environment["tf32"] == "off"
    assert environment.get("compile") == ("freezing, CUDA graphs" if backend == "compile" else None)
    assert torch.backends.cudnn.allow_tf32 == tf32_before


@needs_cuda
def test_gpu_onnxruntime_backend_uses_the_cuda_provider(model):
    onnxruntime = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("needs onnxruntime-gpu")
    result = run_benchmark(model, "onnxruntime", 256, 512, device="cuda", warmup=2, iterations=3, progress=False)
    assert result["device"] == "cuda" and result["latency_ms"]["median"] > 0
