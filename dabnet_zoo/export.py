"""ONNX export, ONNX Runtime sessions and TensorRT engines for DABNet.

The ONNX graph has one input ``pixel_values`` (N, 3, H, W) with dynamic batch, height and width, where H and W
must be multiples of 32·P (sizes the original accepts; the exported graph does not pad). Its output is either
``logits`` (N, C, H/8, W/8), or with ``include_postprocess`` the whole-image prediction ``labels`` (N, H, W) as
int32: logits resized bilinearly to the input size and arg-maxed inside the graph, as the original's test mode
does. FP16 graphs keep float32 input and logits so callers need not change dtypes.

TensorRT is optional and cannot be installed everywhere; it is imported only inside the TensorRT functions,
which are written against the TensorRT 10/11 Python API (strongly typed networks: precision comes from the
ONNX file, so an FP16 engine is built from an FP16 export). :class:`OnnxRuntimeRunner` and
:class:`TensorRTRunner` take and return torch tensors on the input's device, so GPU runs involve no host copies.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .deploy import fold_batch_norms, fuse_patch_unshuffle
from .errors import DabnetZooError
from .fileio import atomic_file, write_atomic
from .modeling_dabnet import DabnetForSemanticSegmentation

logger = logging.getLogger(__name__)

_MAX_SIDE_MULTIPLE = 128  # dynamic height/width up to 128 x 32·P (4096 for P1)


def _round_up(side: int, multiple: int) -> int:
    return max(1, -(-side // multiple)) * multiple


def resize_and_argmax(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Whole-image labels from 1/8-resolution logits: bilinear resize to ``size``, then argmax over classes."""
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False).argmax(dim=1)


class _ExportWrapper(nn.Module):
    """Logits, or resize + argmax, from normalised float32 images; computes in ``dtype``."""

    def __init__(self, model: DabnetForSemanticSegmentation, include_postprocess: bool, dtype: torch.dtype):
        super().__init__()
        self.model = model.to(dtype).eval()
        self.include_postprocess = include_postprocess
        self.dtype = dtype

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        logits = self.model(pixel_values.to(self.dtype), return_dict=False)[0]
        if not self.include_postprocess:
            return logits.float()
        return resize_and_argmax(logits, pixel_values.shape[-2:]).to(torch.int32)


def export_onnx(
    model: DabnetForSemanticSegmentation,
    output_path: str | os.PathLike,
    height: int = 1024,
    width: int = 2048,
    include_postprocess: bool = False,
    fp16: bool = False,
    dynamic: bool = True,
    batch_size: int = 1,
    verify: bool = False,
) -> Path:
    """Export ``model`` to an ONNX file (written atomically) and check it with ``onnx.checker``.

    Batch norms are folded into the convolutions and each SIM's patch folding into its first convolution first
    (:func:`dabnet_zoo.deploy.fold_batch_norms`, :func:`dabnet_zoo.deploy.fuse_patch_unshuffle`).

    Args:
        model: a DABNet segmentation model (its weights are copied, the model itself is not changed).
        output_path: the ``.onnx`` file to write.
        height, width: the example input size; must be multiples of 32·P.
        include_postprocess: end the graph with bilinear resize to the input size and argmax (int32 labels).
        fp16: compute in float16 (input and logits stay float32).
        dynamic: dynamic batch, height and width (multiples of 32·P); otherwise the shape
            (``batch_size``, 3, ``height``, ``width``) is fixed.
        batch_size: the batch of a fixed-shape export.
        verify: before the file is written, run it in ONNX Runtime on a random batch and compare with ``model``
            in PyTorch (:func:`verify_onnx`); a file outside the tolerance is not written.
    """
    try:
        import onnx
    except ImportError:
        raise DabnetZooError('ONNX export needs onnx and onnxscript: pip install "dabnet-zoo[export]"') from None
    multiple = 32 * model.config.patch_size
    if batch_size < 1:
        raise DabnetZooError(f"Export batch size must be at least 1, got {batch_size}.")
    if height < 1 or width < 1 or height % multiple or width % multiple:
        raise DabnetZooError(
            f"Export size {height}x{width} is not a multiple of {multiple} (32·P for P={model.config.patch_size}); "
            f"use e.g. {_round_up(height, multiple)}x{_round_up(width, multiple)}."
        )
    # Folded batch norms: runtimes fuse conv + BN themselves, but not the SIM's BN after a sum of two convs.
    network = fuse_patch_unshuffle(fold_batch_norms(copy.deepcopy(model).eval().cpu()))  # traced on the CPU
    wrapper = _ExportWrapper(network, include_postprocess, torch.float16 if fp16 else torch.float32).eval()
    example = torch.randn(2 if dynamic else batch_size, 3, height, width)  # dynamic: size-1 dims get specialised
    dynamic_shapes = None
    if dynamic:
        batch = torch.export.Dim("batch", min=1, max=64)
        rows = torch.export.Dim("rows", min=1, max=_MAX_SIDE_MULTIPLE)
        cols = torch.export.Dim("cols", min=1, max=_MAX_SIDE_MULTIPLE)
        dynamic_shapes = {"pixel_values": {0: batch, 2: multiple * rows, 3: multiple * cols}}

    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_path.parent, prefix=f".{output_path.name}.") as staging:
        staged = Path(staging) / output_path.name
        program = torch.onnx.export(
            wrapper,
            (example,),
            input_names=["pixel_values"],
            output_names=["labels" if include_postprocess else "logits"],
            dynamic_shapes=dynamic_shapes,
            dynamo=True,
            external_data=False,
        )
        program.save(str(staged))
        onnx.checker.check_model(str(staged))
        if verify:
            random_batch = torch.randn(batch_size, 3, height, width, generator=torch.Generator().manual_seed(0))
            verification = verify_onnx(model, staged, random_batch, fp16=fp16)
            if verification.error > verification.tolerance:
                raise DabnetZooError(
                    f"The exported graph does not match PyTorch ({verification}); {output_path} was not written. "
                    "Please report this with the model name and --size."
                )
            logger.info("Verified in ONNX Runtime: %s", verification)
        os.replace(staged, output_path)
    logger.info("Exported %s (%s, %s)", output_path, "fp16" if fp16 else "fp32",
                "labels" if include_postprocess else "logits")
    return output_path


