"""PyTorch DABNet: Real-time Semantic Segmentation via Densely Aggregated Bilateral Network.

One readable module in the transformers style: blocks, then the pre-trained base class, then the headless
``DabnetModel`` and ``DabnetForSemanticSegmentation``. Attribute names inside the blocks are the original's
(``h2l_0``, ``sp_0``, ``arm16`` ...) and timm's inside the backbone, so the checkpoint converter is a short
rename table. docs/architecture.md describes the network and the original's conventions.

This module imports nothing from the rest of the package but its configuration, so it can travel to the Hub
as remote code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import timm
import torch
import torch.nn.functional as F
from timm.layers import ConvNormAct
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_dabnet import DabnetConfig

_MODULE = __name__.rpartition(".")[2]  # "modeling_dabnet", as auto_map names it, wherever the module was imported from

# How DabnetPreTrainedModel._init_weights initialises a convolution or batch norm, by the ``init_scheme``
# attribute that the code building it sets; a convolution without one gets PyTorch's default (as the original's
# SIM convolutions), a batch norm weight 1.
_KAIMING_FAN_OUT = "kaiming_fan_out"  # mmcv's ConvModule and timm's ResNet: Kaiming normal, fan-out, ReLU gain
_EFFICIENTNET = "efficientnet"  # timm's EfficientNet: normal(0, sqrt(2 / fan-out)), fan-out per group
_CLASSIFIER = "classifier"  # mmseg's conv_seg: normal(0, 0.01)
_ZERO_GAMMA = "zero_gamma"  # a batch norm whose weight starts at 0 (timm's zero_init_last in residual blocks)

# How each context path is built by timm and cut into the stem (stride 2) and the four stages (strides 4, 8,
# 16, 32) that DABNet runs one by one (see docs/architecture.md). Names are timm's module paths.
_CONTEXT_PATHS: dict[str, dict] = {
    "resnet18_v1c": {
        # mmseg's ResNetV1c-18 = torchvision ResNet-18 with a 32-32-64 three-conv stem and no average-down.
        "timm_name": "resnet18",
        "timm_kwargs": {"stem_type": "deep", "stem_width": 32},
        "stem": ("conv1", "bn1", "act1"),
        "stages": (("maxpool", "layer1"), ("layer2",), ("layer3",), ("layer4",)),
        "conv_init": _KAIMING_FAN_OUT,  # timm's ResNet.init_weights, plus zero_init_last on each block's last BN
    },
    "efficientnet_b1": {
        "timm_name": "efficientnet_b1",
        "timm_kwargs": {},
        "stem": ("conv_stem", "bn1", "blocks.0"),
        "stages": (("blocks.1",), ("blocks.2",), ("blocks.3", "blocks.4"), ("blocks.5", "blocks.6")),
        "conv_init": _EFFICIENTNET,  # timm's _init_weight_goog
    },
}


def valid_input_size(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """Return the smallest (height, width), at least the given one, that the original network accepts.

    The original crashes unless both sides are even (its spatial path concatenates a 2x2-average-pooled image
    with the stride-2 stem output) and every stage side ``ceil(side / 2**k)``, k = 2..5, is divisible by the
    patch size P (each SIM folds P x P patches). Multiples of 32·P always qualify; smaller valid
    sides exist (e.g. 62 for P2), and the original's own sizes (1024x2048 for every P, 768x960 for P1/P2/E,
    640x640 up to P4) are returned unchanged.
    """

    def smallest_valid(side: int) -> int:
        side += side % 2
        while any(-(-side // 2**k) % patch_size for k in range(2, 6)):
            side += 2
        return side

    return smallest_valid(height), smallest_valid(width)


def _set_init_scheme(module: nn.Module, scheme: str) -> nn.Module:
    module.init_scheme = scheme
    return module


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, act: bool = True):
    """mmcv's ConvModule (conv without bias -> BN -> ReLU); timm's block has the same ``conv``/``bn`` keys."""
    block = ConvNormAct(in_channels, out_channels, kernel_size, stride=stride, apply_act=act)
    _set_init_scheme(block.conv, _KAIMING_FAN_OUT)
    return block


def _upsample_like(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=reference.shape[-2:], mode="bilinear", align_corners=False)


class DabnetSim(nn.Module):
    """Scale Interaction Module on one context stage: the paper's patch-based embedding and interaction.

    Called "HFA" in the original's logs and "PCE" in its ablations. A high branch keeps the stage resolution;
    a low branch sees it at 1/P through two inputs: P x P patches folded into channels (``pixel_unshuffle``)
    and P x P averages. The two branches exchange information twice and the result is added to the input.
    The original builds both low inputs with einops rearrangements; ``pixel_unshuffle`` gives the
    identical channel order and ``avg_pool2d`` the same averages with another summation order (~1e-7).
    """

    def __init__(self, channels: int, hidden_channels: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.unshuffle = nn.PixelUnshuffle(patch_size)  # a module, so deployment can fuse it into h2l_0
        conv3 = lambda cin, cout: nn.Conv2d(cin, cout, 3, padding=1)  # noqa: E731 - the original's SIM convs carry biases
        # Registration order = the original's state-dict order.
        self.h2l_0 = conv3(channels * patch_size**2, hidden_channels)
        self.h2h_0 = conv3(channels, hidden_channels)
        self.bnl_0 = nn.BatchNorm2d(hidden_channels)
        self.bnh_0 = nn.BatchNorm2d(hidden_channels)
        self.l2l_p1 = nn.Conv2d(hidden_channels, hidden_channels, 1)
        self.l2l_p2 = nn.Conv2d(channels, hidden_channels, 1)
        self.l2l_bn = nn.BatchNorm2d(hidden_channels)
        self.h2h_1 = conv3(hidden_channels, hidden_channels)
        self.h2l_1 = conv3(hidden_channels, hidden_channels)
        self.l2h_1 = conv3(hidden_channels, hidden_channels)
        self.l2l_1 = conv3(hidden_channels, hidden_channels)
        self.bnl_1 = nn.BatchNorm2d(hidden_channels)
        self.bnh_1 = nn.BatchNorm2d(hidden_channels)
        self.h2h_2 = conv3(hidden_channels, channels)
        self.l2h_2 = conv3(hidden_channels, channels)
        self.bnh_2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        # Entry: high branch at (H, W); low branch at (H/P, W/P) from folded patches plus patch averages.
        high = F.relu(self.bnh_0(self.h2h_0(x)))
        folded = F.relu(self.bnl_0(self.h2l_0(self.unshuffle(x))))  # (N, C·P², H/P, W/P)
        low = F.relu(self.l2l_bn(self.l2l_p1(folded) + self.l2l_p2(F.avg_pool2d(x, p))))
        # Interaction: each branch adds what the other sees, resampled to its own resolution.
        high, low = (
            F.relu(self.bnh_1(self.h2h_1(high) + self.l2h_1(_upsample_like(low, x)))),
            F.relu(self.bnl_1(self.l2l_1(low) + self.h2l_1(F.avg_pool2d(high, p)))),
        )
        # Exit back to the stage width; residual added after the activation, as in the original.
        return F.relu(self.bnh_2(self.h2h_2(high) + self.l2h_2(_upsample_like(low, x)))) + x


class DabnetSpatialPath(nn.Module):
    """Context-guided spatial path ("CGSP"): a 1/8-resolution detail branch fed by the image and the context.

    It starts from the 2x2-averaged image concatenated with the stride-2 stem feature and adds the SIM-enhanced
    1/4 and 1/8 stage features on the way down.
    """

    def __init__(self, stem_channels: int, stage_channels: tuple[int, ...], spatial_channels: tuple[int, ...],
                 num_channels: int):
        super().__init__()
        s1, s2, s3 = spatial_channels
        self.sp_0 = _conv_bn_relu(num_channels + stem_channels, s1, 3, stride=2)
        self.sp_1 = _conv_bn_relu(s1, s2, 3, stride=2)
        self.sp_2 = _conv_bn_relu(s2, s3, 1)
        self.cp_1 = _conv_bn_relu(stage_channels[0], s1, 3)
        self.cp_2 = _conv_bn_relu(stage_channels[1], s2, 3)

    def forward(self, pixel_values: torch.Tensor, x_2: torch.Tensor, x_4: torch.Tensor, x_8: torch.Tensor):
        s = self.sp_0(torch.cat([F.avg_pool2d(pixel_values, 2), x_2], dim=1))
        s = self.sp_1(s + self.cp_1(x_4))
        return self.sp_2(s + self.cp_2(x_8))


class DabnetAttentionRefinement(nn.Module):
    """BiSeNet's attention refinement module: a 3x3 conv re-weighted by a channel gate from its global average."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = _conv_bn_relu(in_channels, out_channels, 3)
        self.attention = _conv_bn_relu(out_channels, out_channels, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return x * torch.sigmoid(self.attention(F.adaptive_avg_pool2d(x, 1)))


class DabnetContextAggregation(nn.Module):
    """Top-down aggregation of the 1/32 and 1/16 context into 1/8.

    Unlike BiSeNetV1 there is no global-average-pool branch, and the upsamplings are nearest-neighbour
    (``F.interpolate``'s legacy ``nearest``), as in the original.
    """

    def __init__(self, stage_channels: tuple[int, ...], context_channels: int):
        super().__init__()
        self.arm16 = DabnetAttentionRefinement(stage_channels[2], context_channels)
        self.arm32 = DabnetAttentionRefinement(stage_channels[3], context_channels)
        self.conv_head32 = _conv_bn_relu(context_channels, context_channels, 3)
        self.conv_head16 = _conv_bn_relu(context_channels, context_channels, 3)

    def forward(self, x_8: torch.Tensor, x_16: torch.Tensor, x_32: torch.Tensor):
        x_32_up = self.conv_head32(F.interpolate(self.arm32(x_32), size=x_16.shape[-2:], mode="nearest"))
        x_16_up = self.conv_head16(F.interpolate(self.arm16(x_16) + x_32_up, size=x_8.shape[-2:], mode="nearest"))
        return x_16_up, x_32_up


class DabnetFeatureFusion(nn.Module):
    """BiSeNet's feature fusion module: fuse spatial and context features, then a channel gate ``f·(1 + a)``.

    The gate passes through BN and ReLU before the sigmoid, so it lies in [0.5, 1), as in the original.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = _conv_bn_relu(in_channels, out_channels, 1)
        self.attention = _conv_bn_relu(out_channels, out_channels, 1)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        fused = self.conv(torch.cat([spatial, context], dim=1))
        return fused * torch.sigmoid(self.attention(F.adaptive_avg_pool2d(fused, 1))) + fused


class DabnetFcnHead(nn.Module):
    """mmseg's FCNHead with one 3x3 conv: conv -> Dropout2d -> 1x1 classifier."""

    def __init__(self, in_channels: int, channels: int, num_labels: int, dropout: float):
        super().__init__()
        self.conv = _conv_bn_relu(in_channels, channels, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = _set_init_scheme(nn.Conv2d(channels, num_labels, 1), _CLASSIFIER)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.conv(x)))


