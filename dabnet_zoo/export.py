"""ONNX export, ONNX Runtime sessions and TensorRT engines for DABNet.

The ONNX graph has one input ``pixel_values`` (N, 3, H, W) with dynamic batch, height and width of any size: like
the PyTorch model, the graph zero-pads the input at the bottom and right to the nearest size the original
accepts and crops the logits back, so every size gives PyTorch's logits. Its output is either ``logits``
(N, C, ceil(H/8), ceil(W/8)), or with ``include_postprocess`` the whole-image prediction ``labels`` (N, H, W) as
int32: logits resized bilinearly to the input size and arg-maxed inside the graph, as the original's test mode
does. FP16 graphs keep float32 input and logits so callers need not change dtypes.

TensorRT is optional and cannot be installed everywhere; it is imported only inside the TensorRT functions,
which are written against the TensorRT 10/11 Python API (strongly typed networks: precision comes from the
ONNX file, so an FP16 engine is built from an FP16 export). :class:`OnnxRuntimeRunner` and
:class:`TensorRTRunner` take and return torch tensors on the input's device, so GPU runs involve no host copies.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .deploy import fold_batch_norms, fuse_patch_unshuffle
from .configuration_dabnet import DabnetConfig
from .errors import DabnetZooError, InputError
from .fileio import write_atomic
from .image_processing_dabnet import resize_logits
from .modeling_dabnet import DabnetForSemanticSegmentation

logger = logging.getLogger(__name__)

# The ONNX metadata key holding the exported model's config (JSON).
CONFIG_METADATA_KEY = "dabnet_zoo_config"
# Traced input of a dynamic export: batch 2 and sides that need padding for every P (so no size is specialised).
_TRACE_SHAPE = (2, 3, 96, 160)


def padded_side(side, patch_size: int):
    """:func:`dabnet_zoo.modeling_dabnet.valid_input_size` for one side, in closed form with integer operations
    that ``torch.export`` keeps symbolic (``side`` may be an int or a SymInt).

    For P >= 2 the valid sides are exactly 32·m - 2 and 32·m with m a multiple of P (every stage side
    ceil(side / 2**k), k = 2..5, is then a multiple of P, and an even side is needed): the smallest one at least
    ``side`` is 32·m - 2 for the smallest such m, or 32·m when ``side`` exceeds 32·m - 2. For P = 1 any even side
    is valid. The model's own loop cannot be traced with symbolic sizes.
    """
    even = 2 * ((side + 1) // 2)
    if patch_size == 1:
        return even
    multiple = 32 * patch_size
    return torch.sym_max(multiple * ((side + multiple - 1) // multiple) - 2, even)


def resize_and_argmax(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Whole-image labels from 1/8-resolution logits: the test protocol's resize to the network input ``size``
    (:func:`~dabnet_zoo.image_processing_dabnet.resize_logits`, bilinear, ``align_corners=False``), then the
    argmax over classes. Torch operations only, so that it goes into the exported graph."""
    return resize_logits(logits, size).argmax(dim=1)


