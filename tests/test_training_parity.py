"""Two training iterations of DABNet-R-P2 against the original's (tests/fixtures/training/README.md).

Everything runs through what ``recipes/train.py`` runs: the recipe file, ``create_training_model`` (with the head
dropouts set to 0, as the fixture's run had them, without editing the recipe), the original-format weights of the
fixtures' weight rule converted by ``dabnet_zoo.convert`` as a user converts a checkpoint, ``create_optimizer`` and
``create_scheduler``, Accelerate on the CPU, and ``training_step`` with the model's own loss. The original ran one
process with batch 2: iteration 0 on batch b1 at the lr of iteration 0, iteration 1 on b2.

Tolerances follow the fixture's noise file, which measured the original against itself with other CPU kernels
(AVX-512 instead of AVX2): float32 summation order alone moves the losses by ~1e-7, the heads' gradients by
~1e-5 and gradients deep in the network by up to a few percent (the batch norms on 1x1 pooled tensors normalise
over two values per channel). Each quantity is compared against a few times that measured difference, never
bitwise. The two iterations run once (about half a minute) and every test reads their record.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from tests.conftest import original_state_dict
from dabnet_zoo.convert import convert_checkpoint, rename_original_key
from dabnet_zoo.training import (
    create_optimizer,
    create_scheduler,
    create_training_model,
    load_recipe,
    training_step,
)

FIXTURES = Path(__file__).parent / "fixtures" / "training"
META = json.loads((FIXTURES / "r18_p2_train_step.json").read_text())
NOISE = json.loads((FIXTURES / "r18_p2_isa_noise.json").read_text())
RECIPE_FILE = Path(__file__).parents[1] / "recipes" / "configs" / "dabnet_r18_p2.cityscapes.yaml"
BATCHES = {"b1": (10, 11), "b2": (12, 13)}  # numpy seeds of the images and of the labels
STEP_OF_BATCH = {"b1": "step1", "b2": "step2"}
IGNORE_INDEX = 255
# The original's per-head loss keys and weights (the 0.4 is inside its auxiliary losses).
LOSS_TERMS = {"decode.loss_ce": 1.0, "aux_0.loss_ce": 0.4, "aux_1.loss_ce": 0.4}

# How many times the measured kernel-to-kernel difference a quantity may differ by, and a float32 floor
# relative to the quantity's own size for where that difference happened to be zero.
NOISE_FACTOR = 5.0
FLOAT32_FLOOR = 1e-6
# The SIM convolutions' biases, each followed by a train-mode batch norm (original key names).
ZERO_GRADIENT = re.compile(r"backbone\.SIM_\d\.(h2h|h2l|l2h|l2l)_(\d|p\d)\.bias")


def fixture_batch(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixture's batch, regenerated from its recipe and checked against its sha256."""
    image_seed, label_seed = BATCHES[name]
    images = np.random.default_rng(image_seed).standard_normal((2, 3, 512, 512), dtype=np.float32)
    labels = np.random.default_rng(label_seed).integers(0, 19, size=(2, 512, 512), dtype=np.int64)
    labels[:, 100:164, 200:264] = IGNORE_INDEX
    recorded = META["batches"][name]
    assert hashlib.sha256(images.tobytes()).hexdigest() == recorded["img_sha256"]
    assert hashlib.sha256(labels.tobytes()).hexdigest() == recorded["labels_sha256"]
    return torch.from_numpy(images), torch.from_numpy(labels)


