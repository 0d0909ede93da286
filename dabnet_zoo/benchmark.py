"""One latency protocol for every backend: PyTorch eager, the optimised eager path, torch.compile, ONNX Runtime,
OpenVINO and TensorRT; with the accuracy of reduced precisions measured beside their speed.

Protocol: a random normalised input of the requested size is prepared once on the device; ``warmup`` untimed
runs; then ``iterations`` timed runs, each synchronised (CUDA events on a GPU, ``perf_counter`` on the CPU).
Reported: median, p90 and mean latency in ms and FPS = 1000 · batch / mean latency. Input preparation and
host/device copies are not timed. With ``include_postprocess`` every backend also resizes the logits to the
input size and takes the argmax, as the original's whole-image inference does; otherwise the timed output is
the 1/8-resolution logits. The result records the environment (hardware, versions, threads, precision) so a
number never travels without its setup.

On a GPU, cuDNN autotuning is on (as in the original's latency tool) and ``fp32`` means IEEE float32 (TF32 off,
in PyTorch and TensorRT alike); ``compile`` replays the network as one CUDA graph.

On a CPU, ``bf16`` in PyTorch is autocast (weights stay FP32, convolutions run in BF16) and in OpenVINO the
inference precision hint; ``int8`` is OpenVINO with NNCF quantisation, calibrated on real images. Both are refused
(bf16) or warned about (int8) on CPUs without the instructions that make them fast, and ``fp32`` is requested
explicitly from OpenVINO, which would otherwise pick BF16 on such CPUs. With :class:`AccuracyData`, the result
also records how often the labels agree with the same backend in FP32, and the mIoU of both where ground truth
is given.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .deploy import (
    check_cpu_precision,
    cpu_precision_flags,
    optimize_for_inference,
    require_calibration,
)
from .errors import DabnetZooError, InputError, UnsupportedPrecisionError
from .export import (
    OnnxRuntimeRunner,
    TensorRTRunner,
    build_tensorrt_engine,
    export_onnx,
    onnxruntime_session,
    resize_and_argmax,
)
from .metrics import ConfusionMatrixMeter
from .modeling_dabnet import DabnetForSemanticSegmentation
from .registry import identify_config
from .results import BACKENDS, BENCHMARK_SCHEMA
from .results import PRECISIONS as ALL_PRECISIONS

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}  # of the PyTorch backends
# What each backend computes in; int8 is OpenVINO's quantised model.
BACKEND_PRECISIONS = {
    "eager": ("fp32", "fp16", "bf16"),
    "optimized": ("fp32", "fp16", "bf16"),
    "compile": ("fp32", "fp16", "bf16"),
    "onnxruntime": ("fp32", "fp16"),
    "openvino": ("fp32", "bf16", "int8"),
    "tensorrt": ("fp32", "fp16"),
}


@dataclass(frozen=True)
class AccuracyData:
    """Images to measure a precision's accuracy on, against the same backend in FP32.

    Args:
        inputs: model inputs (1, 3, H, W) prepared by the model's processor, e.g.
            :class:`dabnet_zoo.deploy.ProcessedImages`.
        description: what the images are, recorded in the result (e.g. ``"synthetic val, 50 images"``).
        labels: optional ground-truth label maps (H, W), one per input, at the input's size: the mIoU of both
            precisions is then recorded too.
    """

    inputs: Sequence[torch.Tensor]
    description: str
    labels: Sequence[torch.Tensor] | None = None


def _check_precision(backend: str, precision: str, device: str, calibration) -> None:
    if precision not in ALL_PRECISIONS:
        raise UnsupportedPrecisionError(f"Unknown precision {precision!r}; choose one of {', '.join(ALL_PRECISIONS)}.")
    supported = BACKEND_PRECISIONS[backend]
    if precision not in supported:
        hint = " bf16 and int8 run in OpenVINO on a CPU (--backend openvino)." if precision in ("bf16", "int8") else ""
        raise UnsupportedPrecisionError(
            f"The {backend} backend computes in {', '.join(supported)}, not {precision}.{hint}"
        )
    if backend == "openvino" and device != "cpu":
        raise DabnetZooError("OpenVINO runs on the CPU here: drop --device cuda.")
    if precision == "int8":
        require_calibration(calibration)
    if device == "cpu" and precision in ("bf16", "int8"):
        check_cpu_precision(precision)


def _torch_runner(model, backend: str, precision: str, include_postprocess: bool, device: str) -> Callable:
    # On a CPU, bf16 is autocast: weights and the other layers stay FP32, oneDNN convolves in BF16.
    autocast = device == "cpu" and precision == "bf16"
    network = model if autocast else model.to(PRECISIONS[precision])  # run_benchmark passes its own copy
    if backend != "eager":
        network = optimize_for_inference(network, compile=backend == "compile", cuda_graphs=device == "cuda")

    @torch.inference_mode()
    def run(pixel_values: torch.Tensor):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = network(pixel_values).logits
        return resize_and_argmax(logits, pixel_values.shape[-2:]) if include_postprocess else logits

    return run


def _check_onnx_file(path, output: str, declared: list, shape, include_postprocess: bool) -> None:
    """Refuse an ONNX file whose output (logits or labels) or fixed input sizes (ints in ``declared``; anything
    else is dynamic) differ from what is to be timed."""
    if (output == "labels") != include_postprocess:
        raise InputError(f"{path} ends in {output}: {'add' if output == 'labels' else 'drop'} --include-postprocess.")
    if any(isinstance(size, int) and size != wanted for size, wanted in zip(declared, shape)):
        raise InputError(f"{path} has the input shape {declared}, not {list(shape)}: pass --size and --batch-size to "
                         "match it, or use a dynamic export.")


def _onnx_runner(model, workdir: Path, shape, precision, include_postprocess, device, threads,
                 onnx_path=None) -> Callable:
    if onnx_path is not None:  # an existing file, timed as it is
        session = onnxruntime_session(onnx_path, device=device, threads=threads)
        _check_onnx_file(onnx_path, session.get_outputs()[0].name, session.get_inputs()[0].shape, shape,
                         include_postprocess)
        return OnnxRuntimeRunner(session)
    # A fixed-shape graph, as deployments and TensorRT engines use: every resize gets constant sizes, so ONNX
    # Runtime keeps the whole CPU graph in its blocked (NCHWc) layout (the dynamic export runs ~2% slower).
    path = export_onnx(model, workdir / "model.onnx", *shape[-2:], include_postprocess=include_postprocess,
                       fp16=precision == "fp16", dynamic=False, batch_size=shape[0])
    return OnnxRuntimeRunner(onnxruntime_session(path, device=device, threads=threads))


@dataclass
class _OpenVino:
    """The OpenVINO model to time, its FP32 original and the compile precision (see :func:`_openvino`)."""

    fp32: object
    timed: object
    compute_precision: str
    threads: int

    def runner(self, model, precision: str, shape=None) -> Callable:
        from .openvino import OpenVinoRunner, compile_openvino

        return OpenVinoRunner(compile_openvino(model, precision, self.threads, input_shape=shape))


def _openvino(model, shape, precision, include_postprocess, threads, onnx_path, calibration,
              float_precision) -> _OpenVino:
    """The FP32 OpenVINO model (converted from ``model``, or read from ``onnx_path``) and, for int8, its
    quantised copy; the layers left in floating point compute in ``float_precision``."""
    from .openvino import quantize_int8, read_openvino, to_openvino

    if onnx_path is not None:
        fp32 = read_openvino(onnx_path)
        declared = [dim.get_length() if dim.is_static else "?" for dim in fp32.input(0).get_partial_shape()]
        _check_onnx_file(onnx_path, fp32.output(0).get_any_name(), declared, shape, include_postprocess)
    else:
        fp32 = to_openvino(model, include_postprocess, verify_size=None)
    if precision == "int8":
        if float_precision not in ("fp32", "bf16"):
            raise UnsupportedPrecisionError(f"int8's floating-point layers run in fp32 or bf16, not {float_precision}.")
        check_cpu_precision(float_precision)
        return _OpenVino(fp32, quantize_int8(fp32, calibration), float_precision, threads)
    return _OpenVino(fp32, fp32, precision, threads)


def measure_accuracy(run: Callable, reference: Callable, reference_name: str, data: AccuracyData,
                     include_postprocess: bool, num_labels: int, ignore_index: int = 255) -> dict:
    """Label agreement of ``run`` with ``reference`` (and the mIoU of both with ground truth) on ``data``, as the
    result's ``accuracy`` (``reference_name`` says what the reference is, e.g. ``"fp32 openvino"``).

    Both callables take model inputs and return logits, or labels with ``include_postprocess``; labels are
    compared at the input's size (logits resized and arg-maxed as the whole-image prediction is).
    """
    if len(data.inputs) == 0:
        raise InputError(f"No images to measure accuracy on ({data.description}).")
    if data.labels is not None and len(data.labels) != len(data.inputs):
        raise InputError(f"{len(data.labels)} label maps for {len(data.inputs)} images ({data.description}).")
    meters = [ConfusionMatrixMeter(num_labels, ignore_index=ignore_index) for _ in range(2)]
    agreeing = total = 0
    for index, pixel_values in enumerate(data.inputs):
        predictions = []
        for runner in (run, reference):
            output = runner(pixel_values)
            predictions.append(output if include_postprocess else resize_and_argmax(output.float(),
                                                                                    pixel_values.shape[-2:]))
        ours, theirs = (prediction.long().cpu() for prediction in predictions)
        agreeing += int((ours == theirs).sum())
        total += ours.numel()
        if data.labels is not None:
            labels = torch.as_tensor(data.labels[index]).reshape(ours.shape)
            for meter, prediction in zip(meters, (ours, theirs)):
                meter.update(prediction, labels)
    mean_ious = [float(meter.compute()["mean_iou"]) if data.labels is not None else None for meter in meters]
    return {"reference": reference_name, "data": data.description, "images": len(data.inputs),
            "label_agreement": agreeing / total, "mean_iou": mean_ious[0], "mean_iou_reference": mean_ious[1]}


def _tensorrt_runner(model, workdir: Path, shape, precision, include_postprocess) -> Callable:
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
    environment["cpu_precision_flags"] = cpu_precision_flags()
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
    onnx_path: str | os.PathLike | None = None,
    calibration: Sequence[torch.Tensor] | None = None,
    accuracy: AccuracyData | None = None,
    float_precision: str = "fp32",
) -> dict:
    """Time one model on one backend; returns a ``dabnet-zoo/benchmark/v2`` result dict.

    Args:
        model: the model to time (weights do not affect speed; random weights are fine).
        backend: one of ``eager`` (the plain ``model.eval()`` path), ``optimized`` (BN folded, channels-last),
            ``compile`` (optimized + ``torch.compile`` with freezing), ``onnxruntime``, ``openvino`` (CPU),
            ``tensorrt``.
        height, width, batch_size: input shape.
        precision: ``fp32``, ``fp16``, ``bf16`` or ``int8`` (:data:`BACKEND_PRECISIONS` says which backend
            computes in which).
        device: ``cpu`` or ``cuda``.
        threads: intra-op threads on the CPU (default: ``torch.get_num_threads()``).
        warmup, iterations: untimed and timed runs (defaults: 3 and 10 on the CPU, 50 and 500 on a GPU).
        include_postprocess: also resize the logits to the input size and take the argmax.
        model_name, dataset: the variant and dataset the result is recorded under; by default the ones the
            model's config describes (:func:`dabnet_zoo.registry.identify_config`), ``"custom"`` for none.
        weights_sha256: sha256 of the weights file the model was loaded from, recorded in the result (None:
            random or unknown weights; latency does not depend on their values).
        onnx_path: for ``onnxruntime`` and ``openvino``, an existing ONNX file (:func:`dabnet_zoo.export.export_onnx`
            of ``model``) to time as it is, instead of exporting ``model`` again.
        calibration: for ``int8``, model inputs prepared from real images (:class:`dabnet_zoo.deploy.ProcessedImages`).
        accuracy: images to measure the label agreement with the same backend in FP32 on (``eager`` for the
            PyTorch backends), recorded as the result's ``accuracy``.
        float_precision: for ``int8``, the precision of the layers left in floating point (``fp32`` or ``bf16``).
    """
    if backend not in BACKENDS:
        raise DabnetZooError(f"Unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    _check_precision(backend, precision, device, calibration)
    if onnx_path is not None and backend not in ("onnxruntime", "openvino"):
        raise DabnetZooError(f"An ONNX file is timed by the onnxruntime or openvino backend, not {backend}.")
    if accuracy is not None and backend in ("onnxruntime", "tensorrt"):
        raise DabnetZooError(f"Accuracy is measured on the PyTorch and OpenVINO backends, not {backend}.")
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
    settings: dict[str, str] = {}
    measured = None
    with tempfile.TemporaryDirectory(prefix="dabnet-benchmark-") as workdir, _timing_settings(device, threads):
        if backend == "onnxruntime":
            run = _onnx_runner(model, Path(workdir), shape, precision, include_postprocess, device, threads,
                               onnx_path)
        elif backend == "openvino":
            openvino = _openvino(model, shape, precision, include_postprocess, threads, onnx_path, calibration,
                                 float_precision)
            run = openvino.runner(openvino.timed, openvino.compute_precision, shape)
            settings = {"openvino": __import__("openvino").__version__,
                        "inference_precision": run.inference_precision}
            if precision == "int8":
                settings.update(nncf=__import__("nncf").__version__, calibration_images=str(len(calibration)))
            if accuracy is not None:  # dynamic shapes: the images need not have the timed size
                measured = measure_accuracy(openvino.runner(openvino.timed, openvino.compute_precision),
                                            openvino.runner(openvino.fp32, "fp32"), "fp32 openvino", accuracy,
                                            include_postprocess, model.config.num_labels,
                                            model.config.semantic_loss_ignore_index)
        elif backend == "tensorrt":
            run = _tensorrt_runner(model, Path(workdir), shape, precision, include_postprocess)
        else:
            if accuracy is not None:  # built first: the runner below converts the model in place
                reference = _torch_runner(copy.deepcopy(model), "eager", "fp32", include_postprocess, device)
            if not (device == "cpu" and precision == "bf16"):  # autocast takes float32 inputs
                pixel_values = pixel_values.to(PRECISIONS[precision])
            run = _torch_runner(model, backend, precision, include_postprocess, device)
            if accuracy is not None:
                measured = measure_accuracy(lambda x: run(x.to(device, pixel_values.dtype)),
                                            lambda x: reference(x.to(device)), "fp32 eager", accuracy,
                                            include_postprocess, model.config.num_labels,
                                            model.config.semantic_loss_ignore_index)
        latencies = _time(run, pixel_values, warmup, iterations, on_gpu, progress)

    hardware, environment = _environment(device, threads, backend)
    environment.update(settings)
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
        "accuracy": measured,
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


__all__ = ["BACKENDS", "BACKEND_PRECISIONS", "PRECISIONS", "AccuracyData", "measure_accuracy", "run_benchmark"]
