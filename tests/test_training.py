"""The reusable training parts: schedule vs the original's logged values, optimiser, batch plan, sampler,
recipe validation, the recipe files vs the original's recipe table, and backbone initialisation."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import timm
import torch
import yaml

from dabnet_zoo import create_model
from dabnet_zoo.errors import CheckpointError, ResultsError
from dabnet_zoo.training import (
    BatchPlan,
    GlobalBatchSampler,
    OPENMMLAB_URLS,
    PolyWarmupLR,
    RecipeError,
    TRAINING_KEYS,
    convert_sync_batchnorm,
    create_optimizer,
    create_scheduler,
    dump_recipe,
    freeze_batch_norm,
    load_backbone_weights,
    load_recipe,
    plan_batches,
    poly_lr,
    recipe_from_dict,
    write_training_results,
)
from tests.conftest import training_record

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
CONFIG_DIR = RECIPES_DIR / "configs"
VARIANT_NAMES = ("dabnet_r18_p1", "dabnet_r18_p2", "dabnet_r18_p4", "dabnet_r18_p8", "dabnet_r18_p16", "dabnet_effb1")
DATASET_NAMES = ("cityscapes", "camvid", "coco_stuff10k", "coco_stuff164k")


def minimal_recipe(**changes) -> dict:
    data = {
        "model": "dabnet_r18_p2",
        "dataset": "cityscapes",
        "batch": {"global_batch_size": 32, "per_device_batch_size": 8},
        "optimizer": {"name": "sgd", "lr": 0.025, "momentum": 0.9, "weight_decay": 5e-4},
        "schedule": {"max_iters": 80000, "warmup_iters": 1000},
    }
    data.update(changes)
    return data


# --------------------------------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "logged_iteration, base_lr, warmup_iters, logged_lr",
    [
        (50, 0.025, 1000, 3.601e-3),  # R Cityscapes log, iteration 50
        (50, 0.005, 1000, 7.201e-4),  # R COCO-Stuff-10k log
        (80000, 0.025, 1000, 1.010e-4),  # last iteration
        (50, 1e-3, 0, 9.995e-4),  # E (Adam, no warm-up)
    ],
)
def test_poly_schedule_reproduces_the_logged_learning_rates(logged_iteration, base_lr, warmup_iters, logged_lr):
    # mmcv logs the lr of 0-based iteration i as "Iter [i + 1]", with four significant digits.
    lr = poly_lr(logged_iteration - 1, base_lr, 80000, power=0.9, min_lr=1e-4, warmup_iters=warmup_iters,
                 warmup_ratio=0.1)
    assert float(f"{lr:.4g}") == pytest.approx(logged_lr, rel=1e-9)


def test_poly_schedule_shape():
    lrs = [poly_lr(i, 0.025, 80000, warmup_iters=1000) for i in (0, 500, 999, 1000, 40000, 80000, 90000)]
    assert lrs[0] == pytest.approx(0.025 * 0.1)  # warm-up starts at ratio x lr
    assert lrs[0] < lrs[1] < lrs[2] < lrs[3]  # rises through the warm-up ...
    assert lrs[3] > lrs[4] > lrs[5]  # ... then decays
    assert lrs[5] == lrs[6] == pytest.approx(1e-4)  # to min_lr, and stays there


def test_scheduler_steps_per_iteration_and_round_trips():
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.025)
    scheduler = PolyWarmupLR(optimizer, max_iters=100, warmup_iters=10)
    seen = []
    for _ in range(20):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([poly_lr(i, 0.025, 100, warmup_iters=10) for i in range(20)], rel=1e-12)

    state = scheduler.state_dict()
    other_optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.025)
    resumed = PolyWarmupLR(other_optimizer, max_iters=100, warmup_iters=10)
    other_optimizer.load_state_dict(optimizer.state_dict())
    resumed.load_state_dict(state)
    for _ in range(5):
        optimizer.step(), scheduler.step(), other_optimizer.step(), resumed.step()
        assert other_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(poly_lr(25, 0.025, 100, warmup_iters=10))


# --------------------------------------------------------------------------------------------------------------
# Optimiser
# --------------------------------------------------------------------------------------------------------------


def test_sgd_decays_every_parameter_in_one_group():
    model = create_model("dabnet_r18_p2")
    recipe = recipe_from_dict(minimal_recipe())
    optimizer = create_optimizer(model, recipe.optimizer)
    assert isinstance(optimizer, torch.optim.SGD)
    assert len(optimizer.param_groups) == 1
    group = optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.025, 0.9, 5e-4)
    in_group = {id(p) for p in group["params"]}
    assert in_group == {id(p) for p in model.parameters()}  # BN weights and biases included
    bn_weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn_weights and all(id(w) in in_group for w in bn_weights)


def test_adam_as_dabnet_e():
    recipe = recipe_from_dict(minimal_recipe(
        model="dabnet_effb1", batch={"global_batch_size": 16, "per_device_batch_size": 4},
        optimizer={"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999], "weight_decay": 0.0},
        schedule={"max_iters": 80000},
    ))
    optimizer = create_optimizer(torch.nn.Linear(3, 3), recipe.optimizer)
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.Adam)
    assert (group["lr"], tuple(group["betas"]), group["eps"], group["weight_decay"]) == (1e-3, (0.5, 0.999), 1e-8, 0)
    scheduler = create_scheduler(optimizer, recipe.schedule)
    assert scheduler.warmup_iters == 0 and scheduler.min_lr == 1e-4


# --------------------------------------------------------------------------------------------------------------
# Batch plan and sampler
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("global_batch, per_device, processes, accumulation", [
    (32, 8, 4, 1),  # the original: 8 x 4 GPUs
    (32, 8, 1, 4),  # one GPU
    (32, 8, 2, 2),
    (32, 4, 8, 1),
    (16, 4, 4, 1),  # DABNet-E
    (16, 4, 1, 4),
    (8, 4, 2, 1),
])
def test_batch_plan_keeps_the_global_batch(global_batch, per_device, processes, accumulation):
    plan = plan_batches(global_batch, per_device, processes)
    assert plan == BatchPlan(per_device, processes, accumulation)
    assert plan.global_batch_size == global_batch
    assert str(global_batch) in plan.describe() and f"{accumulation} gradient accumulation" in plan.describe()


@pytest.mark.parametrize("global_batch, per_device, processes", [(32, 8, 8), (32, 3, 2), (16, 8, 3)])
def test_batch_plan_refuses_to_change_the_global_batch(global_batch, per_device, processes):
    with pytest.raises(RecipeError, match=f"global batch of {global_batch}"):
        plan_batches(global_batch, per_device, processes)


@pytest.mark.parametrize("processes, accumulation", [(1, 1), (1, 4), (2, 2), (4, 1)])
def test_sampler_global_batches_do_not_depend_on_the_split(processes, accumulation):
    dataset_size, global_batch, epoch = 37, 8, 3
    reference = GlobalBatchSampler(dataset_size, BatchPlan(global_batch, 1, 1), seed=5)
    per_device = global_batch // (processes * accumulation)
    plan = BatchPlan(per_device, processes, accumulation)
    samplers = [GlobalBatchSampler(dataset_size, plan, rank, seed=5) for rank in range(processes)]
    assert all(s.steps_per_epoch == dataset_size // global_batch for s in samplers)
    for sampler in (reference, *samplers):
        sampler.set_epoch(epoch)
    global_batches = list(reference)  # one process, no accumulation: one batch per step
    per_rank = [list(sampler) for sampler in samplers]
    assert all(len(batches) == len(sampler) == reference.steps_per_epoch * accumulation
               for batches, sampler in zip(per_rank, samplers))
    for step, expected in enumerate(global_batches):
        chunks = [batch for batches in per_rank for batch in batches[step * accumulation:(step + 1) * accumulation]]
        assert all(len(chunk) == per_device for chunk in chunks)
        flat = [index for chunk in chunks for index in chunk]
        assert len(set(flat)) == len(flat)  # every rank and micro-batch gets distinct samples
        assert sorted(flat) == sorted(expected)


def test_sampler_epochs_and_resume_position():
    plan = BatchPlan(2, 1, 1)
    sampler = GlobalBatchSampler(10, plan, seed=0)
    sampler.set_epoch(0)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != epoch0  # reshuffled every epoch
    assert sorted(i for batch in epoch0 for i in batch) == list(range(10))
    sampler.set_epoch(0, start_step=3)
    assert list(sampler) == epoch0[3:] and len(sampler) == 2
    assert GlobalBatchSampler(10, plan, seed=0).order(0).tolist() == sampler.order(0).tolist()  # pure function
    with pytest.raises(RecipeError, match="fewer than one global batch"):
        GlobalBatchSampler(3, BatchPlan(2, 2, 1))


# --------------------------------------------------------------------------------------------------------------
# Recipe configuration
# --------------------------------------------------------------------------------------------------------------


def test_recipe_round_trips_through_yaml(tmp_path):
    recipe = recipe_from_dict(minimal_recipe(notes=["a"], data={"crop_size": [512, 1024]}))
    path = tmp_path / "recipe.yaml"
    path.write_text(dump_recipe(recipe, "a header\nover two lines"))
    assert path.read_text().startswith("# a header\n# over two lines\n")
    assert load_recipe(path) == recipe
    assert recipe.data.crop_size == (512, 1024) and recipe.name == "dabnet_r18_p2.cityscapes"


@pytest.mark.parametrize("changes, message", [
    ({"learning_rate": 0.1}, "learning_rate"),
    ({"data": {"crop": [1, 2]}}, "data.crop"),
    ({"schedule": {"max_iters": 10, "warmup": 5}}, "schedule.warmup"),
    ({"optimizer": {"name": "sgd", "lr": 0.01, "betas": [0.5, 0.9]}}, "optimizer.betas"),
    ({"optimizer": {"name": "adam", "lr": 0.01, "momentum": 0.9}}, "optimizer.momentum"),
])
def test_unknown_keys_are_named(changes, message):
    with pytest.raises(RecipeError, match=f"Unknown recipe key.*{message}"):
        recipe_from_dict(minimal_recipe(**changes))


@pytest.mark.parametrize("changes, message", [
    ({"schedule": {"max_iters": "80k"}}, "schedule.max_iters: expected an integer"),
    ({"data": {"crop_size": [512]}}, "data.crop_size: expected a list of 2"),
    ({"sync_bn": "yes"}, "sync_bn: expected true or false"),
    ({"model": "dabnet_r18_p3"}, "is not a variant"),
    ({"dataset": "ade20k"}, "is not a dataset preset"),
    ({"loss_weights": [0.5, 0.4, 0.4]}, "loss_weights"),
    ({"optimizer": {"name": "rmsprop", "lr": 0.1}}, "optimizer.name"),
    ({"batch": {"global_batch_size": 30, "per_device_batch_size": 8}}, "not a multiple"),
    ({"schedule": {"max_iters": 0}}, "max_iters"),
    ({"model_overrides": {"dropout": 0.0}}, "model_overrides.*dropout"),
    ({"model_overrides": {"patch_size": 8}}, "model_overrides.*patch_size"),
])
def test_invalid_values_are_rejected(changes, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(minimal_recipe(**changes))


def test_missing_required_keys_are_named():
    data = minimal_recipe()
    del data["schedule"]
    with pytest.raises(RecipeError, match="schedule"):
        recipe_from_dict(data)


def test_load_recipe_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(minimal_recipe(typo=1)))
    with pytest.raises(RecipeError, match="bad.yaml.*typo"):
        load_recipe(path)
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "missing.yaml")


def test_replace_nested_fields():
    recipe = recipe_from_dict(minimal_recipe())
    short = recipe.replace(**{"schedule.max_iters": 10, "seed": 3})
    assert (short.schedule.max_iters, short.schedule.warmup_iters, short.seed) == (10, 1000, 3)
    assert recipe.schedule.max_iters == 80000
    with pytest.raises(RecipeError):
        recipe.replace(**{"schedule.max_iters": 0})


# --------------------------------------------------------------------------------------------------------------
# The recipe files against the original's recipes (docs/architecture.md §6), written out independently of the generator
# --------------------------------------------------------------------------------------------------------------

# (R or E, dataset) -> the original's values; None = not recorded by the original (CamVid optimiser).
ORIGINAL = {
    ("R", "cityscapes"): dict(optimizer="sgd", lr=0.025, warmup=1000, iters=80000, per_device=8, gpus=4,
                              crop=(1024, 1024), scale=(1024, 2048), train="train", val="val", interval=8000),
    ("E", "cityscapes"): dict(optimizer="adam", lr=1e-3, warmup=0, iters=80000, per_device=4, gpus=4,
                              crop=(1024, 1024), scale=(1024, 2048), train="train", val="val", interval=8000),
    ("R", "coco_stuff10k"): dict(optimizer="sgd", lr=0.005, warmup=1000, iters=80000, per_device=8, gpus=4,
                                 crop=(512, 512), scale=(512, 2048), train="train", val="test", interval=8000),
    ("E", "coco_stuff10k"): dict(optimizer="adam", lr=1e-3, warmup=0, iters=80000, per_device=8, gpus=4,
                                 crop=(512, 512), scale=(512, 2048), train="train", val="test", interval=8000),
    ("R", "coco_stuff164k"): dict(optimizer="sgd", lr=0.005, warmup=1000, iters=160000, per_device=8, gpus=4,
                                  crop=(512, 512), scale=(512, 2048), train="train", val="val", interval=16000),
    ("E", "coco_stuff164k"): dict(optimizer="adam", lr=1e-3, warmup=0, iters=160000, per_device=8, gpus=4,
                                  crop=(512, 512), scale=(512, 2048), train="train", val="val", interval=16000),
    # README: 960x768 crops, batch 2 x 4 GPUs, 10k iterations, train+val, test split; optimiser not recorded.
    ("R", "camvid"): dict(optimizer=None, lr=None, warmup=None, iters=10000, per_device=2, gpus=4,
                          crop=(768, 960), scale=(768, 1536), train="train+val", val="test", interval=None),
    ("E", "camvid"): dict(optimizer=None, lr=None, warmup=None, iters=10000, per_device=2, gpus=4,
                          crop=(768, 960), scale=(768, 1536), train="train+val", val="test", interval=None),
}
TEST_SIZES = {"cityscapes": (1024, 2048), "camvid": (768, 960), "coco_stuff10k": (640, 640),
              "coco_stuff164k": (640, 640)}


@pytest.mark.parametrize("dataset", DATASET_NAMES)
@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_recipe_file_matches_the_original(variant, dataset):
    path = CONFIG_DIR / f"{variant}.{dataset}.yaml"
    recipe = load_recipe(path)
    family = "E" if variant == "dabnet_effb1" else "R"
    expected = ORIGINAL[(family, dataset)]
    assert (recipe.model, recipe.dataset) == (variant, dataset)
    assert recipe.batch.per_device_batch_size == expected["per_device"]
    assert recipe.batch.global_batch_size == expected["per_device"] * expected["gpus"]
    assert recipe.schedule.max_iters == expected["iters"]
    assert (recipe.schedule.power, recipe.schedule.min_lr) == (0.9, 1e-4)
    assert recipe.loss_weights == (1.0, 0.4, 0.4)
    assert (recipe.data.crop_size, recipe.data.scale) == (expected["crop"], expected["scale"])
    assert (recipe.data.ratio_range, recipe.data.cat_max_ratio, recipe.data.flip_prob) == ((0.5, 2.0), 0.75, 0.5)
    assert recipe.data.photometric and recipe.data.eval_size == TEST_SIZES[dataset]
    assert (recipe.data.train_split, recipe.data.val_split) == (expected["train"], expected["val"])
    assert recipe.sync_bn and not recipe.freeze_bn
    assert recipe.init == ("timm:efficientnet_b1.ft_in1k" if family == "E" else "open-mmlab://resnet18_v1c")
    if expected["interval"] is not None:
        assert recipe.eval_every == recipe.checkpoint_every == expected["interval"]
    optimizer = recipe.optimizer
    if expected["optimizer"] is None:  # not recorded: the file must say what it assumed
        assert any("not recorded" in note.lower() for note in recipe.notes)
        expected = ORIGINAL[(family, "cityscapes")]  # the documented choice
    assert (optimizer.name, optimizer.lr, recipe.schedule.warmup_iters) == (
        expected["optimizer"], expected["lr"], expected["warmup"])
    if optimizer.name == "sgd":
        assert (optimizer.momentum, optimizer.weight_decay, recipe.schedule.warmup_ratio) == (0.9, 5e-4, 0.1)
    else:
        assert (optimizer.betas, optimizer.eps, optimizer.weight_decay) == ((0.5, 0.999), 1e-8, 0.0)


def test_every_recipe_file_is_known_and_generated():
    names = {path.name for path in CONFIG_DIR.glob("*.yaml")}
    expected = {f"{v}.{d}.yaml" for v in VARIANT_NAMES for d in DATASET_NAMES} | {"demo.synthetic.yaml"}
    assert names == expected
    spec = importlib.util.spec_from_file_location("generate_configs", RECIPES_DIR / "generate_configs.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.main(["--check"]) == 0  # the files are what the table says


def test_demo_recipe_is_small_and_offline():
    recipe = load_recipe(CONFIG_DIR / "demo.synthetic.yaml")
    assert recipe.init is None  # nothing to download
    assert recipe.schedule.max_iters <= 400 and recipe.batch.global_batch_size <= 8
    assert max(recipe.data.crop_size) <= 256 and recipe.data.eval_size is not None
    assert "synthetic" in recipe.description.lower()


# --------------------------------------------------------------------------------------------------------------
# Backbone initialisation
# --------------------------------------------------------------------------------------------------------------


def _reference_resnet() -> dict[str, torch.Tensor]:
    """An ImageNet-style ResNet-18 v1c classifier (timm names, with its fc head), randomly initialised."""
    torch.manual_seed(1)
    reference = timm.create_model("resnet18", stem_type="deep", stem_width=32, num_classes=1000)
    with torch.no_grad():  # distinct BN statistics, so that buffers are checked too
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
    return reference.state_dict()


def _assert_backbone_equals(model, reference: dict[str, torch.Tensor]) -> None:
    backbone = model.dabnet.backbone.state_dict()
    for key, value in backbone.items():
        assert torch.equal(value, reference[key]), key


def test_load_backbone_weights_from_a_timm_file(tmp_path):
    reference = _reference_resnet()
    path = tmp_path / "resnet18_v1c_timm.pth"
    torch.save(reference, path)
    model = create_model("dabnet_r18_p1")
    head_before = model.decode_head.classifier.weight.clone()
    report = load_backbone_weights(model, path)
    _assert_backbone_equals(model, reference)
    assert torch.equal(model.decode_head.classifier.weight, head_before)  # only the context path changes
    assert report["format"] == "timm" and set(report["ignored"]) == {"fc.weight", "fc.bias"}


def test_load_backbone_weights_from_an_mmcv_resnet18_v1c_checkpoint(tmp_path):
    reference = _reference_resnet()
    # mmseg ResNetV1c names: stem.0/1 (conv, BN), stem.3/4, stem.6/7; layers as in torchvision
    # (docs/architecture.md §3.1).
    stem = {"conv1.0.": "stem.0.", "conv1.1.": "stem.1.", "conv1.3.": "stem.3.", "conv1.4.": "stem.4.",
            "conv1.6.": "stem.6.", "bn1.": "stem.7."}
    mmcv = {}
    for key, value in reference.items():
        prefix = next((p for p in stem if key.startswith(p)), None)
        mmcv[stem[prefix] + key[len(prefix):] if prefix else key] = value
    assert "stem.7.running_var" in mmcv and "conv1.0.weight" not in mmcv
    path = tmp_path / "resnet18_v1c-b5776b93.pth"
    torch.save({"state_dict": mmcv, "meta": {"mmcv_version": "1.4.0"}}, path)
    model = create_model("dabnet_r18_p8")
    report = load_backbone_weights(model, str(path))
    _assert_backbone_equals(model, reference)
    assert report["format"] == "mmcv ResNetV1c"


def test_load_backbone_weights_from_a_timm_efficientnet_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(2)
    reference = timm.create_model("efficientnet_b1").state_dict()
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in reference.items()}, path)
    model = create_model("dabnet_effb1")
    report = load_backbone_weights(model, path)
    _assert_backbone_equals(model, reference)
    assert {"conv_head.weight", "classifier.weight"} <= set(report["ignored"])


def test_weights_that_do_not_fit_are_refused(tmp_path):
    torch.manual_seed(3)
    path = tmp_path / "resnet18_plain.pth"
    torch.save(timm.create_model("resnet18").state_dict(), path)  # 7x7 single-conv stem
    with pytest.raises(CheckpointError, match="open-mmlab://resnet18_v1c"):
        load_backbone_weights(create_model("dabnet_r18_p2"), path)
    with pytest.raises(CheckpointError, match="neither a file"):
        load_backbone_weights(create_model("dabnet_r18_p2"), tmp_path / "missing.pth")


def test_no_weights_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch_hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    with pytest.raises(CheckpointError, match="offline.*--init"):
        load_backbone_weights(create_model("dabnet_r18_p2"), "open-mmlab://resnet18_v1c")

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 sets at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))  # nothing cached
    for tag in ("timm:efficientnet_b1.ft_in1k", "efficientnet_b1.ft_in1k"):
        with pytest.raises(CheckpointError, match=f"'{tag}'.*offline.*--init PATH"):
            load_backbone_weights(create_model("dabnet_effb1"), tag)


def test_openmmlab_download_checks_the_sha256_prefix_of_the_file_name(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch_hub"))
    calls = []

    def download(url, dst, hash_prefix=None, progress=True):  # what torch.hub does when the hash differs
        calls.append((url, Path(dst).name, hash_prefix))
        raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "0123abcd…")')

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    with pytest.raises(CheckpointError, match="resnet18_v1c-b5776b93.pth failed.*invalid hash.*--init"):
        load_backbone_weights(create_model("dabnet_r18_p2"), "open-mmlab://resnet18_v1c")
    assert calls == [(OPENMMLAB_URLS["resnet18_v1c"], "resnet18_v1c-b5776b93.pth", "b5776b93")]


# --------------------------------------------------------------------------------------------------------------
# Batch norm, results file
# --------------------------------------------------------------------------------------------------------------


def test_sync_batchnorm_only_for_multi_process_cuda_and_keeps_timm_activations():
    model = create_model("dabnet_effb1")
    unchanged, converted = convert_sync_batchnorm(model, "cpu", 4)
    assert unchanged is model and not converted
    assert convert_sync_batchnorm(model, "cuda", 1) == (model, False)
    keys = list(model.state_dict())
    activations = {name: type(m.act) for name, m in model.named_modules() if type(m).__name__ == "BatchNormAct2d"}
    assert any(act is not torch.nn.Identity for act in activations.values())
    synced, converted = convert_sync_batchnorm(model, "cuda", 2)  # conversion itself needs no GPU
    assert converted and list(synced.state_dict()) == keys
    kinds = {type(m).__name__ for m in synced.modules()}
    assert "BatchNorm2d" not in kinds and "BatchNormAct2d" not in kinds and "SyncBatchNorm" in kinds
    for name, act in activations.items():  # torch's converter would drop these fused activations
        converted_module = synced.get_submodule(name)
        assert type(converted_module).__name__ == "SyncBatchNormAct" and type(converted_module.act) is act


def test_freeze_batch_norm_keeps_running_statistics():
    model = create_model("dabnet_r18_p1").train()
    frozen = freeze_batch_norm(model)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert frozen == len(norms) > 0 and not any(m.training for m in norms)
    before = [m.running_mean.clone() for m in norms]
    model(pixel_values=torch.randn(2, 3, 32, 64), labels=torch.zeros(2, 32, 64, dtype=torch.long)).loss.backward()
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, norms))
    assert model.decode_head.classifier.weight.grad is not None  # still training


def test_training_results_are_validated_before_they_are_written(tmp_path):
    record = training_record()
    path = write_training_results(tmp_path / "training.json", record)
    assert json.loads(path.read_text()) == {key: record[key] for key in TRAINING_KEYS}
    for change, message in [({"extra": 1}, r"unknown keys \['extra'\]"), ({"schema": "other"}, "schema"),
                            ({"wall_time_s": math.nan}, "wall_time_s"), ({"loss_weights": [1.0]}, "loss_weights")]:
        with pytest.raises(ResultsError, match=message):
            write_training_results(tmp_path / "bad.json", {**record, **change})
    assert not (tmp_path / "bad.json").exists()


def test_recipes_readme_has_a_command_for_every_recipe():
    readme = (RECIPES_DIR / "README.md").read_text()
    for path in CONFIG_DIR.glob("*.yaml"):
        assert f"--config recipes/configs/{path.name}" in readme, path.name
    assert "ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2" in readme  # the CPU command that runs 2 processes