class _ExportWrapper(nn.Module):
    """Logits, or resize + argmax, from normalised float32 images of any size; computes in ``dtype``.

    Pads and crops as :meth:`DabnetForSemanticSegmentation.forward` does, with the symbolic :func:`padded_side`
    (the model skips its own padding under ``torch.export``) and a crop written as ``(side + 7) // 8``: the
    model's ``-(-side // 8)`` is exported as a truncating division and crops one row short.
    """

    def __init__(self, model: DabnetForSemanticSegmentation, include_postprocess: bool, dtype: torch.dtype):
        super().__init__()
        self.model = model.to(dtype).eval()
        self.include_postprocess = include_postprocess
        self.dtype = dtype

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        height, width = pixel_values.shape[-2:]
        patch_size = self.model.config.patch_size
        padding = (0, padded_side(width, patch_size) - width, 0, padded_side(height, patch_size) - height)
        features = self.model.dabnet(F.pad(pixel_values.to(self.dtype), padding), return_dict=False)[0]
        logits = self.model.decode_head(features)[..., : (height + 7) // 8, : (width + 7) // 8]
        if not self.include_postprocess:
            return logits.float()
        return resize_and_argmax(logits, (height, width)).to(torch.int32)


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
    """Export ``model`` to an ONNX file (see :func:`export_onnx_bytes` for the arguments).

    The graph is built, checked and (with ``verify``) run in memory; the file is then written atomically, so a
    failed export leaves nothing behind, not even the output's folder.
    """
    data = export_onnx_bytes(model, height, width, include_postprocess, fp16, dynamic, batch_size, verify)
    write_atomic(output_path, data)
    logger.info("Exported %s (%s, %s)", output_path, "fp16" if fp16 else "fp32",
                "labels" if include_postprocess else "logits")
    return Path(output_path)


def export_onnx_bytes(
    model: DabnetForSemanticSegmentation,
    height: int = 1024,
    width: int = 2048,
    include_postprocess: bool = False,
    fp16: bool = False,
    dynamic: bool = True,
    batch_size: int = 1,
    verify: bool = False,
) -> bytes:
    """Export ``model`` to a serialised ONNX model, checked with ``onnx.checker``.

    The model's config is stored in the file's metadata (``dabnet_zoo_config``), so the file names its model.

    Batch norms are folded into the convolutions and each SIM's patch folding into its first convolution first
    (:func:`dabnet_zoo.deploy.fold_batch_norms`, :func:`dabnet_zoo.deploy.fuse_patch_unshuffle`).

    Args:
        model: a DABNet segmentation model (its weights are copied, the model itself is not changed).
        height, width: the input size of a fixed-shape export, and the size that ``verify`` runs at.
        include_postprocess: end the graph with bilinear resize to the input size and argmax (int32 labels).
        fp16: compute in float16 (input and logits stay float32).
        dynamic: dynamic batch, height and width (any size); otherwise the shape (``batch_size``, 3,
            ``height``, ``width``) is fixed.
        batch_size: the batch of a fixed-shape export.
        verify: before the file is written, run it in ONNX Runtime on a random batch and compare with ``model``
            in PyTorch (:func:`verify_onnx`); a file outside the tolerance is not written.
    """
    try:
        import onnx
    except ImportError:
        raise DabnetZooError('ONNX export needs onnx and onnxscript: pip install "dabnet-zoo[export]"') from None
    if batch_size < 1 or height < 1 or width < 1:
        raise DabnetZooError(
            f"Export batch size, height and width must be at least 1, got batch {batch_size}, {height}x{width}."
        )
    # Folded batch norms: runtimes fuse conv + BN themselves, but not the SIM's BN after a sum of two convs.
    network = fuse_patch_unshuffle(fold_batch_norms(copy.deepcopy(model).eval().cpu()))  # traced on the CPU
    wrapper = _ExportWrapper(network, include_postprocess, torch.float16 if fp16 else torch.float32).eval()
    if dynamic:
        example = torch.randn(_TRACE_SHAPE)
        any_size = torch.export.Dim.DYNAMIC
        dynamic_shapes = {"pixel_values": {0: any_size, 2: any_size, 3: any_size}}
    else:
        example, dynamic_shapes = torch.randn(batch_size, 3, height, width), None
    program = torch.onnx.export(
        wrapper,
        (example,),
        input_names=["pixel_values"],
        output_names=["labels" if include_postprocess else "logits"],
        dynamic_shapes=dynamic_shapes,
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    proto = program.model_proto
    onnx.helper.set_model_props(proto, {CONFIG_METADATA_KEY: model.config.to_json_string()})
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if verify:
        random_batch = torch.randn(batch_size, 3, height, width, generator=torch.Generator().manual_seed(0))
        verification = verify_onnx(model, data, random_batch, fp16=fp16)
        if verification.error > verification.tolerance:
            raise DabnetZooError(
                f"The exported graph does not match PyTorch ({verification}); the file was not written. "
                "Please report this with the model name and --size."
            )
        logger.info("Verified in ONNX Runtime: %s", verification)
    return data


def onnx_config(onnx_path: str | os.PathLike) -> DabnetConfig:
    """The config of the model an ONNX file was exported from, read from the metadata :func:`export_onnx` writes."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load(str(onnx_path), load_external_data=False)
    except (OSError, DecodeError) as error:
        raise InputError(f"{onnx_path} is not a readable ONNX file ({type(error).__name__}: {error}).") from None
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    if CONFIG_METADATA_KEY not in metadata:
        raise InputError(
            f"{onnx_path} carries no dabnet-zoo model config (exported by another tool or an older dabnet-zoo): "
            "pass the model it was exported from as MODEL and the file with --onnx."
        )
    return DabnetConfig.from_dict(json.loads(metadata[CONFIG_METADATA_KEY]))


@dataclass(frozen=True)
class OnnxVerification:
    """How far an exported model's output (ONNX Runtime, OpenVINO) is from PyTorch's on one batch.

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


def verify_onnx(model: DabnetForSemanticSegmentation, onnx_path: str | os.PathLike | bytes,
                pixel_values: torch.Tensor, fp16: bool = False) -> OnnxVerification:
    """:func:`verify_runner` for ``onnx_path`` (a file, or a serialised model) in ONNX Runtime on the CPU."""
    return verify_runner(model, OnnxRuntimeRunner(onnxruntime_session(onnx_path)), pixel_values, fp16)


def verify_runner(model: DabnetForSemanticSegmentation, runner: Callable[[torch.Tensor], torch.Tensor],
                  pixel_values: torch.Tensor, fp16: bool = False) -> OnnxVerification:
    """Run an exported model's ``runner`` (ONNX Runtime, OpenVINO) and ``model`` (a copy, in eval mode) in PyTorch
    on ``pixel_values``; the tolerance is 1e-4 relative for FP32 logits (see :class:`OnnxVerification`)."""
    output = runner(pixel_values)
    with torch.inference_mode():
        logits = copy.deepcopy(model).eval().cpu()(pixel_values).logits
    if output.dtype == torch.int32:
        kind, error = "labels", (output != resize_and_argmax(logits, pixel_values.shape[-2:])).float().mean()
    else:
        kind, error = "logits", (output - logits).abs().max() / logits.abs().max()
    return OnnxVerification(kind, float(error), _TOLERANCES[kind, fp16])


def onnxruntime_session(onnx_path: str | os.PathLike | bytes, device: str = "cpu", threads: int | None = None):
    """An ONNX Runtime session on the CPU (or CUDA when ``onnxruntime-gpu`` is installed), full graph optimisation.

    ``onnx_path`` is a file or a serialised model (bytes)."""
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
    if isinstance(onnx_path, bytes):
        return ort.InferenceSession(onnx_path, options, providers=providers)
    if not Path(onnx_path).is_file():
        raise InputError(f"No ONNX file at {onnx_path}; export one with `dabnet-zoo export onnx`.")
    try:
        return ort.InferenceSession(str(onnx_path), options, providers=providers)
    except (ort.capi.onnxruntime_pybind11_state.InvalidProtobuf, ort.capi.onnxruntime_pybind11_state.Fail) as error:
        raise InputError(f"{onnx_path} is not a readable ONNX file ({error}).") from None


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
            shape, dtype = (batch, self.output.shape[1], -(-height // 8), -(-width // 8)), torch.float32
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
            engine must accept (default: ``input_shape``).
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
    "export_onnx_bytes",
    "import_tensorrt",
    "onnx_config",
    "onnxruntime_session",
    "padded_side",
    "resize_and_argmax",
    "verify_onnx",
    "verify_runner",
]
