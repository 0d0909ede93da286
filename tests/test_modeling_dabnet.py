"""DabnetModel / DabnetForSemanticSegmentation on every registered variant: shapes, sizes, loss, I/O."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.export import Dim, export

from dabnet_zoo import DabnetForSemanticSegmentation, create_model, list_models, valid_input_size
from dabnet_zoo.modeling_dabnet import DabnetSim


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: create_model(name).eval() for name in list_models()}


@pytest.mark.parametrize("variant", list_models())
@pytest.mark.parametrize("size", [(333, 517), (720, 960), (1024, 2048), (32, 32)])
def test_any_input_size_gives_logits_at_one_eighth(models, variant, size):
    height, width = size
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
    pixel_values = torch.randn(1, 3, 333, 517)
    padded_height, padded_width = valid_input_size(333, 517, model.config.patch_size)
    padded = F.pad(pixel_values, (0, padded_width - 517, 0, padded_height - 333))
    with torch.no_grad():
        logits = model(pixel_values).logits
        reference = model(padded).logits[..., : math.ceil(333 / 8), : math.ceil(517 / 8)]
    torch.testing.assert_close(logits, reference, rtol=0, atol=0)


def _original_accepts(side: int, patch_size: int) -> bool:
    """Spec §6: even sides, and every stage side ceil(side / 2**k), k = 2..5, divisible by P."""
    return side % 2 == 0 and all(math.ceil(side / 2**k) % patch_size == 0 for k in range(2, 6))


# Spec §6 table: (height, width) -> patch sizes the original runs at.
_SPEC_TABLE = {
    (1024, 2048): {1, 2, 4, 8, 16},
    (1024, 1024): {1, 2, 4, 8, 16},
    (768, 960): {1, 2},
    (720, 960): {1},
    (640, 640): {1, 2, 4},
    (512, 512): {1, 2, 4, 8, 16},
    (960, 768): {1, 2},
}


@pytest.mark.parametrize("size, runs_at", list(_SPEC_TABLE.items()))
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


def test_loss_is_weighted_cross_entropy_averaged_over_all_pixels(models):
    model = models["dabnet_r18_p1"]
    pixel_values = torch.randn(2, 3, 64, 96)
    labels = torch.randint(0, 19, (2, 64, 96))
    labels[:, :10] = 255
    with torch.no_grad():
        outputs = model(pixel_values, labels=labels)

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


def test_auxiliary_logits_only_when_training_or_asked(models):
    model = models["dabnet_r18_p2"]
    pixel_values = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert model(pixel_values).auxiliary_logits is None
        assert len(model(pixel_values, output_auxiliary_logits=True).auxiliary_logits) == 2
        loss, logits = model(pixel_values, labels=torch.zeros(1, 64, 64, dtype=torch.long), return_dict=False)[:2]
        assert loss.ndim == 0 and logits.shape == (1, 19, 8, 8)


@pytest.mark.parametrize(
    "pixel_values, fragment",
    [
        (torch.randn(3, 64, 64), r"shape \(batch, 3, height, width\), got \(3, 64, 64\)"),
        (torch.randn(1, 4, 64, 64), r"got \(1, 4, 64, 64\)"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "must be floating point"),
    ],
)
def test_bad_pixel_values_get_a_clear_error(models, pixel_values, fragment):
    with pytest.raises(ValueError, match=fragment):
        models["dabnet_r18_p1"](pixel_values)


@pytest.mark.parametrize(
    "labels, fragment",
    [
        (torch.zeros(1, 1, 64, 64, dtype=torch.long), "labels must have shape"),
        (torch.zeros(1, 64, 64), "integer class indices"),
    ],
)
def test_bad_labels_get_a_clear_error(models, labels, fragment):
    with pytest.raises(ValueError, match=fragment):
        models["dabnet_r18_p1"](torch.randn(1, 3, 64, 64), labels=labels)


def test_save_pretrained_round_trip_gives_identical_outputs(models, tmp_path):
    model = models["dabnet_effb1"]
    model.save_pretrained(tmp_path)
    reloaded = DabnetForSemanticSegmentation.from_pretrained(tmp_path).eval()
    pixel_values = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(pixel_values).logits, model(pixel_values).logits)


def test_sim_exports_with_dynamic_batch_height_and_width():
    """No Python branching on shapes inside the SIM: one exported graph serves every multiple of P."""
    sim = DabnetSim(channels=8, hidden_channels=4, patch_size=4).eval()
    batch, height, width = Dim("batch", min=1, max=8), Dim("height", min=1, max=64), Dim("width", min=1, max=64)
    program = export(sim, (torch.randn(2, 8, 16, 32),), dynamic_shapes={"x": {0: batch, 2: 4 * height, 3: 4 * width}})
    x = torch.randn(3, 8, 24, 40)
    torch.testing.assert_close(program.module()(x), sim(x))
