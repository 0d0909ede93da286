"""PyTorch DABNet: Real-time Semantic Segmentation via Densely Aggregated Bilateral Network.

One readable module in the transformers style: blocks, then the pre-trained base class, then the headless
``DabnetModel`` and ``DabnetForSemanticSegmentation``. Attribute names inside the blocks are the original's
(``h2l_0``, ``sp_0``, ``arm16`` ...) and timm's inside the backbone, so the checkpoint converter is a short
rename table. Section numbers (§) refer to the reference specification of the original implementation.

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

# How each context path is built by timm and cut into the stem (stride 2) and the four stages (strides 4, 8,
# 16, 32) that DABNet runs one by one (spec §3.1, §3.2, §4.1). Names are timm's module paths.
_CONTEXT_PATHS: dict[str, dict] = {
    "resnet18_v1c": {
        # mmseg's ResNetV1c-18 = torchvision ResNet-18 with a 32-32-64 three-conv stem and no average-down.
        "timm_name": "resnet18",
        "timm_kwargs": {"stem_type": "deep", "stem_width": 32},
        "stem": ("conv1", "bn1", "act1"),
        "stages": (("maxpool", "layer1"), ("layer2",), ("layer3",), ("layer4",)),
    },
    "efficientnet_b1": {
        "timm_name": "efficientnet_b1",
        "timm_kwargs": {},
        "stem": ("conv_stem", "bn1", "blocks.0"),
        "stages": (("blocks.1",), ("blocks.2",), ("blocks.3", "blocks.4"), ("blocks.5", "blocks.6")),
    },
}


def valid_input_size(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """Return the smallest (height, width), at least the given one, that the original network accepts.

    The original crashes unless both sides are even (its spatial path concatenates a 2x2-average-pooled image
    with the stride-2 stem output) and every stage side ``ceil(side / 2**k)``, k = 2..5, is divisible by the
    patch size P (each SIM folds P x P patches), spec §6. Multiples of 32·P always qualify; smaller valid
    sides exist (e.g. 62 for P2), and the original's own sizes (1024x2048 for every P, 768x960 for P1/P2/E,
    640x640 up to P4) are returned unchanged.
    """

    def smallest_valid(side: int) -> int:
        side += side % 2
        while any(-(-side // 2**k) % patch_size for k in range(2, 6)):
            side += 2
        return side

    return smallest_valid(height), smallest_valid(width)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, act: bool = True):
    """mmcv's ConvModule (conv without bias -> BN -> ReLU); timm's block has the same ``conv``/``bn`` keys."""
    return ConvNormAct(in_channels, out_channels, kernel_size, stride=stride, apply_act=act)


def _upsample_like(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=reference.shape[-2:], mode="bilinear", align_corners=False)


class DabnetSim(nn.Module):
    """Scale Interaction Module on one context stage: the paper's patch-based embedding and interaction.

    Called "HFA" in the original's logs and "PCE" in its ablations. A high branch keeps the stage resolution;
    a low branch sees it at 1/P through two inputs: P x P patches folded into channels (``pixel_unshuffle``)
    and P x P averages. The two branches exchange information twice and the result is added to the input.
    The original builds both low inputs with einops rearrangements (spec §3.4); ``pixel_unshuffle`` gives the
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
    1/4 and 1/8 stage features on the way down (spec §3.7, §4.1 steps 6-8).
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
    """Top-down aggregation of the 1/32 and 1/16 context into 1/8 (spec §4.1 steps 9-10).

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
        self.classifier = nn.Conv2d(channels, num_labels, 1)

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
    """

    last_hidden_state: torch.FloatTensor | None = None
    auxiliary_hidden_states: tuple[torch.FloatTensor, torch.FloatTensor] | None = None