def original_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """mmseg 0.19's per-head loss: bilinear resize to the labels, cross-entropy summed over the labelled pixels
    and divided by ALL pixels (ignored ones count in the denominator)."""
    logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="sum") / labels.numel()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """Two iterations as recipes/train.py runs them; returns what was observed, under the original's key names."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    work = tmp_path_factory.mktemp("training_parity")
    checkpoint = work / "dabnet_r18_p2_original.pth"
    torch.save({"meta": {"mmseg_version": "0.19.0"}, "state_dict": original_state_dict("dabnet_r18_p2")}, checkpoint)
    converted = convert_checkpoint(checkpoint, work / "converted", "dabnet_r18_p2", "cityscapes")

    recipe = load_recipe(RECIPE_FILE)
    model, init_report = create_training_model(recipe, initialize_backbone=False, classifier_dropout_prob=0.0)
    assert init_report is None
    model.load_state_dict(load_file(converted / "model.safetensors"), strict=True)

    # Our parameter names for the fixture's (original) names, one to one.
    original_names = META["parameters"]["names"]
    assert sorted(map(rename_original_key, original_names)) == sorted(name for name, _ in model.named_parameters())
    parameters = dict(model.named_parameters())
    by_original = {name: parameters[rename_original_key(name)] for name in original_names}
    initial = {name: p.detach().clone() for name, p in by_original.items()}
    bn_buffers = {f"{layer}.{stat}": dict(model.named_buffers())[rename_original_key(f"{layer}.{stat}")]
                  for layer in META["bn_layers"] for stat in ("running_mean", "running_var", "num_batches_tracked")}

    accelerator = Accelerator(cpu=True)  # one process, no accumulation: the fixture's batch of 2 is the step
    try:
        optimizer = create_optimizer(model, recipe.optimizer)
        scheduler = create_scheduler(optimizer, recipe.schedule)
        model, optimizer = accelerator.prepare(model, optimizer)
        model.train()
        record: dict = {}
        current: dict = {}

        def after_forward(module, inputs, output) -> None:
            current["logits"] = (output.logits.detach(), *(a.detach() for a in output.auxiliary_logits))
            current["bn"] = {key: buffer.detach().clone() for key, buffer in bn_buffers.items()}

        def before_step(opt, args, kwargs) -> None:
            current["lr"] = opt.param_groups[0]["lr"]
            current["grad"] = {name: p.grad.detach().double().clone() for name, p in by_original.items()}

        hooks = [accelerator.unwrap_model(model).register_forward_hook(after_forward),
                 optimizer.optimizer.register_step_pre_hook(before_step)]
        for name in BATCHES:
            images, labels = fixture_batch(name)
            current.clear()
            loss = training_step(model, {"image": images, "label": labels}, optimizer, accelerator)
            assert accelerator.sync_gradients
            scheduler.step()  # once per iteration, as the training loop does
            record[name] = {**current, "loss": loss, "labels": labels,
                            "param": {n: p.detach().clone() for n, p in by_original.items()}}
        for hook in hooks:
            hook.remove()
    finally:  # accelerate keeps process-wide singletons
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    record["initial"] = initial
    return record


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    return load_file(FIXTURES / "r18_p2_train_step.safetensors")


def noise(key: str) -> float:
    """max |AVX-512 run − fixture| the noise file measured for a stored tensor."""
    return NOISE["per_tensor"][key]["max_abs_diff"]


def assert_close(ours: torch.Tensor, expected: torch.Tensor, tolerance: float, what: str) -> None:
    assert ours.shape == expected.shape, what
    worst = (ours.double() - expected.double()).abs().max().item()
    assert worst <= tolerance, f"{what}: max |difference| {worst:.3g} > {tolerance:.3g}"


# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", list(BATCHES))
def test_each_loss_term_and_the_total_equal_the_original(run, reference, batch):
    observed = run[batch]
    total_key = f"{batch}/total_loss"
    total = reference[total_key].item()
    tolerance = FLOAT32_FLOOR * abs(total) + NOISE_FACTOR * noise(total_key)
    assert abs(observed["loss"].item() - total) <= tolerance, (observed["loss"].item(), total)
    for (key, weight), logits in zip(LOSS_TERMS.items(), observed["logits"]):
        stored = f"{batch}/forward_train/{key}"
        expected = reference[stored].item()
        ours = weight * original_loss(logits, observed["labels"]).item()
        assert abs(ours - expected) <= FLOAT32_FLOOR * abs(expected) + NOISE_FACTOR * noise(stored), (key, ours)


@pytest.mark.parametrize("batch", list(BATCHES))
def test_each_iteration_uses_the_original_learning_rate(run, batch):
    iteration = list(BATCHES).index(batch)
    assert run[batch]["lr"] == pytest.approx(META["schedule"][f"iteration_{iteration}"]["lr"], rel=1e-12)


@pytest.mark.parametrize("batch", list(BATCHES))
def test_batch_norm_statistics_after_each_forward(run, reference, batch):
    bn = run[batch]["bn"]
    for layer in META["bn_layers"]:
        assert bn[f"{layer}.num_batches_tracked"].item() == META["bn_num_batches_tracked_after_forward"][batch][layer]
        for stat in ("running_mean", "running_var"):
            key = f"{batch}/bn_after_forward/{layer}.{stat}"
            expected = reference[key]
            tolerance = FLOAT32_FLOOR * expected.abs().max().item() + NOISE_FACTOR * noise(key)
            assert_close(bn[f"{layer}.{stat}"], expected, tolerance, key)


def per_parameter_tolerance(key: str, reference: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """A few times each parameter's measured kernel-to-kernel difference, or the array's median relative one
    (times ``scale``) where that parameter's happened to be small."""
    measured = NOISE["per_parameter_arrays"][key]
    abs_diff = torch.tensor(measured["abs_diff"], dtype=torch.float64)
    return NOISE_FACTOR * torch.maximum(abs_diff, measured["rel_stats"]["median"] * scale.abs())


