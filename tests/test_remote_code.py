"""Remote code: saved folders that transformers loads with trust_remote_code=True without dabnet-zoo installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dabnet_zoo
from dabnet_zoo import InputError, create_model, create_processor
from dabnet_zoo.remote_code import (
    CONFIG_AUTO_MAP,
    PROCESSOR_AUTO_MAP,
    REMOTE_CODE_FILES,
    add_remote_code,
    save_pretrained_with_remote_code,
)

PACKAGE = Path(dabnet_zoo.__file__).parent

# Runs in a fresh interpreter where importing dabnet_zoo fails, so only the folder's own modules can be used.
LOAD_WITHOUT_PACKAGE = """
import sys
sys.modules["dabnet_zoo"] = None  # any import of the package raises ImportError
import numpy as np, torch
from transformers import AutoImageProcessor, AutoModel, AutoModelForSemanticSegmentation

folder = sys.argv[1]
model = AutoModelForSemanticSegmentation.from_pretrained(folder, trust_remote_code=True).eval()
processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
image = np.load(sys.argv[2])
inputs = processor(image, return_tensors="pt")
with torch.no_grad():
    outputs = model(pixel_values=inputs["pixel_values"])
label_map = processor.post_process_semantic_segmentation(outputs, target_sizes=[image.shape[:2]])[0]
headless = AutoModel.from_pretrained(folder, trust_remote_code=True)
assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
assert type(processor).__module__.startswith("transformers_modules."), type(processor).__module__
assert type(headless).__name__ == "DabnetModel"
torch.save({"logits": outputs.logits, "label_map": label_map}, sys.argv[3])
"""


def _auto_map(path: Path) -> dict:
    return json.loads(path.read_text())["auto_map"]


def test_scoped_registration_writes_the_code_and_is_undone(tmp_path):
    model, processor = create_model("dabnet_effb1.camvid"), create_processor("camvid")
    save_pretrained_with_remote_code(tmp_path / "with", model, processor)
    for name in REMOTE_CODE_FILES:
        assert (tmp_path / "with" / name).read_bytes() == (PACKAGE / name).read_bytes()
    transformers_map = _auto_map(tmp_path / "with" / "config.json")
    assert transformers_map.items() <= CONFIG_AUTO_MAP.items()  # ours writes the same entries (and AutoModel)
    assert _auto_map(tmp_path / "with" / "preprocessor_config.json") == PROCESSOR_AUTO_MAP
    model.save_pretrained(tmp_path / "without")  # afterwards: plain folders again, as the converter writes
    processor.save_pretrained(tmp_path / "without")
    assert sorted(p.name for p in (tmp_path / "without").iterdir()) == [
        "config.json", "model.safetensors", "preprocessor_config.json"]
    for name in ("config.json", "preprocessor_config.json"):
        assert "auto_map" not in json.loads((tmp_path / "without" / name).read_text())


def test_trust_remote_code_loads_a_folder_without_dabnet_zoo(tmp_path):
    folder = tmp_path / "model"
    torch.manual_seed(0)
    # A small test size keeps the two forward passes cheap; the processor's settings travel with the folder.
    model = create_model("dabnet_effb1.camvid").eval()
    processor = create_processor("camvid", size={"height": 64, "width": 96})
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    weights = (folder / "model.safetensors").read_bytes()
    written = add_remote_code(folder)
    assert sorted(p.name for p in written) == sorted(["config.json", "preprocessor_config.json", *REMOTE_CODE_FILES])
    assert (folder / "model.safetensors").read_bytes() == weights  # the weights are not re-saved
    assert _auto_map(folder / "config.json") == CONFIG_AUTO_MAP

    image = np.random.default_rng(0).integers(0, 256, (90, 130, 3), dtype=np.uint8)
    np.save(tmp_path / "image.npy", image)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"), "OMP_NUM_THREADS": "2"}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_PACKAGE, str(folder), str(tmp_path / "image.npy"),
         str(tmp_path / "out.pt")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = torch.load(tmp_path / "out.pt")
    inputs = processor(image, return_tensors="pt")
    with torch.no_grad():
        outputs = model(pixel_values=inputs["pixel_values"])
    torch.testing.assert_close(remote["logits"], outputs.logits)
    expected = processor.post_process_semantic_segmentation(outputs, target_sizes=[image.shape[:2]])[0]
    assert torch.equal(remote["label_map"], expected)


def test_add_remote_code_refuses_folders_that_are_not_dabnet(tmp_path):
    with pytest.raises(InputError, match="no config.json"):
        add_remote_code(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "segformer"}')
    with pytest.raises(InputError, match="not a DABNet config"):
        add_remote_code(tmp_path)