@dataclass
class DabnetSemanticSegmenterOutput(ModelOutput):
    """Output of :class:`DabnetForSemanticSegmentation`.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` are given):
            1.0 x decode loss + the auxiliary losses with `config.auxiliary_loss_weights`, each a cross-entropy on
            logits upsampled (bilinear, `align_corners=False`) to the label size.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels, ceil(height/8), ceil(width/8))`):
            Class scores of the decode head at **1/8 of the input size**, exactly what the original's decode head
            computes. Upsample them to the image size before taking the argmax (the image processor's
            `post_process_semantic_segmentation` does).
        auxiliary_logits (`tuple(torch.FloatTensor)`, *optional*):
            The two auxiliary heads' scores, at 1/8 and 1/16 of the input size; returned in training mode, when
            `labels` are given, or when `output_auxiliary_logits=True`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    auxiliary_logits: tuple[torch.FloatTensor, torch.FloatTensor] | None = None


class DabnetPreTrainedModel(PreTrainedModel):
    config_class = DabnetConfig  # explicit: annotations are strings under `from __future__ import annotations`
    base_model_prefix = "dabnet"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = False  # pointless with batch norm
    _no_split_modules = []

    def train(self, mode: bool = True):
        """Set training mode; in eval mode the weights also switch to channels-last memory.

        oneDNN and cuDNN convolve NHWC tensors faster (about 1.2x for DABNet on a CPU), so a plain
        ``model.eval()`` user gets the fast layout without extra steps. Values, the state dict and
        ``save_pretrained`` are unchanged; :func:`dabnet_zoo.deploy.optimize_for_inference` goes further.
        """
        super().train(mode)
        if not mode:
            self.to(memory_format=torch.channels_last)
        return self

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The original's initialisation (spec §9.1); the timm backbone keeps timm's own.

        ConvModule-style blocks get Kaiming-normal (fan-out) convs and BN at 1/0; the SIMs keep PyTorch's
        defaults, which the original never overrode; classifiers are Normal(0, 0.01) with zero bias.
        """
        if isinstance(module, ConvNormAct):
            init.kaiming_normal_(module.conv.weight, mode="fan_out", nonlinearity="relu")
            _reset_batch_norm(module.bn)
        elif isinstance(module, DabnetSim):
            for child in module.children():
                if isinstance(child, nn.Conv2d):
                    init.kaiming_uniform_(child.weight, a=math.sqrt(5))
                    bound = 1 / math.sqrt(child.weight[0].numel())
                    init.uniform_(child.bias, -bound, bound)
                else:
                    _reset_batch_norm(child)
        elif isinstance(module, DabnetFcnHead):
            init.normal_(module.classifier.weight, mean=0.0, std=0.01)
            init.zeros_(module.classifier.bias)


def _reset_batch_norm(bn: nn.BatchNorm2d) -> None:
    init.ones_(bn.weight)
    init.zeros_(bn.bias)
    init.zeros_(bn.running_mean)
    init.ones_(bn.running_var)
    init.zeros_(bn.num_batches_tracked)


