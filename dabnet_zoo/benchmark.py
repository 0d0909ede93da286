"""One latency protocol for every backend: PyTorch eager, the optimised eager path, torch.compile, ONNX Runtime
and TensorRT.

Protocol: a random normalised input of the requested size is prepared once on the device; ``warmup`` untimed
runs; then ``iterations`` timed runs, each synchronised (CUDA events on a GPU, ``perf_counter`` on the CPU).
Reported: median, p90 and mean latency in ms and FPS = 1000 · batch / mean latency. Input preparation and
host/device copies are not timed. With ``include_postprocess`` every backend also resizes the logits to the
input size and takes the argmax, as the original's whole-image inference does; otherwise the timed output is
the 1/8-resolution logits. The result records the environment (hardware, versions, threads, precision) so a
number never travels without its setup.

On a GPU, cuDNN autotuning is on (as in the original's latency tool) and ``fp32`` means IEEE float32 (TF32 off,
in PyTorch and TensorRT alike); ``compile`` replays the network as one CUDA graph.
"""

from __future__ import annotations

import contextlib
import copy
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .errors import DabnetZooError
from .deploy import optimize_for_inference
from .export import (
    OnnxRuntimeRunner,
    TensorRTRunner,
    build_tensorrt_engine,
    export_onnx,
    onnxruntime_session,
    resize_and_argmax,
)
from .modeling_dabnet import DabnetForSemanticSegmentation
from .registry import identify_config
from .results import BACKENDS, BENCHMARK_SCHEMA

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _torch_runner(model, backend: str, precision: str, include_postprocess: bool, device: str) -> Callable:
    dtype = PRECISIONS[precision]
    network = model.to(dtype)  # run_benchmark passes its own copy
    if backend != "eager":
        network = optimize_for_inference(network, compile=backend == "compile", cuda_graphs=device == "cuda")

    @torch.inference_mode()
    def run(pixel_values: torch.Tensor):
        logits = network(pixel_values).logits
        return resize_and_argmax(logits, pixel_values.shape[-2:]) if include_postprocess else logits

    return run


def _onnx_runner(model, workdir: Path, shape, precision, include_postprocess, device, threads) -> Callable:
    if precision == "bf16":
        raise DabnetZooError("ONNX Runtime backend: choose fp32 or fp16.")
    # A fixed-shape graph, as deployments and TensorRT engines use: every resize gets constant sizes, so ONNX
    # Runtime keeps the whole CPU graph in its blocked (NCHWc) layout (the dynamic export runs ~2% slower).
    path = export_onnx(model, workdir / "model.onnx", *shape[-2:], include_postprocess=include_postprocess,
                       fp16=precision == "fp16", dynamic=False, batch_size=shape[0])
    return OnnxRuntimeRunner(onnxruntime_session(path, device=device, threads=threads))


def _tensorrt_runner(model, workdir: Path, shape, precision, include_postprocess) -> Callable:
    if precision == "bf16":
        raise DabnetZooError("TensorRT backend: choose fp32 or fp16.")
    onnx_path = export_onnx(model, workdir / "model.onnx", *shape[-2:], include_postprocess=include_postprocess,
                            fp16=precision == "fp16", dynamic=False, batch_size=shape[0])
    return TensorRTRunner(build_tensorrt_engine(onnx_path, workdir / "model.engine", shape))


# (module, attribute, value while timing on a GPU): cuDNN autotuning, and IEEE float32 for "fp32".
_GPU_SETTINGS = (
    (torch.backends.cudnn, "benchmark", True),
    (torch.backends.cudnn, "allow_tf32", False),
    (torch.backends.cuda.matmul, "allow_tf32", False),
)


@contextlib.contextmanager
def _timing_settings(device: str, threads: int):
    """CPU threads, and :data:`_GPU_SETTINGS` on a GPU, while timing; the caller's settings are restored after."""
    saved_threads = torch.get_num_threads()
    saved = [getattr(module, name) for module, name, _ in _GPU_SETTINGS]
    torch.set_num_threads(threads)
    if device == "cuda":
        for module, name, value in _GPU_SETTINGS:
            setattr(module, name, value)
    try:
        yield
    finally:
        torch.set_num_threads(saved_threads)
        for (module, name, _), value in zip(_GPU_SETTINGS, saved):
            setattr(module, name, value)


def _environment(device: str, threads: int, backend: str) -> tuple[str, dict[str, str]]:
    environment = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": str(threads),
        "platform": platform.platform(),
    }
    for package in ("onnxruntime", "tensorrt", "timm", "transformers"):
        try:
            environment[package] = __import__(package).__version__
        except ImportError:
            pass
    if device == "cuda":
        hardware = torch.cuda.get_device_name()
        environment["cuda"] = str(torch.version.cuda)
        environment["cudnn"] = str(torch.backends.cudnn.version())
        environment["cudnn_benchmark"] = "on"
        environment["tf32"] = "off"
        environment.update(_gpu_state(torch.cuda.current_device()))
    else:
        hardware = _cpu_name()
    environment["cpu"] = _cpu_name()
    environment["cpu_count"] = str(os.cpu_count())
    if backend == "compile":
        environment["compile"] = "freezing, CUDA graphs" if device == "cuda" else "freezing"
    return hardware, environment