@dataclass
class DabnetModelOutput(ModelOutput):
    """Output of :class:`DabnetModel`.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, fusion_channels, ceil(H/8), ceil(W/8))`):
            The fused spatial and context feature that the decode head classifies; (H, W) is the input size after
            padding to :func:`valid_input_size`, as for the auxiliary states.
        auxiliary_hidden_states (`tuple(torch.FloatTensor)`):
            The two context features the auxiliary heads classify: the aggregated 1/16 context upsampled to 1/8,
            `(batch_size, context_channels, ceil(H/8), ceil(W/8))`, and the 1/32 context upsampled to 1/16,
            `(batch_size, context_channels, ceil(H/16), ceil(W/16))`.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
            The per-stage features, coarsening then fused: the stem output at 1/2, the four SIM-enhanced context
            stages at 1/4, 1/8, 1/16 and 1/32 (each SIM's output replaces its stage's), and the fused 1/8
            feature (`last_hidden_state`). Sizes are those of the padded input, as above.
    """

    last_hidden_state: torch.FloatTensor | None = None
    auxiliary_hidden_states: tuple[torch.FloatTensor, torch.FloatTensor] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class DabnetSemanticSegmenterOutput(ModelOutput):
    """Output of :class:`DabnetForSemanticSegmentation`.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` are given):
            1.0 x decode loss + the auxiliary losses with `config.auxiliary_loss_weights`, each a cross-entropy on
            logits upsampled (bilinear, `align_corners=False`) to the label size and averaged over all pixels,
            ignored ones included (see `DabnetConfig`). The same sum in training and evaluation mode.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels, ceil(height/8), ceil(width/8))`):
            Class scores of the decode head at **1/8 of the input size**, exactly what the original's decode head
            computes. Upsample them to the image size before taking the argmax (the image processor's
            `post_process_semantic_segmentation` does).
        auxiliary_logits (`tuple(torch.FloatTensor)`, *optional*):
            The two auxiliary heads' scores, at 1/8 and 1/16 of the input size; returned in training mode or when
            `output_auxiliary_logits=True` (an evaluation with labels computes them for the loss only, so that
            the Trainer gathers the logits alone).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
            The per-stage features of :class:`DabnetModelOutput`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    auxiliary_logits: tuple[torch.FloatTensor, torch.FloatTensor] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


class DabnetPreTrainedModel(PreTrainedModel):
    config_class = DabnetConfig  # explicit: annotations are strings under `from __future__ import annotations`
    base_model_prefix = "dabnet"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = False  # a recomputed batch norm would update its running statistics twice
    _no_split_modules = []
    accepts_loss_kwargs = False  # the Trainer must not pass num_items_in_batch: the loss is the original's mean

    def save_pretrained(self, save_directory, *args, **kwargs):
        """As transformers' (which, through ``register_for_auto_class``, copies the modeling files and writes
        ``auto_map``), and ``auto_map`` also names the headless :class:`DabnetModel`, so that
        ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` works beside the segmentation model."""
        if self._auto_class is not None:
            auto_map = getattr(self.config, "auto_map", None) or {}
            self.config.auto_map = {**auto_map, "AutoModel": f"{_MODULE}.{DabnetModel.__name__}"}
        return super().save_pretrained(save_directory, *args, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The original's initialisation of one convolution or batch norm.

        transformers calls this on every leaf module whose tensors are not loaded (a new model, or the missing and
        re-sized tensors of ``from_pretrained``), and the ``transformers.initialization`` functions leave loaded
        tensors alone, so each tensor gets the scheme of where it sits: Kaiming normal (fan-out) for
        ConvModule-style convolutions, normal(0, 0.01) and zero bias for the classifiers, PyTorch's defaults in
        the SIMs (the original never overrode them), timm's own scheme in the context path, and batch norms at
        weight 1, bias 0 with fresh running statistics.
        """
        if isinstance(module, nn.Conv2d):
            scheme = getattr(module, "init_scheme", None)
            if scheme == _KAIMING_FAN_OUT:
                init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif scheme == _EFFICIENTNET:
                fan_out = module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
                init.normal_(module.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
            elif scheme == _CLASSIFIER:
                init.normal_(module.weight, mean=0.0, std=0.01)
            else:  # nn.Conv2d.reset_parameters, written with the initialisation functions that skip loaded tensors
                init.kaiming_uniform_(module.weight, a=math.sqrt(5))
                if module.bias is not None:
                    bound = 1 / math.sqrt(module.weight[0].numel())
                    init.uniform_(module.bias, -bound, bound)
                return
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            if getattr(module, "init_scheme", None) == _ZERO_GAMMA:
                init.zeros_(module.weight)
            else:
                init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class DabnetModel(DabnetPreTrainedModel):
    """DABNet without heads: context path with SIMs, spatial path, context aggregation and feature fusion.

    Accepts any input size: an input the original would reject is zero-padded at the bottom and right
    to :func:`valid_input_size`, and the features then cover the padded input. Inputs the original accepts run
    unpadded and give its outputs exactly.
    """

    def __init__(self, config: DabnetConfig):
        config.check_values()  # before anything is allocated: attributes may have changed since construction
        super().__init__(config)
        layout = _CONTEXT_PATHS[config.context_path]
        # Random init here: ImageNet weights are loaded after construction (see load_backbone_weights in the
        # zoo), because transformers' post_init would overwrite weights loaded inside __init__.
        self.backbone = timm.create_model(
            layout["timm_name"], pretrained=False, features_only=True, in_chans=config.num_channels,
            **layout["timm_kwargs"],
        )
        # _init_weights re-creates timm's initialisation, so missing backbone tensors of a checkpoint get it too.
        for module in self.backbone.modules():
            if isinstance(module, nn.Conv2d):
                _set_init_scheme(module, layout["conv_init"])
            if hasattr(module, "zero_init_last"):  # timm's residual blocks: the last BN of the branch starts at 0
                _set_init_scheme(module.bn3 if hasattr(module, "bn3") else module.bn2, _ZERO_GAMMA)
        self._stem_names: tuple[str, ...] = layout["stem"]
        self._stage_names: tuple[tuple[str, ...], ...] = layout["stages"]
        stem_channels, *stage_channels = self.backbone.feature_info.channels()
        stage_channels = tuple(stage_channels[-4:])

        self.sims = nn.ModuleList(
            DabnetSim(c, h, config.patch_size) for c, h in zip(stage_channels, config.sim_channels)
        )
        self.spatial_path = DabnetSpatialPath(
            stem_channels, stage_channels, config.spatial_channels, config.num_channels
        )
        self.context_aggregation = DabnetContextAggregation(stage_channels, config.context_channels)
        self.feature_fusion = DabnetFeatureFusion(
            config.spatial_channels[-1] + config.context_channels, config.fusion_channels
        )
        self.post_init()

    def _run(self, names: tuple[str, ...], x: torch.Tensor) -> torch.Tensor:
        for name in names:
            x = self.backbone.get_submodule(name)(x)
        return x

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> DabnetModelOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`):
                Normalised images (see `config.image_mean` / `config.image_std`), any height and width, in the
                model's dtype.
            output_hidden_states (`bool`, *optional*):
                Whether to return the per-stage features; defaults to `config.output_hidden_states`.
            return_dict (`bool`, *optional*):
                Whether to return a :class:`DabnetModelOutput` instead of a plain tuple.
        """
        _reject_unknown_arguments(self, kwargs, ("pixel_values", "output_hidden_states", "return_dict"))
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        _check_pixel_values(pixel_values, self.config.num_channels, self.dtype)
        pixel_values = _pad_to_valid_size(pixel_values, self.config.patch_size)
        if not self.training and not torch.compiler.is_exporting():
            # oneDNN and cuDNN convolve NHWC activations faster (about 1.3x for DABNet on a CPU); the weights stay
            # as they are, so eval() changes nothing in the state dict.
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        x_2 = self._run(self._stem_names, pixel_values)
        stages = []
        x = x_2
        for names, sim in zip(self._stage_names, self.sims):
            # The SIM output replaces the stage output, so each later stage sees the enhanced feature.
            x = sim(self._run(names, x))
            stages.append(x)
        x_4, x_8, x_16, x_32 = stages
        spatial = self.spatial_path(pixel_values, x_2, x_4, x_8)
        x_16_up, x_32_up = self.context_aggregation(x_8, x_16, x_32)
        fused = self.feature_fusion(spatial, x_16_up)
        hidden_states = (x_2, *stages, fused) if output_hidden_states else None

        if not return_dict:
            return tuple(v for v in (fused, (x_16_up, x_32_up), hidden_states) if v is not None)
        return DabnetModelOutput(
            last_hidden_state=fused, auxiliary_hidden_states=(x_16_up, x_32_up), hidden_states=hidden_states
        )


# What DabnetImageProcessor returns beside pixel_values and labels: its post-processing needs them, the network
# does not. They are accepted (and ignored) so that model(**inputs), the Trainer and the pipeline can pass the
# processor's output as it is.
_PROCESSOR_OUTPUTS = ("original_sizes", "reshaped_input_sizes")


def _reject_unknown_arguments(model: nn.Module, kwargs: dict, accepted: tuple[str, ...]) -> None:
    """A misspelt argument (``lables=``) must not be dropped silently: raise, naming the accepted ones."""
    unknown = [key for key in kwargs if key not in _PROCESSOR_OUTPUTS]
    if unknown:
        raise TypeError(
            f"{type(model).__name__}.forward() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"it accepts {', '.join(accepted)} (and the image processor's {', '.join(_PROCESSOR_OUTPUTS)})."
        )


def _check_pixel_values(pixel_values: torch.Tensor, num_channels: int, dtype: torch.dtype) -> None:
    if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 4 or pixel_values.shape[1] != num_channels:
        shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values).__name__
        raise ValueError(
            f"pixel_values must be a float tensor of shape (batch, {num_channels}, height, width), got {shape}. "
            "Use DabnetImageProcessor to turn images into normalised tensors."
        )
    if not pixel_values.is_floating_point():
        raise ValueError(
            f"pixel_values must be floating point (normalised), got {pixel_values.dtype}. "
            "Normalise with config.image_mean and config.image_std, or use DabnetImageProcessor."
        )
    if pixel_values.dtype != dtype and not torch.is_autocast_enabled(pixel_values.device.type):
        raise ValueError(
            f"pixel_values are {pixel_values.dtype} but the model's weights are {dtype}: convert one to the other, "
            f"e.g. pixel_values.to(model.dtype), or run under torch.autocast."
        )
    if not torch.compiler.is_exporting() and pixel_values.shape[0] == 0:
        raise ValueError("pixel_values holds no images (batch size 0); pass at least one image.")


def _pad_to_valid_size(pixel_values: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Zero-pad bottom/right to :func:`valid_input_size` (0 is the mean colour after normalisation).

    Under ``torch.export`` the input is taken as valid as it is (a size-dependent pad would not survive symbolic
    shapes): the ONNX export pads with symbolic arithmetic before the network (``dabnet_zoo.export``), and a
    direct ``torch.export`` of the model must declare heights and widths that are multiples of 32·P.
    """
    if torch.compiler.is_exporting():
        return pixel_values
    height, width = pixel_values.shape[-2:]
    padded_height, padded_width = valid_input_size(height, width, patch_size)
    if (padded_height, padded_width) == (height, width):
        return pixel_values
    return F.pad(pixel_values, (0, padded_width - width, 0, padded_height - height))