@dataclass(frozen=True)
class OnnxVerification:
    """How far ONNX Runtime's output is from PyTorch's on one batch.

    ``error`` is the largest absolute difference relative to the largest reference logit for a logits graph,
    or the fraction of pixels with another label for a labels graph (near-ties may flip in float16).
    """

    output: str
    error: float
    tolerance: float

    def __str__(self) -> str:
        what = "max relative difference of the logits" if self.output == "logits" else "fraction of differing labels"
        return f"{what} {self.error:.1e}, tolerance {self.tolerance:.0e}"


_TOLERANCES = {("logits", False): 1e-4, ("logits", True): 2e-2, ("labels", False): 1e-3, ("labels", True): 1e-2}


def verify_onnx(model: DabnetForSemanticSegmentation, onnx_path: str | os.PathLike, pixel_values: torch.Tensor,
                fp16: bool = False) -> OnnxVerification:
    """Run ``onnx_path`` in ONNX Runtime on the CPU and ``model`` (a copy, in eval mode) in PyTorch on
    ``pixel_values``; the tolerance is the issue's 1e-4 relative for FP32 logits."""
    output = OnnxRuntimeRunner(onnxruntime_session(onnx_path))(pixel_values)
    with torch.inference_mode():
        logits = copy.deepcopy(model).eval().cpu()(pixel_values).logits
    if output.dtype == torch.int32:
        kind, error = "labels", (output != resize_and_argmax(logits, pixel_values.shape[-2:])).float().mean()
    else:
        kind, error = "logits", (output - logits).abs().max() / logits.abs().max()
    return OnnxVerification(kind, float(error), _TOLERANCES[kind, fp16])


