"""The fast inference path: batch norm folded into the convolutions, channels-last memory, optional compile;
and what reduced-precision deployment needs: the CPU's instruction sets, and real images for calibration.

Every step keeps the outputs of the eager model (within float rounding, ~1e-6 relative): folding rewrites
``BN(conv(x))`` as one convolution with scaled weights, which is exact arithmetic up to rounding; channels-last
only changes the memory layout. ``torch.compile`` with inductor's freezing additionally pre-packs the weights.

BF16 and INT8 are only faster than FP32 on CPUs with instructions for them (:data:`FAST_INSTRUCTIONS`);
elsewhere they are emulated, slower and less accurate, so :func:`check_cpu_precision` refuses BF16 and warns
for INT8. INT8 ranges are calibrated on images the user gives (:class:`ProcessedImages`), never on random data.
"""

from __future__ import annotations

import copy
import logging
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import torch
from timm.layers import BatchNormAct2d, ConvNormAct
from timm.models._efficientnet_blocks import DepthwiseSeparableConv, InvertedResidual
from timm.models._features import FeatureListNet
from timm.models.efficientnet import EfficientNetFeatures
from timm.models.resnet import BasicBlock
from torch import nn

from .errors import InputError, UnsupportedPrecisionError
from .data.datasets import read_image
from .image_processing_dabnet import DabnetImageProcessor
from .modeling_dabnet import DabnetForSemanticSegmentation, DabnetSemanticSegmenterOutput, DabnetSim

logger = logging.getLogger(__name__)

# For each block type: (convolutions whose outputs are summed, the batch norm applied to the sum), as the
# block's forward computes them. Registration order is not forward order (e.g. the SIM registers h2l_0 before
# h2h_0 and their BNs after both), so the pairs are spelled out rather than guessed.
_BN_FOLDS: dict[type, tuple[tuple[tuple[str, ...], str], ...]] = {
    ConvNormAct: ((("conv",), "bn"),),
    DabnetSim: (
        (("h2h_0",), "bnh_0"),
        (("h2l_0",), "bnl_0"),
        (("l2l_p1", "l2l_p2"), "l2l_bn"),
        (("h2h_1", "l2h_1"), "bnh_1"),
        (("l2l_1", "h2l_1"), "bnl_1"),
        (("h2h_2", "l2h_2"), "bnh_2"),
    ),
    BasicBlock: ((("conv1",), "bn1"), (("conv2",), "bn2")),
    DepthwiseSeparableConv: ((("conv_dw",), "bn1"), (("conv_pw",), "bn2")),
    InvertedResidual: ((("conv_pw",), "bn1"), (("conv_dw",), "bn2"), (("conv_pwl",), "bn3")),
    EfficientNetFeatures: ((("conv_stem",), "bn1"),),
    FeatureListNet: ((("conv1.6",), "bn1"),),  # the ResNet deep stem's last conv feeds the trunk's bn1
}


