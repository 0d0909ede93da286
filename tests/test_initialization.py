"""The original's initialisation, for new models and for every tensor that from_pretrained leaves uninitialised.

Expected statistics come from the formulas (see docs/architecture.md), not from the code: mmcv's ConvModule
convolutions are Kaiming normal with fan-out and ReLU gain, std = sqrt(2 / (out_channels·k·k)); mmseg's
classifiers (conv_seg) are normal(0, 0.01) with bias 0; the SIMs keep PyTorch's defaults (weights uniform in
±1/sqrt(fan_in), as is the bias); timm's ResNet uses the same Kaiming fan-out and starts the last batch norm of
each residual block at 0; timm's EfficientNet draws normal(0, sqrt(2 / (k·k·out_channels/groups))) with zero
biases; batch norms start at weight 1, bias 0, running mean 0 and variance 1.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModelForSemanticSegmentation

from dabnet_zoo import DabnetForSemanticSegmentation, create_model

NEW_LABELS = {"id2label": {i: f"class_{i}" for i in range(5)}, "label2id": {f"class_{i}": i for i in range(5)}}


def _assert_std(name: str, tensor: torch.Tensor, std: float) -> None:
    """Sample mean ~0 and std within the sampling error (a generous 5 standard errors, at least 5 %)."""
    values = tensor.detach().double().flatten()
    assert torch.isfinite(values).all(), name
    tolerance = max(0.05, 5 / math.sqrt(2 * values.numel()))
    assert abs(values.std().item() / std - 1) < tolerance, (name, values.std().item(), std)
    assert abs(values.mean().item()) < 5 * std / math.sqrt(values.numel()), name


def _assert_kaiming_fan_out(name: str, conv: nn.Conv2d) -> None:
    out_channels, _, kh, kw = conv.weight.shape
    _assert_std(name, conv.weight, math.sqrt(2 / (out_channels * kh * kw)))


def _assert_fresh_batch_norm(name: str, bn: nn.BatchNorm2d, weight: float = 1.0) -> None:
    assert torch.all(bn.weight == weight) and torch.all(bn.bias == 0), name
    assert torch.all(bn.running_mean == 0) and torch.all(bn.running_var == 1), name
    assert bn.num_batches_tracked.item() == 0, name


def _assert_classifier(name: str, conv: nn.Conv2d) -> None:
    _assert_std(name, conv.weight, 0.01)
    assert torch.all(conv.bias == 0), name


def _heads_and_aggregation(model: DabnetForSemanticSegmentation):
    """(name, ConvModule) of every ConvModule outside the context path, by the architecture's layout."""
    dabnet = model.dabnet
    blocks = {
        **{f"spatial_path.{n}": getattr(dabnet.spatial_path, n) for n in ("sp_0", "sp_1", "sp_2", "cp_1", "cp_2")},
        **{f"context_aggregation.{n}": getattr(dabnet.context_aggregation, n) for n in ("conv_head16", "conv_head32")},
        **{f"context_aggregation.{a}.{n}": getattr(getattr(dabnet.context_aggregation, a), n)
           for a in ("arm16", "arm32") for n in ("conv", "attention")},
        "feature_fusion.conv": dabnet.feature_fusion.conv,
        "feature_fusion.attention": dabnet.feature_fusion.attention,
        "decode_head.conv": model.decode_head.conv,
        **{f"auxiliary_heads.{i}.conv": head.conv for i, head in enumerate(model.auxiliary_heads)},
    }
    return blocks.items()


def _heads(model: DabnetForSemanticSegmentation):
    return [("decode_head", model.decode_head), *((f"aux{i}", h) for i, h in enumerate(model.auxiliary_heads))]


def _assert_pytorch_default_conv(name: str, conv: nn.Conv2d) -> None:
    bound = 1 / math.sqrt(conv.weight[0].numel())  # kaiming_uniform(a=sqrt(5)) and the bias rule both give this
    assert conv.weight.abs().max() <= bound and conv.bias.abs().max() <= bound, name
    _assert_std(name, conv.weight, bound / math.sqrt(3))


@pytest.fixture(scope="module")
def resnet_model():
    torch.manual_seed(0)
    return create_model("dabnet_r18_p1")


