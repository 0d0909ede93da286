"""Shared test set-up: offline Hub, a fixed thread count, and original-format checkpoints from the fixtures."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test reaches the Hub (only test_transformers_common fetches from PyPI)

import pytest
import torch

PARITY_DIR = Path(__file__).parent / "fixtures" / "parity"
# Fixture name of the original's golden outputs for each zoo variant (Cityscapes, 19 classes).
PARITY_FIXTURES = {
    "dabnet_r18_p1": "r18_p1_cityscapes",
    "dabnet_r18_p2": "r18_p2_cityscapes",
    "dabnet_r18_p4": "r18_p4_cityscapes",
    "dabnet_r18_p8": "r18_p8_cityscapes",
    "dabnet_r18_p16": "r18_p16_cityscapes",
    "dabnet_effb1": "effb1_cityscapes",
}

torch.set_num_threads(min(2, os.cpu_count() or 1))


def original_state_dict(variant: str) -> dict[str, torch.Tensor]:
    """The original implementation's state dict for ``variant`` (original key names), from the weight rule."""
    sys.path.insert(0, str(PARITY_DIR))
    try:
        from weights_rule import make_state_dict_from_keys_json
    finally:
        sys.path.remove(str(PARITY_DIR))
    arrays = make_state_dict_from_keys_json(PARITY_DIR / f"{PARITY_FIXTURES[variant]}.keys.json")
    return {key: torch.from_numpy(array) for key, array in arrays.items()}


def parity_metadata(variant: str) -> dict:
    return json.loads((PARITY_DIR / f"{PARITY_FIXTURES[variant]}.keys.json").read_text())


@pytest.fixture
def original_checkpoint(tmp_path):
    """Write an mmcv-style checkpoint of the original for a variant; returns its path."""

    def write(variant: str = "dabnet_effb1", name: str = "original.pth", changes: dict | None = None) -> Path:
        """``changes`` maps original keys to a replacement tensor, or to None to drop the key."""
        state_dict = original_state_dict(variant)
        for key, value in (changes or {}).items():
            if value is None:
                state_dict.pop(key)
            else:
                state_dict[key] = value
        path = tmp_path / name
        torch.save({"meta": {"mmseg_version": "0.19.0", "iter": 80000}, "state_dict": state_dict}, path)
        return path

    return write


def training_record(**changes) -> dict:
    """A ``training.json`` record as recipes/train.py writes it for the README demo (values made up)."""
    record = {
        "schema": "dabnet-zoo/training/v1", "model": "dabnet_r18_p2.cityscapes", "variant": "dabnet_r18_p2",
        "dataset": "cityscapes", "recipe": "recipes/configs/demo.synthetic.yaml",
        "description": "README demo on synthetic Cityscapes-layout scenes (not Cityscapes).",
        "original_config": None, "init": None, "iterations": 200, "max_iters": 200,
        "batch": {"per_device": 2, "num_processes": 2, "accumulation": 2, "global": 8},
        "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.0},
        "lr_schedule": {"policy": "poly", "base_lr": 0.001, "power": 0.9, "min_lr": 0.0001, "warmup": None,
                        "warmup_iters": 0, "warmup_ratio": 0.1, "by": "iteration"},
        "loss_weights": [1.0, 0.4, 0.4], "mixed_precision": "no", "sync_bn": False, "freeze_bn": False, "seed": 0,
        "wall_time_s": 231.4,
        "hardware": {"device": "cpu", "name": "CPU: x86_64 (2 logical cores)", "num_processes": 2,
                     "num_machines": 1},
        "software": {"python": "3.11.7", "torch": "2.14.1"},
        "evaluations": [{"iteration": 0, "mean_iou": 0.0412, "mean_accuracy": 0.1, "overall_accuracy": 0.2},
                        {"iteration": 100, "mean_iou": 0.5555, "mean_accuracy": 0.6, "overall_accuracy": 0.8},
                        {"iteration": 200, "mean_iou": 0.8123, "mean_accuracy": 0.87, "overall_accuracy": 0.93}],
        "final_eval": {"split": "val", "mode": "whole", "num_images": 50, "eval_size": [128, 256],
                       "mean_iou": 0.8123, "mean_accuracy": 0.87, "overall_accuracy": 0.93,
                       "per_category_iou": {"road": 0.97531, "sidewalk": 0.81, "building": 0.66666, "train": None}},
        "resumed_from": [], "outputs": {"final": "final", "config": "config.yaml", "checkpoints": "checkpoints",
                                        "logs": "logs"},
        "command": "accelerate launch --cpu recipes/train.py --config recipes/configs/demo.synthetic.yaml "
                   "--data-root data/synthetic --output-dir runs/demo",
        "date": "2026-11-24T10:00:00+00:00",
    }
    record.update(changes)
    return record


def run_until_killed(script: str, cwd: Path, timeout: float = 120) -> None:
    """Run a Python ``script`` in a child process and SIGKILL it once it prints 'ready' (it then sleeps mid-write).

    A kill is the one fault that no ``except`` or ``finally`` sees: what it leaves is what a user's ``kill -9``,
    OOM killer or power cut leaves.
    """
    import signal
    import subprocess
    import textwrap

    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=cwd, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        assert child.stdout.readline().strip() == "ready", "the child failed before reaching its write"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=timeout)
    assert child.returncode == -signal.SIGKILL