def _crop_to_input(scores: torch.Tensor, height: int, width: int, stride: int) -> torch.Tensor:
    """Keep the cells of a stride-``stride`` score map that cover the unpadded ``height`` x ``width`` input."""
    return scores[..., : -(-height // stride), : -(-width // stride)]


class DabnetForSemanticSegmentation(DabnetPreTrainedModel):
    """DABNet with its FCN decode head and the two auxiliary FCN heads used for training."""

    def __init__(self, config: DabnetConfig):
        config.check_values()
        super().__init__(config)
        self.dabnet = DabnetModel(config)
        dropout = config.classifier_dropout_prob
        self.decode_head = DabnetFcnHead(
            config.fusion_channels, config.decode_head_channels, config.num_labels, dropout
        )
        self.auxiliary_heads = nn.ModuleList(
            DabnetFcnHead(config.context_channels, config.auxiliary_head_channels, config.num_labels, dropout)
            for _ in config.auxiliary_loss_weights
        )
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_auxiliary_logits: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> DabnetSemanticSegmenterOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`):
                Normalised images of any height and width, in the model's dtype. Sizes the original accepts run
                as in the original; others are zero-padded bottom/right to :func:`valid_input_size` and the
                logits cropped back to the cells covering the image, i.e. exactly the original run on the padded
                image, then cropped.
            labels (`torch.LongTensor` of shape `(batch_size, height, width)`, *optional*):
                Ground-truth class indices in `[0, num_labels)`; `config.semantic_loss_ignore_index` (255) marks
                pixels to ignore. The loss is averaged over all pixels, ignored ones included (they contribute
                zero), as the original (mmseg < 0.23) trains; `DabnetConfig` explains how this differs from
                SegFormer's.
            output_hidden_states (`bool`, *optional*):
                Whether to return the per-stage features (see :class:`DabnetModelOutput`); defaults to
                `config.output_hidden_states`.
            output_auxiliary_logits (`bool`, *optional*):
                Whether to return the auxiliary heads' scores. Defaults to `True` in training mode, `False`
                otherwise (inference needs only the decode head; the loss computes them when `labels` are given).
            return_dict (`bool`, *optional*):
                Whether to return a :class:`DabnetSemanticSegmenterOutput` instead of a plain tuple.

        Example:

        ```python
        >>> import torch
        >>> from dabnet_zoo import create_model
        >>> model = create_model("dabnet_r18_p2", dataset="cityscapes").eval()
        >>> logits = model(torch.randn(1, 3, 512, 1024)).logits  # (1, 19, 64, 128): 1/8 of the input
        ```"""
        _reject_unknown_arguments(
            self, kwargs,
            ("pixel_values", "labels", "output_hidden_states", "output_auxiliary_logits", "return_dict"),
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if output_auxiliary_logits is None:
            output_auxiliary_logits = self.training
        if labels is not None:
            _check_labels(labels, pixel_values, self.config.num_labels, self.config.semantic_loss_ignore_index)
        height, width = pixel_values.shape[-2:]
        outputs = self.dabnet(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        # Crop after the heads: the result equals running the original on the padded image and cropping.
        logits = _crop_to_input(self.decode_head(outputs.last_hidden_state), height, width, 8).contiguous()
        auxiliary_logits = None
        if output_auxiliary_logits or labels is not None:
            auxiliary_logits = tuple(
                _crop_to_input(head(f), height, width, stride).contiguous()
                for head, f, stride in zip(self.auxiliary_heads, outputs.auxiliary_hidden_states, (8, 16))
            )

        loss = None
        if labels is not None:
            weights = (1.0, *self.config.auxiliary_loss_weights)
            loss = sum(
                weight * _segmentation_loss(score, labels, self.config.semantic_loss_ignore_index)
                for weight, score in zip(weights, (logits, *auxiliary_logits))
            )
        if not output_auxiliary_logits:
            auxiliary_logits = None
        if not return_dict:
            return tuple(v for v in (loss, logits, auxiliary_logits, outputs.hidden_states) if v is not None)
        return DabnetSemanticSegmenterOutput(
            loss=loss, logits=logits, auxiliary_logits=auxiliary_logits, hidden_states=outputs.hidden_states
        )


def _check_labels(labels: torch.Tensor, pixel_values: torch.Tensor, num_labels: int, ignore_index: int) -> None:
    batch = pixel_values.shape[0] if isinstance(pixel_values, torch.Tensor) else "batch"
    if not isinstance(labels, torch.Tensor) or labels.ndim != 3 or labels.shape[0] != batch:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a tensor of shape (batch, height, width) = ({batch}, H, W), got {shape}.")
    if labels.is_floating_point():
        raise ValueError(f"labels must hold integer class indices, got {labels.dtype}; convert with labels.long().")
    if torch.compiler.is_compiling() or labels.numel() == 0:
        return
    # Checked here because cross-entropy on an out-of-range label fails with a device-side assert on CUDA.
    outside = ((labels < 0) | (labels >= num_labels)) & (labels != ignore_index)
    if outside.any():
        values = labels[outside].unique()
        shown = ", ".join(str(v) for v in values[:5].tolist()) + (" ..." if len(values) > 5 else "")
        raise ValueError(
            f"labels hold values outside [0, {num_labels}) that are not the ignore index {ignore_index}: {shown}. "
            f"Map them to {ignore_index} (ignored) or to a class, or set config.semantic_loss_ignore_index."
        )


def _segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Cross-entropy on logits upsampled to the label size, averaged over every pixel (mmseg < 0.23)."""
    logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    return F.cross_entropy(logits, labels.long(), ignore_index=ignore_index, reduction="none").mean()


# save_pretrained and push_to_hub then copy this module (and the configuration's) into the folder and name the
# classes in auto_map, so the folder loads with trust_remote_code=True where dabnet-zoo is not installed.
DabnetModel.register_for_auto_class("AutoModel")
DabnetForSemanticSegmentation.register_for_auto_class("AutoModelForSemanticSegmentation")

__all__ = [
    "DabnetModel",
    "DabnetForSemanticSegmentation",
    "DabnetPreTrainedModel",
    "DabnetModelOutput",
    "DabnetSemanticSegmenterOutput",
    "valid_input_size",
]
