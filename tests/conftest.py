"""Shared test set-up: offline Hub, a fixed thread count, and original-format checkpoints from the fixtures."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network

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