@torch.no_grad()
def _fold(parent: nn.Module, conv_names: tuple[str, ...], bn_name: str) -> None:
    """Fold ``bn(sum(convs))`` into the convolutions and replace the BN by its activation (or nothing)."""
    bn = parent.get_submodule(bn_name)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    for index, name in enumerate(conv_names):
        conv = parent.get_submodule(name)
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        bias = conv.bias * scale if conv.bias is not None else torch.zeros_like(scale)
        conv.bias = nn.Parameter(bias + shift if index == 0 else bias)  # the BN shift is added once to the sum
    # timm's BatchNormAct2d applies its activation after the normalisation; keep it.
    replacement = nn.Sequential(bn.drop, bn.act) if isinstance(bn, BatchNormAct2d) else nn.Identity()
    owner_name, _, attribute = bn_name.rpartition(".")
    setattr(parent.get_submodule(owner_name) if owner_name else parent, attribute, replacement)


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """Fold every batch norm of a DABNet model in eval mode into the convolution before it (in place).

    Covers DABNet's own blocks and the timm ResNet/EfficientNet blocks it uses; any ``nn.Sequential`` with a
    conv directly followed by a BN (the ResNet stem, downsampling) is folded too. Returns the model.
    """
    if model.training:
        raise ValueError("fold_batch_norms needs a model in eval mode: call model.eval() first.")
    folded = 0
    for module in list(model.modules()):
        for conv_names, bn_name in _BN_FOLDS.get(type(module), ()):
            _fold(module, conv_names, bn_name)
            folded += 1
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
                if isinstance(conv, nn.Conv2d) and type(bn) is nn.BatchNorm2d:
                    _fold(module, (conv_name,), bn_name)
                    folded += 1
    remaining = [name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if remaining:
        raise RuntimeError(f"Batch norms left unfolded: {', '.join(remaining[:5])}")
    logger.info("Folded %d batch norms", folded)
    return model


@torch.no_grad()
def fuse_patch_unshuffle(model: nn.Module) -> nn.Module:
    """Rewrite every SIM's ``h2l_0(pixel_unshuffle(x, P))`` as one convolution on ``x`` (in place).

    A 3x3 convolution over P x P patches folded into channels is a (3P x 3P) convolution with stride P and
    padding P on the unfolded input: the same products, summed in another order (~1e-7 relative). Exported
    graphs then have no reshape/transpose pair per SIM, which makes ONNX Runtime about 3% faster on a CPU at
    1024x2048 (eager PyTorch is unchanged, so :func:`optimize_for_inference` does not apply it). Returns the model.
    """
    for sim in (m for m in model.modules() if isinstance(m, DabnetSim)):
        conv, p = sim.h2l_0, sim.patch_size
        out_channels, folded_channels = conv.weight.shape[:2]
        channels = folded_channels // p**2
        # Folded channel c·P² + i·P + j, kernel tap (ky, kx) -> input channel c, tap (ky·P + i, kx·P + j).
        weight = conv.weight.reshape(out_channels, channels, p, p, 3, 3).permute(0, 1, 4, 2, 5, 3)
        fused = nn.Conv2d(channels, out_channels, 3 * p, stride=p, padding=p).to(conv.weight)
        fused.weight.copy_(weight.reshape(out_channels, channels, 3 * p, 3 * p))
        fused.bias.copy_(conv.bias)
        sim.h2l_0, sim.unshuffle = fused, nn.Identity()
    return model


class DabnetInferenceModel(nn.Module):
    """A deploy-ready DABNet: BN folded, channels-last, optionally compiled; eval only.

    Calling it returns the same :class:`DabnetSemanticSegmenterOutput` (``logits`` only) as the eager model.
    Build it with :func:`optimize_for_inference`.
    """

    def __init__(self, model: DabnetForSemanticSegmentation, channels_last: bool):
        super().__init__()
        self.model = model
        self.config = model.config
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    @torch.inference_mode()
    def forward(self, pixel_values: torch.Tensor) -> DabnetSemanticSegmenterOutput:
        pixel_values = pixel_values.contiguous(memory_format=self.memory_format)
        return DabnetSemanticSegmenterOutput(logits=self.model(pixel_values, return_dict=False)[0])


def optimize_for_inference(
    model: DabnetForSemanticSegmentation,
    fold_bn: bool = True,
    channels_last: bool = True,
    compile: bool = False,
    cuda_graphs: bool = False,
) -> DabnetInferenceModel:
    """A faster copy of ``model`` for inference; the original model is left untouched.

    Args:
        model: any DABNet segmentation model.
        fold_bn: fold batch norms into convolutions (:func:`fold_batch_norms`).
        channels_last: keep weights and activations in NHWC, which oneDNN and cuDNN convolve faster.
        compile: wrap the network in ``torch.compile`` with inductor's freezing (weights become constants and
            are pre-packed). The first call compiles (a minute or more on CPU) and each new input shape
            recompiles.
        cuda_graphs: with ``compile`` on a GPU, replay the whole network as one CUDA graph, which removes the
            per-kernel launch cost that dominates at batch 1. Each call then returns logits in a buffer that the
            next call overwrites (clone them to keep them).
    """
    network = copy.deepcopy(model).eval()
    if fold_bn:
        fold_batch_norms(network)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    if compile:
        # Per-compile inductor options: the process-wide inductor config is left alone.
        network = torch.compile(network, options={"freezing": True, "triton.cudagraphs": cuda_graphs})
    return DabnetInferenceModel(network, channels_last)


# Instructions (as /proc/cpuinfo names them) that make a precision fast on a CPU: any one of them suffices.
# x86: AVX-512 BF16 and AMX for bf16, AVX-512 / AVX VNNI and AMX for int8; Arm: BF16 and the int8 dot products.
FAST_INSTRUCTIONS = {
    "bf16": ("avx512_bf16", "amx_bf16", "bf16"),
    "int8": ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"),
}


def cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> frozenset[str] | None:
    """The CPU's instruction-set flags (``flags`` on x86, ``Features`` on Arm) from ``/proc/cpuinfo``, or None
    where they cannot be read (not Linux)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def require_calibration(calibration: object) -> None:
    """Refuse INT8 without calibration images (a folder or prepared inputs); callers check before any slow work.

    Ranges calibrated on random data are wrong for real images, so there is no fallback to them.
    """
    if not calibration:
        raise UnsupportedPrecisionError(
            "int8 needs calibration images (--calibration-images DIR: a few hundred of the images the model will "
            "see); it is never calibrated on random data, whose ranges are wrong for real images."
        )


def check_cpu_precision(precision: str) -> None:
    """Refuse ``bf16`` on a CPU without BF16 instructions (emulated BF16 is slower than FP32) and warn for ``int8``
    without int8 dot-product instructions (it runs, but may be no faster than FP32); ``fp32`` always passes.

    Raises:
        UnsupportedPrecisionError: bf16 on a CPU known to lack every instruction in :data:`FAST_INSTRUCTIONS`.
    """
    needed = FAST_INSTRUCTIONS.get(precision)
    if needed is None:
        return
    flags = cpu_flags()
    if flags is None:
        logger.warning("Cannot read this CPU's instruction sets (%s): %s is fast only with one of %s.",
                       platform.machine(), precision, ", ".join(needed))
        return
    if flags.isdisjoint(needed):
        message = (f"This CPU has none of the instructions that make {precision} fast ({', '.join(needed)}): "
                   f"{precision} would be emulated")
        if precision == "bf16":
            raise UnsupportedPrecisionError(f"{message}, slower than fp32 and less accurate; use fp32 here.")
        logger.warning("%s and may be no faster than fp32.", message)


def cpu_precision_flags() -> str:
    """The reduced-precision instructions this CPU has (for result files), e.g. ``"amx_bf16 avx512_bf16 ..."``."""
    flags = cpu_flags()
    if flags is None:
        return "unknown"
    known = sorted({flag for names in FAST_INSTRUCTIONS.values() for flag in names} & flags)
    return " ".join(known) or "none"


class ProcessedImages(Sequence):
    """Images of a folder as model inputs, read one at a time: ``images[i]`` is a (1, 3, H, W) float32 tensor.

    For INT8 calibration and label-agreement checks: each image is read as the original reads it and prepared by
    ``processor`` (the model's own test protocol; :func:`dabnet_zoo.zoo.with_size` fixes its size). At most
    ``limit`` images are used, spread evenly over the sorted file list. Nothing is held in memory (300 Cityscapes
    inputs are 7.5 GB).
    """

    def __init__(self, directory: str | os.PathLike, processor: DabnetImageProcessor, limit: int = 300):
        from .predict import IMAGE_SUFFIXES

        directory = Path(directory)
        if not directory.is_dir():
            raise InputError(f"Image folder {str(directory)!r} does not exist.")
        if limit < 1:
            raise InputError(f"The number of images must be at least 1, got {limit}.")
        paths = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise InputError(f"No images in {directory} (suffixes: {', '.join(sorted(IMAGE_SUFFIXES))}).")
        count = min(limit, len(paths))
        self.paths = [paths[index * len(paths) // count] for index in range(count)]
        self.processor = processor

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = read_image(self.paths[index])  # as the original reads it; an unreadable file is an InputError
        return self.processor(image, return_tensors="pt")["pixel_values"]


__all__ = [
    "FAST_INSTRUCTIONS",
    "DabnetInferenceModel",
    "ProcessedImages",
    "check_cpu_precision",
    "cpu_flags",
    "cpu_precision_flags",
    "fold_batch_norms",
    "fuse_patch_unshuffle",
    "optimize_for_inference",
]
