"""DabnetModel / DabnetForSemanticSegmentation: the arithmetic of every block against an independent formulation,
sizes, loss, outputs, input checks and I/O.

The reference functions below are written from the original's description (docs/architecture.md), in float64
and eval mode, with the modules' weights but none of their forward code: the SIM's patch folding and patch
averages as explicit loops over the P x P offsets, batch norm as its formula, the legacy nearest resize as an
index gather. Golden outputs of the original itself are checked in tests/test_parity.py.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.export import Dim, export

from dabnet_zoo import DabnetConfig, DabnetForSemanticSegmentation, create_model, list_models, valid_input_size
from dabnet_zoo.modeling_dabnet import DabnetSim

# --------------------------------------------------------------------------------------------------------------
# The independent formulation


def bn(module, x):
    """Eval-mode batch norm: (x - mean) / sqrt(var + eps) * weight + bias, per channel."""
    shape = (1, -1, 1, 1)
    scale = module.weight.view(shape) / torch.sqrt(module.running_var.view(shape) + module.eps)
    return (x - module.running_mean.view(shape)) * scale + module.bias.view(shape)


def conv(module, x):
    return F.conv2d(x, module.weight, module.bias, module.stride, module.padding)


def cbr(block, x, act=True):
    """mmcv's ConvModule: conv (no bias) -> BN -> ReLU."""
    y = bn(block.bn, conv(block.conv, x))
    return y.relu() if act else y