def onnxruntime_session(onnx_path: str | os.PathLike, device: str = "cpu", threads: int | None = None):
    """An ONNX Runtime session on the CPU (or CUDA when ``onnxruntime-gpu`` is installed), full graph optimisation."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise DabnetZooError('ONNX Runtime is not installed: pip install "dabnet-zoo[export]"') from None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise DabnetZooError("ONNX Runtime has no CUDA provider here: pip install onnxruntime-gpu.")
    return ort.InferenceSession(str(onnx_path), options, providers=providers)


class OnnxRuntimeRunner:
    """Runs an ONNX Runtime session on torch tensors through IO binding: ``runner(pixel_values) -> output``.

    Input and output stay where the input tensor lives (CPU, or GPU memory with the CUDA provider), so a GPU
    run times the network and not host/device copies, as the TensorRT and PyTorch backends do.
    """

    def __init__(self, session):
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output = session.get_outputs()[0]

    def __call__(self, pixel_values: torch.Tensor) -> torch.Tensor:
        import numpy as np

        pixel_values = pixel_values.contiguous()
        batch, _, height, width = pixel_values.shape
        if self.output.name == "labels":
            shape, dtype = (batch, height, width), torch.int32
        else:  # logits at 1/8 resolution; the class dimension is fixed in the graph
            shape, dtype = (batch, self.output.shape[1], height // 8, width // 8), torch.float32
        output = torch.empty(shape, dtype=dtype, device=pixel_values.device)
        element_type = np.int32 if dtype == torch.int32 else np.float32
        device_type, device_id = pixel_values.device.type, pixel_values.device.index or 0
        binding = self.session.io_binding()
        binding.bind_input(self.input_name, device_type, device_id, np.float32, tuple(pixel_values.shape),
                           pixel_values.data_ptr())
        binding.bind_output(self.output.name, device_type, device_id, element_type, shape, output.data_ptr())
        self.session.run_with_iobinding(binding)
        return output


def import_tensorrt():
    """The ``tensorrt`` module, or an error that says how to get it."""
    try:
        import tensorrt
    except ImportError:
        raise DabnetZooError(
            "TensorRT is not installed (it needs an NVIDIA GPU and NVIDIA's wheels: pip install tensorrt). "
            "Without it, deploy with ONNX Runtime (dabnet-zoo export onnx; benchmark --backend onnxruntime)."
        ) from None
    return tensorrt


def build_tensorrt_engine(
    onnx_path: str | os.PathLike,
    engine_path: str | os.PathLike,
    input_shape: tuple[int, int, int, int],
    min_input_shape: tuple[int, int, int, int] | None = None,
    max_input_shape: tuple[int, int, int, int] | None = None,
    workspace_gib: float = 4.0,
) -> Path:
    """Build and serialise (atomically) a TensorRT engine from an ONNX file written by :func:`export_onnx`.

    The network is strongly typed, so the precision is the ONNX file's: an FP16 engine is built from an
    ``fp16=True`` export. TF32 is switched off so an FP32 engine computes in IEEE float32 like the other backends.

    Args:
        onnx_path: the ONNX file.
        engine_path: the ``.engine`` file to write.
        input_shape: the (N, 3, H, W) shape the engine is tuned for.
        min_input_shape, max_input_shape: for a dynamic-shape export, the smallest and largest shapes the
            engine must accept (default: ``input_shape``); sides must stay multiples of 32·P.
        workspace_gib: the builder's scratch memory limit.
    """
    trt = import_tensorrt()
    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    # Strong typing is opt-in on TensorRT 10 and always on (flag ignored) on TensorRT 11.
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise DabnetZooError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    declared = tuple(network.get_input(0).shape)
    if -1 in declared:  # a dynamic-shape export needs an optimisation profile
        profile = builder.create_optimization_profile()
        profile.set_shape(network.get_input(0).name, min_input_shape or input_shape, input_shape,
                          max_input_shape or input_shape)
        config.add_optimization_profile(profile)
    elif declared != tuple(input_shape):
        raise DabnetZooError(
            f"{onnx_path} has the fixed input shape {declared}, not {tuple(input_shape)}: export it at this size "
            "or with dynamic shapes."
        )
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise DabnetZooError(f"TensorRT failed to build an engine from {onnx_path} (see its log above).")
    return write_atomic(engine_path, bytes(plan))


class TensorRTRunner:
    """Runs a serialised TensorRT engine on CUDA tensors: ``runner(pixel_values) -> output tensor``."""

    def __init__(self, engine_path: str | os.PathLike):
        trt = import_tensorrt()
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise DabnetZooError(
                f"TensorRT could not load {engine_path}: engines only run on the GPU model and TensorRT version "
                "that built them; build it again here (dabnet-zoo export tensorrt)."
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self._torch_dtype = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
                             trt.int64: torch.int64}[self.engine.get_tensor_dtype(self.output_name)]

    def __call__(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.device.type != "cuda" or pixel_values.dtype != torch.float32:
            raise DabnetZooError(
                f"TensorRT takes float32 CUDA tensors, got {pixel_values.dtype} on {pixel_values.device}: "
                "pass pixel_values.float().cuda()."
            )
        pixel_values = pixel_values.contiguous()
        if not self.context.set_input_shape(self.input_name, tuple(pixel_values.shape)):
            raise DabnetZooError(
                f"The engine does not accept the input shape {tuple(pixel_values.shape)}; build it for this shape "
                "(build_tensorrt_engine's input_shape / min_input_shape / max_input_shape)."
            )
        output = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), dtype=self._torch_dtype,
                             device=pixel_values.device)
        self.context.set_tensor_address(self.input_name, pixel_values.data_ptr())
        self.context.set_tensor_address(self.output_name, output.data_ptr())
        if not self.context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise DabnetZooError("TensorRT execution failed.")
        return output


__all__ = [
    "OnnxRuntimeRunner",
    "OnnxVerification",
    "TensorRTRunner",
    "build_tensorrt_engine",
    "export_onnx",
    "import_tensorrt",
    "onnxruntime_session",
    "resize_and_argmax",
    "verify_onnx",
]
