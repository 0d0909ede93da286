"""Training checkpoints: an exact continuation, nothing unpickled, damage detected and skipped, full disks.

A small conv/BN/dropout network stands in for DABNet (the checkpoint code is model-agnostic; the end-to-end
kill tests in tests/recipes/test_train.py use DABNet). The reference for "exact" is the same run continued
without a checkpoint.
"""

from __future__ import annotations

import errno
import json
import logging
import pickle
import random
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from dabnet_zoo.errors import CheckpointError, NoSpaceError, RecipeError
from dabnet_zoo.training import (
    CheckpointManager,
    OptimizerConfig,
    ScheduleConfig,
    TrainingState,
    create_optimizer,
    create_scheduler,
    restore_checkpoint,
)
from dabnet_zoo.training import checkpoints as checkpoints_module

INFO = {"recipe": {"model": "tiny"}, "batch": {"global": 4}, "world_size": 1}


def accelerator(num_processes: int = 1, process_index: int = 0, scaler=None) -> SimpleNamespace:
    """What the checkpoint code uses of accelerate's Accelerator (one process; fp16 runs have a gradient scaler)."""
    return SimpleNamespace(is_main_process=process_index == 0, num_processes=num_processes,
                           process_index=process_index, unwrap_model=lambda model: model, scaler=scaler,
                           wait_for_everyone=lambda: None)


def parts(optimizer_name: str = "sgd", seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Conv2d(4, 2, 1))
    config = OptimizerConfig(name=optimizer_name, lr=0.1 if optimizer_name == "sgd" else 1e-3, momentum=0.9,
                             weight_decay=1e-4)
    optimizer = create_optimizer(model, config)
    scheduler = create_scheduler(optimizer, ScheduleConfig(max_iters=10, warmup_iters=3, min_lr=1e-4))
    return model, optimizer, scheduler


def step(model, optimizer, scheduler, state) -> None:
    """One iteration that uses every generator: torch (data, dropout), NumPy and Python."""
    images = torch.randn(2, 3, 8, 8) + float(np.random.rand()) + random.random()
    loss = model(images).square().mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    scheduler.step()
    state.step += 1


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def save(manager, model, optimizer, scheduler, state) -> Path:
    return manager.save(accelerator(), state.step, model=model, optimizer=optimizer, scheduler=scheduler,
                        state=state, info=INFO)


def trained_run(tmp_path: Path, steps: int = 2, optimizer_name: str = "sgd"):
    model, optimizer, scheduler = parts(optimizer_name)
    state = TrainingState()
    model.train()
    seed_everything(1)
    manager = CheckpointManager(tmp_path / "checkpoints")
    for _ in range(steps):
        step(model, optimizer, scheduler, state)
        save(manager, model, optimizer, scheduler, state)
    return manager, (model, optimizer, scheduler, state)


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_a_restored_run_continues_bit_for_bit(tmp_path, optimizer_name):
    manager, (model, optimizer, scheduler, state) = trained_run(tmp_path, 2, optimizer_name)
    state.evaluations.append({"iteration": 2, "mean_iou": 0.5})
    save(manager, model, optimizer, scheduler, state)
    for _ in range(3):  # the uninterrupted run
        step(model, optimizer, scheduler, state)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    expected_draws = (torch.rand(3), np.random.rand(3), random.random())

    seed_everything(123)  # a new process: other initial weights, other generator states
    fresh, fresh_optimizer, fresh_scheduler = parts(optimizer_name, seed=7)
    fresh.train()
    fresh_state = TrainingState()
    checkpoint = CheckpointManager.resolve(tmp_path)  # the run folder: its newest checkpoint
    assert checkpoint.step == 2
    assert restore_checkpoint(checkpoint, accelerator(), model=fresh, optimizer=fresh_optimizer,
                              scheduler=fresh_scheduler, state=fresh_state)
    assert fresh_state.step == 2 and fresh_state.evaluations == [{"iteration": 2, "mean_iou": 0.5}]
    for _ in range(3):
        step(fresh, fresh_optimizer, fresh_scheduler, fresh_state)
    got = fresh.state_dict()
    assert all(torch.equal(got[k], expected[k]) for k in expected)  # BN statistics and counters included
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    draws = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(draws[0], expected_draws[0]) and np.array_equal(draws[1], expected_draws[1])
    assert draws[2] == expected_draws[2]


