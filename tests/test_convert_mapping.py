"""The converter's key mapping against the original's own key list (tests/fixtures/parity/*.keys.json).

Every tensor of an original checkpoint is given a value of its own; after conversion, each must sit at the model
key that the module correspondence below names. The correspondence is written from the two architectures (the
original's module names, ours and timm's), not from the converter's rules, so a wrong rule (say, conv_head16
and conv_head32 swapped: both are 128 -> 128 3x3 convolutions, so shapes cannot tell) fails here, fast.
"""

from __future__ import annotations

import json

import pytest
import torch

from dabnet_zoo.convert import convert_state_dict
from tests.conftest import PARITY_DIR, PARITY_FIXTURES

# Original module -> ours. Inside a module the names agree (conv/bn of ConvModule and timm's ConvNormAct, the
# SIM's h2l_0 ..., the backbones' own names), so the longest matching prefix decides.
MODULES = {
    # mmseg's ResNetV1c deep stem (conv, BN, ReLU) x 3 -> timm's: conv1 = the first 7 layers, bn1 = the last BN.
    **{f"backbone.backbone.stem.{i}": f"dabnet.backbone.conv1.{i}" for i in (0, 1, 3, 4, 6)},
    "backbone.backbone.stem.7": "dabnet.backbone.bn1",
    "backbone.backbone": "dabnet.backbone",  # the rest of the ResNet-18 / EfficientNet-B1 trunk
    **{f"backbone.SIM_{i}": f"dabnet.sims.{i}" for i in range(4)},
    **{f"backbone.{name}": f"dabnet.spatial_path.{name}" for name in ("sp_0", "sp_1", "sp_2", "cp_1", "cp_2")},
    "backbone.arm16.conv_layer": "dabnet.context_aggregation.arm16.conv",
    "backbone.arm16.atten_conv_layer.1": "dabnet.context_aggregation.arm16.attention",
    "backbone.arm32.conv_layer": "dabnet.context_aggregation.arm32.conv",
    "backbone.arm32.atten_conv_layer.1": "dabnet.context_aggregation.arm32.attention",
    "backbone.conv_head16": "dabnet.context_aggregation.conv_head16",
    "backbone.conv_head32": "dabnet.context_aggregation.conv_head32",
    "backbone.ffm.conv1": "dabnet.feature_fusion.conv",
    "backbone.ffm.conv_atten.0": "dabnet.feature_fusion.attention",
    "decode_head.convs.0": "decode_head.conv",
    "decode_head.conv_seg": "decode_head.classifier",
    **{f"auxiliary_head.{i}.convs.0": f"auxiliary_heads.{i}.conv" for i in (0, 1)},
    **{f"auxiliary_head.{i}.conv_seg": f"auxiliary_heads.{i}.classifier" for i in (0, 1)},
}


def expected_key(original: str) -> str:
    module = max((m for m in MODULES if original.startswith(m + ".")), key=len)
    return MODULES[module] + original[len(module):]


def marked_state_dict(variant: str) -> dict[str, torch.Tensor]:
    """The original's keys, shapes and dtypes, each tensor filled with its own index (+1)."""
    keys = json.loads((PARITY_DIR / f"{PARITY_FIXTURES[variant]}.keys.json").read_text())["keys"]
    return {key: torch.full(shape, index + 1, dtype=getattr(torch, dtype)) for index, (key, shape, dtype) in
            enumerate(keys)}


@pytest.mark.parametrize("variant", ["dabnet_r18_p2", "dabnet_effb1"])
def test_every_original_tensor_lands_where_the_architecture_says(variant):
    original = marked_state_dict(variant)
    converted = convert_state_dict(original, variant, "cityscapes").state_dict()
    expected = {expected_key(key): key for key in original}
    assert len(expected) == len(original)  # the correspondence is one to one
    assert sorted(expected) == sorted(converted)  # and covers every tensor of the model
    wrong = [f"{key} -> {ours}" for ours, key in expected.items() if not torch.equal(converted[ours], original[key])]
    assert not wrong, wrong[:10]

