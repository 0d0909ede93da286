"""OpenVINO on the CPU: IR export, FP32 and BF16 inference with the precision stated, INT8 quantisation.

The IR is converted from the ONNX export (:func:`dabnet_zoo.export.export_onnx_bytes`: batch norms folded, patch
folding fused, padding inside the graph, so any input size works), with its weights kept in FP32.

Precision is explicit. OpenVINO's CPU plugin computes in BF16 by default on CPUs with BF16 instructions
(AVX512_BF16, AMX), so FP32 must be asked for: :func:`compile_openvino` always sets ``INFERENCE_PRECISION_HINT``
and reads back what the plugin chose, and :class:`OpenVinoRunner` reports it. INT8 is NNCF's post-training
quantisation of the FP32 IR (:func:`quantize_int8`), calibrated on images the user gives (never random data:
ranges calibrated on noise are wrong for photos); the layers left in floating point run at the compile precision.

OpenVINO and NNCF are optional (``pip install "dabnet-zoo[openvino]"``) and imported only inside these functions.
NNCF sends usage telemetry unless it is switched off (``opt_in_out --opt_out``, from openvino-telemetry).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .deploy import check_cpu_precision, require_calibration
from .errors import DabnetZooError, InputError, UnsupportedPrecisionError
from .export import export_onnx_bytes, verify_runner
from .fileio import publish_dir
from .modeling_dabnet import DabnetForSemanticSegmentation

logger = logging.getLogger(__name__)

OPENVINO_FILE = "openvino_model.xml"  # and openvino_model.bin beside it; optimum-intel's names
# Precisions of the layers computed in floating point, and the plugin's names for them.
INFERENCE_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}
_INSTALL_HINT = 'pip install "dabnet-zoo[openvino]"'


def import_openvino() -> Any:
    """The ``openvino`` module, or an error that says how to get it."""
    try:
        import openvino
    except ImportError:
        raise DabnetZooError(f"OpenVINO is not installed: {_INSTALL_HINT}.") from None
    return openvino


def to_openvino(
    model: DabnetForSemanticSegmentation,
    include_postprocess: bool = False,
    verify_size: tuple[int, int] | None = (128, 256),
) -> Any:
    """An FP32 OpenVINO model (``openvino.Model``, dynamic batch, height and width) converted from the ONNX export.

    With ``verify_size``, the ONNX graph is checked in ONNX Runtime and the converted model in OpenVINO (FP32)
    against PyTorch on a seeded random batch of that size, with the ONNX export's tolerances
    (:func:`dabnet_zoo.export.verify_runner`); a model outside them is refused.
    """
    ov = import_openvino()
    height, width = verify_size or (128, 256)
    data = export_onnx_bytes(model, height, width, include_postprocess=include_postprocess, dynamic=True,
                             verify=verify_size is not None)
    converted = ov.convert_model(io.BytesIO(data))
    if verify_size is not None:
        pixel_values = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(0))
        check = verify_runner(model, OpenVinoRunner(compile_openvino(converted, "fp32")), pixel_values)
        if check.error > check.tolerance:
            raise DabnetZooError(f"The OpenVINO model does not match PyTorch ({check}); please report this with the "
                                 "model name.")
        logger.info("Verified in OpenVINO (fp32): %s", check)
    return converted


def quantize_int8(ov_model: Any, calibration: Sequence[torch.Tensor] | None) -> Any:
    """INT8 post-training quantisation (NNCF) of an FP32 OpenVINO model, calibrated on ``calibration``.

    Args:
        ov_model: an FP32 ``openvino.Model`` (:func:`to_openvino`).
        calibration: model inputs (1, 3, H, W) prepared from real images by the model's processor, e.g.
            :class:`dabnet_zoo.deploy.ProcessedImages`; a few hundred cover a dataset's value ranges.

    Raises:
        UnsupportedPrecisionError: no calibration images (random data would calibrate the wrong ranges).
    """
    require_calibration(calibration)
    check_cpu_precision("int8")
    try:
        import nncf
    except ImportError:
        raise DabnetZooError(f"INT8 quantisation needs NNCF: {_INSTALL_HINT}.") from None
    dataset = nncf.Dataset(calibration, lambda pixel_values: pixel_values.float().numpy())
    logger.info("Calibrating INT8 ranges on %d images", len(calibration))
    # NNCF probes torch's C++ extension support, which warns "No CUDA runtime is found" on CPU machines.
    extension_logger = logging.getLogger("torch.utils.cpp_extension")
    level = extension_logger.level
    extension_logger.setLevel(logging.ERROR)
    try:
        return nncf.quantize(ov_model, dataset, subset_size=len(calibration))
    finally:
        extension_logger.setLevel(level)


def export_openvino(
    model: DabnetForSemanticSegmentation,
    output_dir: str | os.PathLike,
    precision: str = "fp32",
    calibration: Sequence[torch.Tensor] | None = None,
    include_postprocess: bool = False,
    input_shape: tuple[int, int, int, int] | None = None,
    verify_size: tuple[int, int] | None = (128, 256),
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike] = (),
) -> Path:
    """Write an OpenVINO IR folder: ``openvino_model.xml``/``.bin`` (FP32 or INT8 weights) and ``config.json``.

    Args:
        model: a DABNet segmentation model.
        output_dir: the folder to create (atomically: complete or not at all).
        precision: ``fp32``, or ``int8`` (quantised with ``calibration``). BF16 is not a property of the file:
            it is chosen when the model is compiled (:func:`compile_openvino`).
        calibration: for ``int8``, inputs prepared from real images (:class:`dabnet_zoo.deploy.ProcessedImages`).
        include_postprocess: end the graph with resize to the input size + argmax (int32 labels).
        input_shape: fix the input shape (N, 3, H, W); default dynamic batch, height and width.
        verify_size: see :func:`to_openvino`; None skips the checks.
        overwrite: replace an existing folder.
        inputs: paths the export reads (the model folder, the calibration images): the output may neither be,
            hold nor lie inside one of them, so ``--overwrite`` can never delete the model it exports.
    """
    if precision not in ("fp32", "int8"):
        raise UnsupportedPrecisionError(
            f"An OpenVINO file holds fp32 or int8 weights, not {precision!r}; bf16 is chosen when it is compiled "
            "(dabnet_zoo.openvino.compile_openvino(..., precision='bf16'), or benchmark --precision bf16)."
        )
    if precision == "int8":
        require_calibration(calibration)
    ov = import_openvino()
    # Converted inside publish_dir: an output that exists (without overwrite) or is an input is refused first.
    with publish_dir(output_dir, overwrite=overwrite, inputs=inputs) as stage:
        ov_model = to_openvino(model, include_postprocess, verify_size)
        if precision == "int8":
            ov_model = quantize_int8(ov_model, calibration)
        if input_shape is not None:
            ov_model.reshape({0: list(input_shape)})
        ov.save_model(ov_model, stage / OPENVINO_FILE, compress_to_fp16=False)  # the default would halve them
        model.config.save_pretrained(stage)
    logger.info("Exported %s (%s weights)", output_dir, precision)
    return Path(output_dir)


def read_openvino(path: str | os.PathLike) -> Any:
    """An ``openvino.Model`` from an IR folder (:func:`export_openvino`), an ``.xml`` file or an ``.onnx`` file."""
    ov = import_openvino()
    path = Path(path)
    if path.is_dir():
        path = path / OPENVINO_FILE
    if not path.is_file():
        raise InputError(f"No OpenVINO or ONNX model at {path}; export one with `dabnet-zoo export openvino`.")
    return ov.Core().read_model(str(path))


def compile_openvino(
    ov_model: Any,
    precision: str = "fp32",
    threads: int | None = None,
    input_shape: tuple[int, int, int, int] | None = None,
) -> Any:
    """Compile an OpenVINO model for the CPU for latency, computing its floating-point layers in ``precision``.

    Args:
        ov_model: an ``openvino.Model`` (FP32 or INT8), or a path for :func:`read_openvino`.
        precision: ``fp32`` (set explicitly: the plugin's default is BF16 on CPUs that have it) or ``bf16``
            (refused on CPUs without BF16 instructions, where it would be emulated).
        threads: inference threads (default: OpenVINO's, one per core).
        input_shape: compile for this fixed (N, 3, H, W) shape (faster than a dynamic shape); the model itself
            is left as it is.

    Raises:
        UnsupportedPrecisionError: an unknown precision, bf16 on a CPU without BF16 instructions, or a plugin
            that does not compute in the precision asked for.
    """
    ov = import_openvino()
    if precision not in INFERENCE_PRECISIONS:
        raise UnsupportedPrecisionError(
            f"OpenVINO computes in {' or '.join(INFERENCE_PRECISIONS)}, not {precision!r} (int8 is a quantised "
            "model: dabnet_zoo.openvino.quantize_int8)."
        )
    check_cpu_precision(precision)
    if isinstance(ov_model, (str, os.PathLike)):
        ov_model = read_openvino(ov_model)
    if input_shape is not None:
        ov_model = ov_model.clone()
        ov_model.reshape({0: list(input_shape)})
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": INFERENCE_PRECISIONS[precision]}
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    compiled = ov.Core().compile_model(ov_model, "CPU", config)
    chosen = inference_precision(compiled)
    if chosen != precision:
        raise UnsupportedPrecisionError(
            f"OpenVINO was asked to compute in {precision} but chose {chosen} on this CPU."
        )
    return compiled


def inference_precision(compiled: Any) -> str:
    """The precision (``fp32``/``bf16``/...) a compiled model computes its floating-point layers in."""
    chosen = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # "f32", "bf16", "f16"
    return {"f32": "fp32", "f16": "fp16"}.get(chosen, chosen)


class OpenVinoRunner:
    """Runs a compiled OpenVINO model on CPU torch tensors: ``runner(pixel_values) -> output tensor``.

    The same interface as :class:`dabnet_zoo.export.OnnxRuntimeRunner`; ``inference_precision`` says what the
    plugin computes in.
    """

    def __init__(self, compiled: Any):
        self.request = compiled.create_infer_request()
        self.inference_precision = inference_precision(compiled)

    def __call__(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.device.type != "cpu":
            raise DabnetZooError(f"OpenVINO runs on the CPU here; got a tensor on {pixel_values.device}.")
        array = np.ascontiguousarray(pixel_values.detach().float().numpy())
        output = self.request.infer({0: array}, share_inputs=True)[0]
        return torch.from_numpy(np.array(output))


__all__ = [
    "INFERENCE_PRECISIONS",
    "OPENVINO_FILE",
    "OpenVinoRunner",
    "compile_openvino",
    "export_openvino",
    "import_openvino",
    "inference_precision",
    "quantize_int8",
    "read_openvino",
    "to_openvino",
]