def test_the_gradient_scaler_of_fp16_runs_is_restored(tmp_path):
    model, optimizer, scheduler = parts()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12, growth_interval=3)
    for _ in range(4):  # one growth of the scale and a growth tracker at 1
        scaler.scale(model(torch.randn(2, 3, 8, 8)).square().mean()).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
    state = TrainingState()
    CheckpointManager(tmp_path / "checkpoints").save(accelerator(scaler=scaler), 4, model=model, optimizer=optimizer,
                                                     scheduler=scheduler, state=state, info=INFO)
    fresh = torch.amp.GradScaler("cpu")
    restore_checkpoint(CheckpointManager.resolve(tmp_path), accelerator(scaler=fresh), model=model,
                       optimizer=optimizer, scheduler=scheduler, state=state)
    assert fresh.state_dict() == scaler.state_dict() and fresh.get_scale() == 2.0**13


def test_checkpoints_hold_only_json_and_safetensors(tmp_path):
    manager, (model, *_) = trained_run(tmp_path, 1)
    folder = manager.latest()
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "optimizer.safetensors", "resume.json"]
    resume = json.loads((folder / "resume.json").read_text())
    assert resume["format"] == "dabnet-zoo/checkpoint/v1" and resume["step"] == 1
    model_tensors = load_file(folder / "model.safetensors")
    assert model_tensors.keys() == model.state_dict().keys()
    # SGD's momentum buffers, one per parameter, are data in the tensor file.
    assert len([k for k in load_file(folder / "optimizer.safetensors") if "momentum_buffer" in k]) == \
        len(list(model.parameters()))


class Hostile:
    """Unpickling this creates a marker file: proof that code from a checkpoint ran."""

    marker: Path

    def __reduce__(self):
        return Path.touch, (self.marker,)