class DabnetModel(DabnetPreTrainedModel):
    """DABNet without heads: context path with SIMs, spatial path, context aggregation and feature fusion.

    Accepts any input size: an input the original would reject (spec §6) is zero-padded at the bottom and right
    to :func:`valid_input_size`, and the features then cover the padded input. Inputs the original accepts run
    unpadded and give its outputs exactly.
    """

    def __init__(self, config: DabnetConfig):
        super().__init__(config)
        layout = _CONTEXT_PATHS[config.context_path]
        # Random init here: ImageNet weights are loaded after construction (see load_backbone_weights in the
        # zoo), because transformers' post_init would overwrite weights loaded inside __init__.
        self.backbone = timm.create_model(
            layout["timm_name"], pretrained=False, features_only=True, in_chans=config.num_channels,
            **layout["timm_kwargs"],
        )
        for module in self.backbone.modules():  # keep timm's initialisation
            module._is_hf_initialized = True
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

    def forward(self, pixel_values: torch.Tensor, return_dict: bool | None = None, **kwargs):
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`):
                Normalised images (see `config.image_mean` / `config.image_std`), any height and width.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        _check_pixel_values(pixel_values, self.config.num_channels)
        pixel_values = _pad_to_valid_size(pixel_values, self.config.patch_size)
        if not self.training and not torch.compiler.is_exporting():
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)  # see train()
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

        if not return_dict:
            return fused, (x_16_up, x_32_up)
        return DabnetModelOutput(last_hidden_state=fused, auxiliary_hidden_states=(x_16_up, x_32_up))


def _check_pixel_values(pixel_values: torch.Tensor, num_channels: int) -> None:
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


def _pad_to_valid_size(pixel_values: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Zero-pad bottom/right to :func:`valid_input_size` (0 is the mean colour after normalisation).

    Under ``torch.export`` the input is taken as valid as it is: exported graphs declare their height and width
    as multiples of 32·P, and a size-dependent pad would not survive symbolic shapes.
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
        super().__init__(config)
        self.dabnet = DabnetModel(config)
        dropout = config.classifier_dropout_prob
        self.decode_head = DabnetFcnHead(config.fusion_channels, config.decode_head_channels, config.num_labels, dropout)
        self.auxiliary_heads = nn.ModuleList(
            DabnetFcnHead(config.context_channels, config.auxiliary_head_channels, config.num_labels, dropout)
            for _ in config.auxiliary_loss_weights
        )
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_auxiliary_logits: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> DabnetSemanticSegmenterOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`):
                Normalised images of any height and width. Sizes the original accepts run as in the original;
                others are zero-padded bottom/right to :func:`valid_input_size` and the logits cropped back to
                the cells covering the image, i.e. exactly the original run on the padded image, then cropped.
            labels (`torch.LongTensor` of shape `(batch_size, height, width)`, *optional*):
                Ground-truth class indices; `config.semantic_loss_ignore_index` (255) marks pixels to ignore.
                The loss is averaged over all pixels, ignored ones included (they contribute zero), as the
                original (mmseg < 0.23) trains.
            output_auxiliary_logits (`bool`, *optional*):
                Whether to run and return the auxiliary heads. Defaults to `True` in training mode or when
                `labels` are given, `False` otherwise (inference needs only the decode head).
            return_dict (`bool`, *optional*):
                Whether to return a :class:`DabnetSemanticSegmenterOutput` instead of a plain tuple.

        Example:

        ```python
        >>> import torch
        >>> from dabnet_zoo import create_model
        >>> model = create_model("dabnet_r18_p2", dataset="cityscapes").eval()
        >>> logits = model(torch.randn(1, 3, 512, 1024)).logits  # (1, 19, 64, 128): 1/8 of the input
        ```"""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if output_auxiliary_logits is None:
            output_auxiliary_logits = self.training or labels is not None
        height, width = pixel_values.shape[-2:]
        features, auxiliary_features = self.dabnet(pixel_values, return_dict=False)
        # Crop after the heads: the result equals running the original on the padded image and cropping.
        logits = _crop_to_input(self.decode_head(features), height, width, 8).contiguous()
        auxiliary_logits = None
        if output_auxiliary_logits or labels is not None:
            auxiliary_logits = tuple(
                _crop_to_input(head(f), height, width, stride).contiguous()
                for head, f, stride in zip(self.auxiliary_heads, auxiliary_features, (8, 16))
            )

        loss = None
        if labels is not None:
            _check_labels(labels, pixel_values)
            weights = (1.0, *self.config.auxiliary_loss_weights)
            loss = sum(
                weight * _segmentation_loss(score, labels, self.config.semantic_loss_ignore_index)
                for weight, score in zip(weights, (logits, *auxiliary_logits))
            )
        if not output_auxiliary_logits:
            auxiliary_logits = None
        if not return_dict:
            return tuple(v for v in (loss, logits, auxiliary_logits) if v is not None)
        return DabnetSemanticSegmenterOutput(loss=loss, logits=logits, auxiliary_logits=auxiliary_logits)


def _check_labels(labels: torch.Tensor, pixel_values: torch.Tensor) -> None:
    if labels.ndim != 3 or labels.shape[0] != pixel_values.shape[0]:
        raise ValueError(
            f"labels must have shape (batch, height, width) = ({pixel_values.shape[0]}, H, W), got "
            f"{tuple(labels.shape)}."
        )
    if labels.is_floating_point():
        raise ValueError(f"labels must hold integer class indices, got {labels.dtype}.")


def _segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Cross-entropy on logits upsampled to the label size, averaged over every pixel (mmseg < 0.23)."""
    logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    return F.cross_entropy(logits, labels.long(), ignore_index=ignore_index, reduction="none").mean()


__all__ = [
    "DabnetModel",
    "DabnetForSemanticSegmentation",
    "DabnetPreTrainedModel",
    "DabnetModelOutput",
    "DabnetSemanticSegmenterOutput",
    "valid_input_size",
]