def assert_within(ours: torch.Tensor, expected: torch.Tensor, tolerance: torch.Tensor, names: list[str],
                  what: str) -> None:
    excess = (ours - expected).abs() / tolerance
    worst = int(excess.argmax())
    assert excess[worst] <= 1, (f"{what} of {names[worst]}: ours {ours[worst].item():.6g}, original "
                                f"{expected[worst].item():.6g}, allowed ±{tolerance[worst].item():.3g}")


@pytest.mark.parametrize("batch", list(BATCHES))
def test_every_parameter_gradient_norm_and_sum(run, reference, batch):
    grads = run[batch]["grad"]
    names = META["parameters"]["names"]
    compared = [i for i, name in enumerate(names) if not ZERO_GRADIENT.fullmatch(name)]
    for quantity, reduce in (("grad_l2", torch.linalg.vector_norm), ("grad_sum", torch.sum)):
        key = f"{batch}/{quantity}"
        ours = torch.stack([reduce(grads[names[i]]) for i in compared])
        # A sum of cancelling terms has no scale of its own: the floor scales with the gradient's L2 norm.
        tolerance = per_parameter_tolerance(key, reference[key], reference[f"{batch}/grad_l2"])[compared]
        assert_within(ours, reference[key][compared], tolerance, [names[i] for i in compared], key)


@pytest.mark.parametrize("batch", list(BATCHES))
def test_conv_biases_before_batch_norm_get_no_gradient(run, reference, batch):
    # A bias followed by a train-mode batch norm cancels out: its true gradient is 0, and both runs hold only
    # rounding noise there (the original's values are ~1e-8, a real gradient here is ~1e-3 or more).
    names = [name for name in META["parameters"]["names"] if ZERO_GRADIENT.fullmatch(name)]
    assert len(names) == 40
    index = [META["parameters"]["names"].index(name) for name in names]
    assert reference[f"{batch}/grad_l2"][index].max() < 1e-6
    worst = max(names, key=lambda name: run[batch]["grad"][name].norm().item())
    assert run[batch]["grad"][worst].norm().item() < 1e-6, worst


@pytest.mark.parametrize("batch", list(BATCHES))
def test_full_gradients_of_representative_parameters(run, reference, batch):
    for name in META["representative_params"]:
        key = f"{batch}/grad/{name}"
        expected = reference[key]
        tolerance = NOISE_FACTOR * noise(key) + FLOAT32_FLOOR * expected.abs().max().item()
        assert_close(run[batch]["grad"][name], expected, tolerance, key)


@pytest.mark.parametrize("batch", list(BATCHES))
def test_parameters_after_each_optimizer_step(run, reference, batch):
    step = STEP_OF_BATCH[batch]
    names = META["parameters"]["names"]
    params, initial = run[batch]["param"], run["initial"]
    delta = torch.stack([torch.linalg.vector_norm((params[n] - initial[n]).double()) for n in names])
    key = f"{step}/delta_l2"
    assert_within(delta, reference[key], per_parameter_tolerance(key, reference[key], reference[key]), names, key)
    for name in META["representative_params"]:
        key = f"{step}/param/{name}"
        expected_values = reference[key]
        tolerance = NOISE_FACTOR * noise(key) + FLOAT32_FLOOR * expected_values.abs().max().item()
        assert_close(params[name], expected_values, tolerance, key)