def test_a_new_model_has_the_original_initialisation_outside_the_context_path(resnet_model):
    model = resnet_model
    for name, block in _heads_and_aggregation(model):
        _assert_kaiming_fan_out(name, block.conv)
        _assert_fresh_batch_norm(name, block.bn)
    for name, head in _heads(model):
        _assert_classifier(name, head.classifier)
    for index, sim in enumerate(model.dabnet.sims):
        for name, child in sim.named_children():
            if isinstance(child, nn.Conv2d):
                _assert_pytorch_default_conv(f"sims.{index}.{name}", child)
            elif isinstance(child, nn.BatchNorm2d):
                _assert_fresh_batch_norm(f"sims.{index}.{name}", child)


def _assert_timm_resnet(backbone: nn.Module, prefix: str = "") -> None:
    for name, module in backbone.named_modules():
        if not name.startswith(prefix):
            continue
        if isinstance(module, nn.Conv2d):
            _assert_kaiming_fan_out(name, module)
        elif isinstance(module, nn.BatchNorm2d):  # BasicBlock's last BN starts at 0 (timm's zero_init_last)
            _assert_fresh_batch_norm(name, module, weight=0.0 if name.endswith(".bn2") else 1.0)


def test_the_resnet_context_path_has_timms_initialisation(resnet_model):
    _assert_timm_resnet(resnet_model.dabnet.backbone)


def test_the_efficientnet_context_path_has_timms_initialisation():
    torch.manual_seed(0)
    backbone = create_model("dabnet_effb1").dabnet.backbone
    for name, module in backbone.named_modules():
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            if module.weight.numel() >= 64:  # the statistics of smaller tensors say too little
                _assert_std(name, module.weight, math.sqrt(2 / (kh * kw * module.out_channels / module.groups)))
            if module.bias is not None:
                assert torch.all(module.bias == 0), name
        elif isinstance(module, nn.BatchNorm2d):
            _assert_fresh_batch_norm(name, module)


@pytest.fixture(scope="module")
def saved(resnet_model, tmp_path_factory):
    """A trained-looking 19-class folder: every tensor, BN statistics included, moved away from its init."""
    folder = tmp_path_factory.mktemp("saved")
    model = copy.deepcopy(resnet_model)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            else:
                tensor.fill_(7)
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("loader", [DabnetForSemanticSegmentation, AutoModelForSemanticSegmentation])
def test_resized_classifiers_get_the_original_initialisation_and_nothing_else_changes(saved, loader):
    torch.manual_seed(0)
    model = loader.from_pretrained(saved, num_labels=5, ignore_mismatched_sizes=True, **NEW_LABELS)
    assert model.config.num_labels == 5
    for name, head in _heads(model):
        assert head.classifier.weight.shape[0] == 5
        _assert_classifier(name, head.classifier)
    stored = load_file(saved / "model.safetensors")
    for key, tensor in model.state_dict().items():
        if ".classifier." not in key:
            assert torch.equal(tensor, stored[key]), key


@pytest.mark.parametrize("loader", [DabnetForSemanticSegmentation, AutoModelForSemanticSegmentation])
def test_segformer_style_binary_head_is_refused_with_what_to_do(saved, loader):
    # SegFormer's binary recipe: one sigmoid channel. DABNet's heads are argmax classifiers: say to use 2 classes.
    with pytest.raises(ValueError, match=r"num_labels=2 \(background and foreground"):
        loader.from_pretrained(saved, num_labels=1, ignore_mismatched_sizes=True)


def test_missing_tensors_of_a_partial_checkpoint_get_the_original_initialisation(saved, tmp_path):
    stored = load_file(saved / "model.safetensors")
    missing = ("decode_head.", "dabnet.backbone.layer4.", "dabnet.sims.2.")
    save_file({k: v for k, v in stored.items() if not k.startswith(missing)}, tmp_path / "model.safetensors",
              metadata={"format": "pt"})
    (tmp_path / "config.json").write_bytes((saved / "config.json").read_bytes())
    torch.manual_seed(0)

    model = DabnetForSemanticSegmentation.from_pretrained(tmp_path)

    _assert_kaiming_fan_out("decode_head.conv", model.decode_head.conv.conv)
    _assert_fresh_batch_norm("decode_head.conv", model.decode_head.conv.bn)
    _assert_classifier("decode_head", model.decode_head.classifier)
    _assert_timm_resnet(model.dabnet.backbone, prefix="layer4.")
    for name, child in model.dabnet.sims[2].named_children():
        if isinstance(child, nn.Conv2d):
            _assert_pytorch_default_conv(f"sims.2.{name}", child)
        elif isinstance(child, nn.BatchNorm2d):
            _assert_fresh_batch_norm(f"sims.2.{name}", child)
    for key, tensor in model.state_dict().items():
        if not key.startswith(missing):
            assert torch.equal(tensor, stored[key]), key