def fold_patches(x, p):
    """The original's rearrange 'b c (h p1) (w p2) -> b (c p1 p2) h w': channel c·P² + i·P + j holds pixel (i, j)
    of every P x P patch."""
    n, c, h, w = x.shape
    out = x.new_empty(n, c * p * p, h // p, w // p)
    for channel, i, j in itertools.product(range(c), range(p), range(p)):
        out[:, channel * p * p + i * p + j] = x[:, channel, i::p, j::p]
    return out


def patch_mean(x, p):
    """The mean of every P x P patch, summed offset by offset."""
    return sum(x[:, :, i::p, j::p] for i, j in itertools.product(range(p), range(p))) / (p * p)


def bilinear(x, size):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def legacy_nearest(x, size):
    """F.interpolate's legacy 'nearest': source index floor(dst · in / out), as an explicit gather."""
    rows = (torch.arange(size[0]) * x.shape[-2] / size[0]).floor().long()
    cols = (torch.arange(size[1]) * x.shape[-1] / size[1]).floor().long()
    return x[:, :, rows][:, :, :, cols]


def reference_sim(sim, x):
    """SIM: high branch at full resolution, low branch at 1/P from folded patches plus patch means; two
    interactions; exit back to the stage width plus the residual."""
    p, size = sim.patch_size, x.shape[-2:]
    x_h = bn(sim.bnh_0, conv(sim.h2h_0, x)).relu()
    x_l1 = bn(sim.bnl_0, conv(sim.h2l_0, fold_patches(x, p))).relu()
    x_l = bn(sim.l2l_bn, conv(sim.l2l_p1, x_l1) + conv(sim.l2l_p2, patch_mean(x, p))).relu()
    h_new = bn(sim.bnh_1, conv(sim.h2h_1, x_h) + conv(sim.l2h_1, bilinear(x_l, size))).relu()
    l_new = bn(sim.bnl_1, conv(sim.l2l_1, x_l) + conv(sim.h2l_1, patch_mean(x_h, p))).relu()
    return bn(sim.bnh_2, conv(sim.h2h_2, h_new) + conv(sim.l2h_2, bilinear(l_new, size))).relu() + x


def reference_arm(arm, x):
    y = cbr(arm.conv, x)
    return y * torch.sigmoid(cbr(arm.attention, y.mean((2, 3), keepdim=True), act=False))


def reference_ffm(ffm, spatial, context):
    f = cbr(ffm.conv, torch.cat([spatial, context], 1))
    return f * torch.sigmoid(cbr(ffm.attention, f.mean((2, 3), keepdim=True))) + f


def reference_head(head, x):
    return conv(head.classifier, cbr(head.conv, x))  # Dropout2d is the identity in eval mode


def reference_forward(model, image):
    """The original's forward order: stem; each stage's output replaced by its SIM's; the context-guided spatial
    path from the 2x2-averaged image, the stem and the 1/4, 1/8 features; ARM/conv_head aggregation with nearest
    resizes; feature fusion (spatial first); the three FCN heads. Returns the logits and the stage features."""
    backbone, d = model.dabnet.backbone, model.dabnet
    run = lambda names, x: [x := backbone.get_submodule(n)(x) for n in names][-1]  # noqa: E731
    x_2 = run(d._stem_names, image)
    stages, x = [], x_2
    for names, sim in zip(d._stage_names, d.sims):
        x = reference_sim(sim, run(names, x))
        stages.append(x)
    x_4, x_8, x_16, x_32 = stages
    sp = d.spatial_path
    image_half = patch_mean(image, 2)
    s = cbr(sp.sp_0, torch.cat([image_half, x_2], 1))
    s = cbr(sp.sp_1, s + cbr(sp.cp_1, x_4))
    s = cbr(sp.sp_2, s + cbr(sp.cp_2, x_8))
    agg = d.context_aggregation
    x_32_up = cbr(agg.conv_head32, legacy_nearest(reference_arm(agg.arm32, x_32), x_16.shape[-2:]))
    x_16_up = cbr(agg.conv_head16, legacy_nearest(reference_arm(agg.arm16, x_16) + x_32_up, x_8.shape[-2:]))
    fused = reference_ffm(d.feature_fusion, s, x_16_up)
    logits = [reference_head(model.decode_head, fused),
              *(reference_head(h, f) for h, f in zip(model.auxiliary_heads, (x_16_up, x_32_up)))]
    return logits, (x_2, *stages, fused)


def randomise(model, seed=0):
    """Random weights and batch-norm statistics (a fresh model's BNs are the identity, which hides bugs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype) * 0.2)
    return model


# --------------------------------------------------------------------------------------------------------------
# Blocks and the whole network against the reference


@pytest.mark.parametrize("patch_size", [1, 2, 4])
def test_sim_matches_the_original_formulas(patch_size):
    torch.manual_seed(0)
    sim = randomise(DabnetSim(channels=6, hidden_channels=5, patch_size=patch_size)).double().eval()
    x = torch.randn(2, 6, 4 * patch_size, 3 * patch_size, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(sim(x), reference_sim(sim, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["dabnet_r18_p2", "dabnet_effb1"])
def test_every_block_and_the_assembly_match_the_original_formulas(name):
    """Whole network in float64: SIMs, spatial path, aggregation, fusion and heads, and the hidden states."""
    torch.manual_seed(0)
    model = randomise(create_model(name, num_labels=3)).double().eval()
    image = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        outputs = model(image, output_auxiliary_logits=True, output_hidden_states=True)
        (logits, aux8, aux16), hidden = reference_forward(model, image)
    for ours, reference in zip((outputs.logits, *outputs.auxiliary_logits), (logits, aux8, aux16)):
        torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-10)
    assert len(outputs.hidden_states) == 6
    for ours, reference in zip(outputs.hidden_states, hidden):
        torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------------------------------------------
# Sizes


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    # P16 with narrow SIMs: its h2l_0 widths (C·256) stay; the full model would take 600 MB for shapes alone.
    return {name: create_model(name, **({"sim_channels": (4, 4, 4, 4)} if name == "dabnet_r18_p16" else {})).eval()
            for name in list_models()}


@pytest.mark.parametrize("variant", list_models())
def test_any_input_size_gives_logits_at_one_eighth(models, variant):
    for height, width in [(62, 94), (33, 47)]:
        with torch.no_grad():
            outputs = models[variant](torch.randn(1, 3, height, width), output_auxiliary_logits=True)
        eighth = (math.ceil(height / 8), math.ceil(width / 8))
        assert outputs.logits.shape == (1, 19, *eighth)
        assert outputs.auxiliary_logits[0].shape == (1, 19, *eighth)
        assert outputs.auxiliary_logits[1].shape == (1, 19, math.ceil(height / 16), math.ceil(width / 16))
        assert torch.isfinite(outputs.logits).all()


@pytest.mark.parametrize("variant", ["dabnet_r18_p4", "dabnet_effb1"])
def test_sizes_the_original_rejects_are_padded_bottom_right_and_cropped(models, variant):
    model = models[variant]
    pixel_values = torch.randn(1, 3, 101, 157)
    padded_height, padded_width = valid_input_size(101, 157, model.config.patch_size)
    padded = F.pad(pixel_values, (0, padded_width - 157, 0, padded_height - 101))
    with torch.no_grad():
        logits = model(pixel_values).logits
        reference = model(padded).logits[..., : math.ceil(101 / 8), : math.ceil(157 / 8)]
    torch.testing.assert_close(logits, reference, rtol=0, atol=0)


def _original_accepts(side: int, patch_size: int) -> bool:
    """Even sides, and every stage side ceil(side / 2**k), k = 2..5, divisible by P."""
    return side % 2 == 0 and all(math.ceil(side / 2**k) % patch_size == 0 for k in range(2, 6))


# The original's table: (height, width) -> patch sizes it runs at.
_ACCEPTED_SIZES = {
    (1024, 2048): {1, 2, 4, 8, 16},
    (1024, 1024): {1, 2, 4, 8, 16},
    (768, 960): {1, 2},
    (720, 960): {1},
    (640, 640): {1, 2, 4},
    (512, 512): {1, 2, 4, 8, 16},
    (960, 768): {1, 2},
}


@pytest.mark.parametrize("size, runs_at", list(_ACCEPTED_SIZES.items()))
def test_valid_input_size_keeps_exactly_the_sizes_the_original_accepts(size, runs_at):
    for patch_size in (1, 2, 4, 8, 16):
        unchanged = valid_input_size(*size, patch_size) == size
        assert unchanged == (patch_size in runs_at), (size, patch_size)


@pytest.mark.parametrize("patch_size", [1, 2, 4, 8, 16])
def test_valid_input_size_is_the_smallest_accepted_size(patch_size):
    for side in range(1, 600, 7):
        padded, _ = valid_input_size(side, side, patch_size)
        assert padded >= side and _original_accepts(padded, patch_size)
        assert not any(_original_accepts(s, patch_size) for s in range(side, padded))


# --------------------------------------------------------------------------------------------------------------
# Loss and outputs


def test_loss_is_weighted_cross_entropy_averaged_over_all_pixels(models):
    model = models["dabnet_r18_p1"]
    pixel_values = torch.randn(2, 3, 64, 96)
    labels = torch.randint(0, 19, (2, 64, 96))
    labels[:, :10] = 255
    with torch.no_grad():
        outputs = model(pixel_values, labels=labels, output_auxiliary_logits=True)

    def ce(logits):  # written out: ignored pixels add 0 but count in the mean (mmseg < 0.23)
        up = F.interpolate(logits, size=(64, 96), mode="bilinear", align_corners=False)
        log_probs = up.log_softmax(1)
        valid = labels != 255
        picked = log_probs.gather(1, labels.clamp(max=18).unsqueeze(1)).squeeze(1)
        return -(picked * valid).sum() / labels.numel()

    expected = ce(outputs.logits) + 0.4 * ce(outputs.auxiliary_logits[0]) + 0.4 * ce(outputs.auxiliary_logits[1])
    torch.testing.assert_close(outputs.loss, expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        assert model(pixel_values, labels=torch.full_like(labels, 255)).loss == 0


def test_training_step_reaches_every_parameter():
    model = create_model("dabnet_effb1").train()
    outputs = model(torch.randn(2, 3, 64, 64), labels=torch.randint(0, 19, (2, 64, 64)))
    assert outputs.auxiliary_logits is not None
    outputs.loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_auxiliary_logits_only_in_training_or_when_asked(models):
    """An evaluation with labels returns the loss and the logits alone, which is what the Trainer gathers."""
    model = models["dabnet_r18_p2"]
    pixel_values, labels = torch.randn(1, 3, 64, 64), torch.zeros(1, 64, 64, dtype=torch.long)
    with torch.no_grad():
        assert model(pixel_values).auxiliary_logits is None
        assert len(model(pixel_values, output_auxiliary_logits=True).auxiliary_logits) == 2
        outputs = model(pixel_values, labels=labels)
        assert outputs.loss.ndim == 0 and outputs.auxiliary_logits is None
        assert set(outputs.keys()) == {"loss", "logits"}
        loss, logits = model(pixel_values, labels=labels, return_dict=False)
        assert loss.ndim == 0 and logits.shape == (1, 19, 8, 8)
    assert DabnetConfig().keys_to_ignore_at_inference == ["auxiliary_logits", "hidden_states"]


def test_hidden_states_are_the_stem_the_four_stages_and_the_fused_feature(models):
    model = models["dabnet_r18_p2"]
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, 64, 128), output_hidden_states=True)
        tuple_outputs = model(torch.randn(1, 3, 64, 128), output_hidden_states=True, return_dict=False)
    shapes = [tuple(h.shape) for h in outputs.hidden_states]
    assert shapes == [(1, 64, 32, 64), (1, 64, 16, 32), (1, 128, 8, 16), (1, 256, 4, 8), (1, 512, 2, 4),
                      (1, 256, 8, 16)]
    assert len(tuple_outputs) == 2 and len(tuple_outputs[1]) == 6


def test_eval_leaves_the_weights_as_they_are(models, tmp_path):
    """eval() must not convert parameters (to channels-last or anything): the state dict is bit for bit the same,
    contiguous after any eval/train cycle, and safetensors can save it."""
    model = models["dabnet_effb1"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for _ in range(2):
            model.eval()(torch.randn(1, 3, 64, 64))
            model.train()
    model.eval()
    state_dict = model.state_dict()
    assert all(t.is_contiguous() for t in state_dict.values())
    assert all(torch.equal(before[k], v) and before[k].stride() == v.stride() for k, v in state_dict.items())
    save_file({k: v for k, v in state_dict.items()}, tmp_path / "weights.safetensors")


# --------------------------------------------------------------------------------------------------------------
# Input checks: one line that names the fix


@pytest.mark.parametrize(
    "pixel_values, fragment",
    [
        (torch.randn(3, 64, 64), r"shape \(batch, 3, height, width\), got \(3, 64, 64\)"),
        (torch.randn(1, 4, 64, 64), r"got \(1, 4, 64, 64\)"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "must be floating point"),
        (torch.zeros(0, 3, 64, 64), "no images .batch size 0.; pass at least one image"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.float16), r"float16 but the model's weights are torch.float32.*\.to"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.float64), r"float64 but the model's weights are torch.float32"),
    ],
)
def test_bad_pixel_values_get_a_clear_error(models, pixel_values, fragment):
    with pytest.raises(ValueError, match=fragment) as raised:
        models["dabnet_r18_p1"](pixel_values)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "labels, fragment",
    [
        (torch.zeros(1, 1, 64, 64, dtype=torch.long), "labels must be a tensor of shape"),
        (torch.zeros(1, 64, 64), "integer class indices"),
        (torch.full((1, 64, 64), 19), r"outside \[0, 19\) that are not the ignore index 255: 19\. Map them"),
        (torch.full((1, 64, 64), -1), r"outside \[0, 19\) .*: -1\."),
    ],
)
def test_bad_labels_get_a_clear_error(models, labels, fragment):
    with pytest.raises(ValueError, match=fragment) as raised:
        models["dabnet_r18_p1"](torch.randn(1, 3, 64, 64), labels=labels)
    assert "\n" not in str(raised.value)


def test_misspelt_arguments_are_refused_naming_the_accepted_ones(models):
    model = models["dabnet_r18_p1"]
    with pytest.raises(TypeError, match="unexpected keyword argument.*'lables'.*it accepts pixel_values, labels"):
        model(torch.randn(1, 3, 64, 64), lables=torch.zeros(1, 64, 64, dtype=torch.long))
    with pytest.raises(TypeError, match="'output_attentions'"):
        model.dabnet(torch.randn(1, 3, 64, 64), output_attentions=True)
    with pytest.raises(TypeError, match="'num_classes'"):
        create_model("dabnet_r18_p1", num_classes=7)


# --------------------------------------------------------------------------------------------------------------
# I/O


def test_save_pretrained_round_trip_gives_identical_outputs(models, tmp_path):
    model = models["dabnet_effb1"]
    model.save_pretrained(tmp_path)
    reloaded = DabnetForSemanticSegmentation.from_pretrained(tmp_path).eval()
    pixel_values = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        assert torch.equal(reloaded(pixel_values).logits, model(pixel_values).logits)


def test_sim_exports_with_dynamic_batch_height_and_width():
    """No Python branching on shapes inside the SIM: one exported graph serves every multiple of P."""
    sim = DabnetSim(channels=8, hidden_channels=4, patch_size=4).eval()
    batch, height, width = Dim("batch", min=1, max=8), Dim("height", min=1, max=64), Dim("width", min=1, max=64)
    program = export(sim, (torch.randn(2, 8, 16, 32),), dynamic_shapes={"x": {0: batch, 2: 4 * height, 3: 4 * width}})
    x = torch.randn(3, 8, 24, 40)
    torch.testing.assert_close(program.module()(x), sim(x))
