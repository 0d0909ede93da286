"""The latency protocol and its result schema (never timings)."""

from __future__ import annotations

import json

import pytest
import torch

import torch.nn.functional as F

from dabnet_zoo import DabnetZooError, create_model, deploy
from dabnet_zoo.benchmark import AccuracyData, measure_accuracy, run_benchmark
from dabnet_zoo.cli.main import main
from dabnet_zoo.errors import InputError, UnsupportedPrecisionError

HAS_BF16 = not (deploy.cpu_flags() or frozenset()).isdisjoint(deploy.FAST_INSTRUCTIONS["bf16"])


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
    [({"backend": "tvm"}, "Unknown backend"), ({"precision": "int4"}, "Unknown precision"),
     ({"precision": "int8"}, "eager backend computes in fp32, fp16, bf16, not int8.*--backend openvino"),
     ({"backend": "onnxruntime", "precision": "bf16"}, "onnxruntime backend computes in fp32, fp16.*openvino"),
     ({"backend": "openvino", "precision": "fp16"}, "openvino backend computes in fp32, bf16, int8"),
     ({"backend": "openvino", "precision": "int8"}, "int8 needs calibration images.*never calibrated on random"),
     ({"backend": "openvino", "device": "cuda"}, "OpenVINO runs on the CPU"),
     ({"backend": "eager", "onnx_path": "model.onnx"}, "onnxruntime or openvino backend"),
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
    assert result["batch_size"] == 2 and result["fps"] == pytest.approx(2000 / result["latency_ms"]["median"])
    assert "onnxruntime" in result["environment"] and result["latency_ms"]["median"] > 0


def test_bf16_on_a_cpu_without_bf16_instructions_is_refused_naming_them(model, monkeypatch):
    monkeypatch.setattr(deploy, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_vnni"}))
    with pytest.raises(UnsupportedPrecisionError, match="none of the instructions that make bf16 fast "
                                                        r"\(avx512_bf16, amx_bf16"):
        run_benchmark(model, "eager", 64, 128, precision="bf16", warmup=0, iterations=1, progress=False)


def test_label_agreement_and_miou_follow_their_formulas():
    labels = torch.zeros(1, 4, 8, dtype=torch.int64)
    flipped = labels.clone()
    flipped[0, 0, :3] = 1  # 3 of 32 pixels differ
    data = AccuracyData([torch.zeros(1, 3, 4, 8)] * 2, "two images", labels=[labels[0], labels[0]])
    accuracy = measure_accuracy(lambda x: flipped, lambda x: labels, "fp32", data, include_postprocess=True,
                                num_labels=2)
    assert accuracy["label_agreement"] == pytest.approx(29 / 32) and accuracy["images"] == 2
    # Class 0: intersection 29, union 32; class 1: intersection 0, union 3 -> mIoU (29/32 + 0) / 2.
    assert accuracy["mean_iou"] == pytest.approx(29 / 64) and accuracy["mean_iou_reference"] == 1.0
    assert accuracy["data"] == "two images"


@pytest.mark.skipif(not HAS_BF16, reason="BF16 needs a CPU with avx512_bf16 or amx_bf16")
def test_eager_bf16_is_autocast_and_records_its_agreement_with_fp32(model):
    inputs = [torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    with torch.no_grad():  # ground truth := the FP32 model's own labels, so mIoU_ref = 1 and pixel accuracy = agreement
        truth = [F.interpolate(model.eval()(x).logits, size=(64, 128), mode="bilinear",
                               align_corners=False).argmax(1)[0] for x in inputs]
    result = run_benchmark(model, "eager", 64, 128, precision="bf16", warmup=0, iterations=1, progress=False,
                           accuracy=AccuracyData(inputs, "noise", labels=truth))
    accuracy = result["accuracy"]
    assert accuracy["reference"] == "fp32 eager" and accuracy["mean_iou_reference"] == pytest.approx(1.0)
    assert 0.9 <= accuracy["label_agreement"] < 1.0  # BF16 rounding flips only near-ties
    assert result["precision"] == "bf16" and "avx512_bf16" in result["environment"]["cpu_precision_flags"]


@pytest.fixture(scope="module")
def static_onnx(model, tmp_path_factory):
    pytest.importorskip("onnxscript")
    from dabnet_zoo.export import export_onnx

    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "p1.onnx", 64, 128, dynamic=False)


def test_an_existing_onnx_file_is_timed_as_it_is(model, static_onnx, monkeypatch):
    from dabnet_zoo import benchmark

    monkeypatch.setattr(benchmark, "export_onnx", lambda *args, **kwargs: pytest.fail("exported again"))
    result = run_benchmark(model, "onnxruntime", 64, 128, warmup=0, iterations=1, progress=False,
                           onnx_path=static_onnx)
    assert result["latency_ms"]["median"] > 0
    with pytest.raises(InputError, match=r"input shape \[1, 3, 64, 128\], not \[1, 3, 128, 128\]"):
        run_benchmark(model, "onnxruntime", 128, 128, warmup=0, iterations=1, onnx_path=static_onnx)
    with pytest.raises(InputError, match="ends in logits: drop --include-postprocess"):
        run_benchmark(model, "onnxruntime", 64, 128, warmup=0, iterations=1, onnx_path=static_onnx,
                      include_postprocess=True)


def test_cli_takes_an_onnx_file_as_the_model_or_with_onnx(static_onnx, tmp_path, capsys, monkeypatch):
    from dabnet_zoo import benchmark

    monkeypatch.setattr(benchmark, "export_onnx", lambda *args, **kwargs: pytest.fail("exported again"))
    out = tmp_path / "result.json"
    common = ["--backend", "onnxruntime", "--size", "64x128", "--warmup", "0", "--iterations", "1", "--no-progress"]
    assert main(["benchmark", str(static_onnx), *common, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["model"], result["dataset"], result["weights_sha256"]) == ("dabnet_r18_p1", "cityscapes", None)
    assert main(["benchmark", "dabnet_r18_p1", "--onnx", str(static_onnx), *common]) == 0
    assert "dabnet_r18_p1" in capsys.readouterr().out


def test_openvino_backend_records_the_precision_it_computed_in(model, static_onnx):
    pytest.importorskip("openvino")
    result = run_benchmark(model, "openvino", 64, 128, warmup=0, iterations=1, progress=False, onnx_path=static_onnx)
    environment = result["environment"]
    assert (result["backend"], result["precision"], environment["inference_precision"]) == ("openvino", "fp32", "fp32")
    assert environment["openvino"] and result["accuracy"] is None
    if HAS_BF16:
        result = run_benchmark(model, "openvino", 64, 128, precision="bf16", warmup=0, iterations=1, progress=False,
                               onnx_path=static_onnx)
        assert result["environment"]["inference_precision"] == "bf16"


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