def _gpu_state(index: int) -> dict[str, str]:
    """Driver, clocks and power limit from nvidia-smi (GPU speed depends on them); empty where it is missing."""
    fields = ("driver_version", "clocks.sm", "clocks.max.sm", "clocks.mem", "power.limit")
    try:
        line = subprocess.run(
            ["nvidia-smi", f"--id={index}", f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    values = [value.strip() for value in line.split(",")]
    if len(values) != len(fields):
        return {}
    return {f"gpu_{field.replace('.', '_')}": value for field, value in zip(fields, values)}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores visible)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_benchmark(
    model: DabnetForSemanticSegmentation,
    backend: str = "eager",
    height: int = 1024,
    width: int = 2048,
    batch_size: int = 1,
    precision: str = "fp32",
    device: str = "cpu",
    threads: int | None = None,
    warmup: int | None = None,
    iterations: int | None = None,
    include_postprocess: bool = False,
    progress: bool = True,
    model_name: str = "",
    dataset: str = "",
    weights_sha256: str | None = None,
) -> dict:
    """Time one model on one backend; returns a ``dabnet-zoo/benchmark/v1`` result dict.

    Args:
        model: the model to time (weights do not affect speed; random weights are fine).
        backend: one of ``eager`` (the plain ``model.eval()`` path), ``optimized`` (BN folded, channels-last),
            ``compile`` (optimized + ``torch.compile`` with freezing), ``onnxruntime``, ``tensorrt``.
        height, width, batch_size: input shape; ONNX Runtime and TensorRT need multiples of 32·P.
        precision: ``fp32``, ``fp16`` or ``bf16`` (bf16: PyTorch backends only).
        device: ``cpu`` or ``cuda``.
        threads: intra-op threads on the CPU (default: ``torch.get_num_threads()``).
        warmup, iterations: untimed and timed runs (defaults: 3 and 10 on the CPU, 50 and 500 on a GPU).
        include_postprocess: also resize the logits to the input size and take the argmax.
        model_name, dataset: the variant and dataset the result is recorded under; by default the ones the
            model's config describes (:func:`dabnet_zoo.registry.identify_config`), ``"custom"`` for none.
        weights_sha256: sha256 of the weights file the model was loaded from, recorded in the result (None:
            random or unknown weights; latency does not depend on their values).
    """
    if backend not in BACKENDS:
        raise DabnetZooError(f"Unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    if precision not in PRECISIONS:
        raise DabnetZooError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
    if device == "cuda" and not torch.cuda.is_available():
        raise DabnetZooError("--device cuda was requested but CUDA is not available here.")
    if backend == "tensorrt" and device != "cuda":
        raise DabnetZooError("TensorRT runs on CUDA only: pass --device cuda.")
    on_gpu = device == "cuda"
    threads = threads or torch.get_num_threads()
    warmup = warmup if warmup is not None else (50 if on_gpu else 3)
    iterations = iterations if iterations is not None else (500 if on_gpu else 10)
    if min(batch_size, height, width, threads, iterations) < 1 or warmup < 0:
        raise DabnetZooError(
            f"batch size, height, width, threads and iterations must be at least 1 and warm-up at least 0; got "
            f"batch {batch_size}, {height}x{width}, {threads} threads, {iterations} iterations, warm-up {warmup}."
        )

    model = copy.deepcopy(model).eval().to(device)  # the caller's model is left as it was
    shape = (batch_size, 3, height, width)
    pixel_values = torch.randn(shape, device=device)
    with tempfile.TemporaryDirectory(prefix="dabnet-benchmark-") as workdir, _timing_settings(device, threads):
        if backend == "onnxruntime":
            run = _onnx_runner(model, Path(workdir), shape, precision, include_postprocess, device, threads)
        elif backend == "tensorrt":
            run = _tensorrt_runner(model, Path(workdir), shape, precision, include_postprocess)
        else:
            pixel_values = pixel_values.to(PRECISIONS[precision])
            run = _torch_runner(model, backend, precision, include_postprocess, device)
        latencies = _time(run, pixel_values, warmup, iterations, on_gpu, progress)

    hardware, environment = _environment(device, threads, backend)
    identity = identify_config(model.config)  # what the model is, where the caller does not say
    median, mean = statistics.median(latencies), statistics.fmean(latencies)
    # "inclusive" is numpy's default linear interpolation; the 9th of 10 cut points is the 90th percentile.
    p90 = statistics.quantiles(latencies, n=10, method="inclusive")[8] if len(latencies) > 1 else latencies[0]
    return {
        "schema": BENCHMARK_SCHEMA,
        "model": model_name or identity.variant or "custom",
        "dataset": dataset or identity.dataset or "custom",
        "weights_sha256": weights_sha256,
        "backend": backend,
        "precision": precision,
        "device": device,
        "hardware": hardware,
        "batch_size": batch_size,
        "height": height,
        "width": width,
        "includes_resize_argmax": include_postprocess,
        "warmup": warmup,
        "iterations": iterations,
        "latency_ms": {"median": median, "p90": p90, "mean": mean},
        "fps": 1000.0 * batch_size / median,  # from the median, the latency shown beside it
        "environment": environment,
        "command": "",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _time(run: Callable, pixel_values, warmup: int, iterations: int, on_gpu: bool, progress: bool) -> list[float]:
    """Latencies in ms of ``iterations`` synchronised runs after ``warmup`` runs."""
    for _ in tqdm(range(warmup), desc="warm-up", disable=not progress, leave=False):
        run(pixel_values)
    latencies = []
    for _ in tqdm(range(iterations), desc="timed", disable=not progress, leave=False):
        if on_gpu:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run(pixel_values)
            end.record()
            end.synchronize()
            latencies.append(start.elapsed_time(end))
        else:
            start_time = time.perf_counter()
            run(pixel_values)
            latencies.append((time.perf_counter() - start_time) * 1000.0)
    return latencies


__all__ = ["BACKENDS", "PRECISIONS", "run_benchmark"]