def plant_hostile_pickles(folder: Path, marker: Path) -> None:
    Hostile.marker = marker
    for name in ("custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "random_states_0.pkl", "scheduler.bin"):
        (folder / name).write_bytes(pickle.dumps(Hostile()))


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything unpickles or torch.loads while it runs."""

    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint was unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def test_a_checkpoint_with_hostile_pickles_never_runs_them(tmp_path):
    manager, (model, optimizer, scheduler, state) = trained_run(tmp_path, 1)
    marker = tmp_path / "code-ran"
    plant_hostile_pickles(manager.latest(), marker)
    # An accelerate save_state folder as the previous version wrote it: pickles and a resume.json.
    foreign = tmp_path / "foreign" / "checkpoint_5"
    foreign.mkdir(parents=True)
    plant_hostile_pickles(foreign, marker)
    (foreign / "model.safetensors").write_bytes(pickle.dumps(Hostile()))
    (foreign / "resume.json").write_text(json.dumps({"step": 5, "recipe": {}}))
    assert pickle.loads(pickle.dumps(Hostile())) is None and marker.exists()  # the pickles really are hostile
    marker.unlink()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
        patch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
        patch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load"))
        checkpoint = CheckpointManager.resolve(manager.latest())
        restore_checkpoint(checkpoint, accelerator(), model=model, optimizer=optimizer, scheduler=scheduler,
                           state=state)
        with pytest.raises(CheckpointError, match="not a dabnet-zoo/checkpoint/v1 checkpoint.*never loads"):
            CheckpointManager.resolve(foreign)
        with pytest.raises(CheckpointError, match="every one is damaged"):
            CheckpointManager.resolve(foreign.parent)
    assert not marker.exists()


def test_a_crafted_pickle_in_place_of_the_weights_is_refused(tmp_path, no_unpickling):
    manager, _ = trained_run(tmp_path, 1)
    folder = manager.latest()
    marker = tmp_path / "code-ran"
    Hostile.marker = marker
    (folder / "model.safetensors").write_bytes(pickle.dumps(Hostile()))
    resume = json.loads((folder / "resume.json").read_text())  # its sha256 recorded, as an attacker would
    resume["files"]["model.safetensors"] = {"bytes": (folder / "model.safetensors").stat().st_size,
                                            "sha256": checkpoints_module.sha256_of(folder / "model.safetensors")}
    (folder / "resume.json").write_text(json.dumps(resume))
    with pytest.raises(CheckpointError, match="is damaged"):
        CheckpointManager.resolve(folder)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["flipped byte", "truncated tensors", "missing file", "cut resume.json"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog, damage):
    manager, _ = trained_run(tmp_path, 2)
    latest = manager.path(2)
    if damage == "flipped byte":
        data = bytearray((latest / "optimizer.safetensors").read_bytes())
        data[-1] ^= 0xFF
        (latest / "optimizer.safetensors").write_bytes(bytes(data))
    elif damage == "truncated tensors":
        data = (latest / "model.safetensors").read_bytes()
        (latest / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "missing file":
        (latest / "model.safetensors").unlink()
    else:
        text = (latest / "resume.json").read_text()
        (latest / "resume.json").write_text(text[: len(text) // 2])

    with caplog.at_level(logging.WARNING):
        checkpoint = CheckpointManager.resolve(tmp_path)
    assert checkpoint.step == 1 and checkpoint.path == manager.path(1)
    assert "Skipping checkpoint checkpoint_2" in caplog.text
    with pytest.raises(CheckpointError, match="checkpoint_2"):  # named explicitly: no silent substitute
        CheckpointManager.resolve(latest)


def test_no_checkpoint_at_all_is_one_clear_error(tmp_path):
    (tmp_path / "checkpoints" / "checkpoint_3").mkdir(parents=True)  # incomplete: no resume.json
    with pytest.raises(RecipeError, match="No complete checkpoint"):
        CheckpointManager.resolve(tmp_path)


def test_keep_the_last_k_checkpoints(tmp_path):
    manager, (model, optimizer, scheduler, state) = trained_run(tmp_path, 1)
    manager.keep = 2
    for _ in range(3):
        step(model, optimizer, scheduler, state)
        save(manager, model, optimizer, scheduler, state)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["checkpoint_3", "checkpoint_4"]


def test_another_number_of_processes_does_not_restore_the_generators(tmp_path):
    manager, (model, optimizer, scheduler, state) = trained_run(tmp_path, 1)
    checkpoint = CheckpointManager.resolve(tmp_path)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    assert not restore_checkpoint(checkpoint, accelerator(num_processes=2), model=model, optimizer=optimizer,
                                  scheduler=scheduler, state=state)
    assert torch.equal(torch.get_rng_state(), before) and state.step == 1


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    manager, (model, optimizer, scheduler, state) = trained_run(tmp_path, 1)
    before = sorted(p.name for p in manager.directory.iterdir())

    # Too little free space: refused before anything is written.
    monkeypatch.setattr(checkpoints_module.shutil, "disk_usage",
                        lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(NoSpaceError) as caught:
        save(manager, model, optimizer, scheduler, state)
    message = str(caught.value)
    assert message.startswith("no space left on ") and "\n" not in message
    assert "checkpoint_1 (needs about 2 MB)" in message  # a few KB of tensors + 1 MB for the JSON and the file system
    assert sorted(p.name for p in manager.directory.iterdir()) == before
    monkeypatch.undo()

    # The disk fills up while the tensors are written (ENOSPC from the writer): the stage is removed.
    original = checkpoints_module.save_file

    def fill_the_disk(tensors, path, metadata=None):
        original(tensors, path, metadata=metadata)
        if Path(path).name == "optimizer.safetensors":
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints_module, "save_file", fill_the_disk)
    state.step = 7
    with pytest.raises(NoSpaceError, match=r"^no space left on .*checkpoint_7 \(needs about \d+ MB\)"):
        save(manager, model, optimizer, scheduler, state)
    assert sorted(p.name for p in manager.directory.iterdir()) == before  # no stage, no checkpoint_7
