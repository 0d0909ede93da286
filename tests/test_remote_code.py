"""Remote code: every save path writes a folder that transformers loads with trust_remote_code=True where
dabnet-zoo is not installed, bit for bit, and with the original's initialisation for re-sized classifiers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import transformers.utils.hub

import dabnet_zoo
from dabnet_zoo import DabnetConfig, InputError, create_model, create_processor
from dabnet_zoo.remote_code import CONFIG_AUTO_MAP, PROCESSOR_AUTO_MAP, REMOTE_CODE_FILES, add_remote_code

PACKAGE = Path(dabnet_zoo.__file__).parent

# Runs in an isolated interpreter (python -I: no PYTHONPATH, no user site, not the current folder) from another
# folder, where any import of dabnet_zoo raises ImportError: only the folder's own modules can be used.
LOAD_WITHOUT_PACKAGE = """
import sys
sys.modules["dabnet_zoo"] = None
import numpy as np, torch
from transformers import AutoImageProcessor, AutoModel, AutoModelForSemanticSegmentation

torch.set_num_threads(2)
folder, image_path, out = sys.argv[1:4]
model = AutoModelForSemanticSegmentation.from_pretrained(folder, trust_remote_code=True).eval()
processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
image = np.load(image_path)
inputs = processor(image, return_tensors="pt")
with torch.no_grad():
    outputs = model(pixel_values=inputs["pixel_values"])
label_map = processor.post_process_semantic_segmentation(outputs, target_sizes=[image.shape[:2]])[0]
headless = AutoModel.from_pretrained(folder, trust_remote_code=True)
resized = AutoModelForSemanticSegmentation.from_pretrained(
    folder, trust_remote_code=True, num_labels=5, ignore_mismatched_sizes=True)
for name, obj in (("model", model), ("processor", processor), ("headless", headless), ("resized", resized)):
    assert type(obj).__module__.startswith("transformers_modules."), (name, type(obj).__module__)
assert not any(name.startswith("dabnet_zoo.") for name in sys.modules)
classifiers = {name: tensor for name, tensor in resized.state_dict().items() if ".classifier." in name}
torch.save({"logits": outputs.logits, "label_map": label_map, "classifiers": classifiers}, out)
"""


def _auto_map(path: Path) -> dict:
    return json.loads(path.read_text())["auto_map"]


def _assert_carries_remote_code(folder: Path, processor: bool = True) -> None:
    for name in REMOTE_CODE_FILES if processor else REMOTE_CODE_FILES[:2]:
        assert (folder / name).read_bytes() == (PACKAGE / name).read_bytes(), name
    assert _auto_map(folder / "config.json") == CONFIG_AUTO_MAP
    if processor:
        assert _auto_map(folder / "preprocessor_config.json") == PROCESSOR_AUTO_MAP


@pytest.fixture(scope="module")
def model_and_processor():
    torch.manual_seed(0)
    # A small test size keeps the forward passes cheap; the processor's settings travel with the folder.
    return create_model("dabnet_effb1.camvid").eval(), create_processor("camvid", size={"height": 64, "width": 96})


@pytest.fixture
def pushed(model_and_processor, tmp_path, monkeypatch):
    """What model.push_to_hub and processor.push_to_hub upload, collected in a folder (no network)."""
    hub = tmp_path / "hub"
    hub.mkdir()

    def create_commit(repo_id, operations, **kwargs):
        for operation in operations:
            shutil.copyfile(operation.path_or_fileobj, hub / operation.path_in_repo)

    fake = SimpleNamespace(create_repo=lambda repo_id, **kwargs: SimpleNamespace(repo_id=repo_id),
                           create_commit=create_commit)
    monkeypatch.setattr(transformers.utils.hub, "hf_api", lambda: fake)
    model, processor = model_and_processor
    model.push_to_hub("me/dabnet-test")
    processor.push_to_hub("me/dabnet-test")
    return hub


def test_save_pretrained_of_model_config_and_processor_write_the_code(model_and_processor, tmp_path):
    model, processor = model_and_processor
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    _assert_carries_remote_code(tmp_path / "model")
    DabnetConfig().save_pretrained(tmp_path / "config")
    assert (tmp_path / "config" / "configuration_dabnet.py").is_file()
    assert _auto_map(tmp_path / "config" / "config.json") == {"AutoConfig": CONFIG_AUTO_MAP["AutoConfig"]}


def test_add_remote_code_writes_what_save_pretrained_writes_and_keeps_the_weights(model_and_processor, tmp_path):
    model, processor = model_and_processor
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    for name in REMOTE_CODE_FILES:  # a folder saved without the code (an older dabnet-zoo)
        (folder / name).unlink()
    for name in ("config.json", "preprocessor_config.json"):
        data = json.loads((folder / name).read_text())
        del data["auto_map"]
        (folder / name).write_text(json.dumps(data))
    weights = (folder / "model.safetensors").read_bytes()

    written = add_remote_code(folder)

    assert sorted(p.name for p in written) == sorted(["config.json", "preprocessor_config.json", *REMOTE_CODE_FILES])
    assert (folder / "model.safetensors").read_bytes() == weights
    _assert_carries_remote_code(folder)


def test_a_pushed_repo_loads_with_trust_remote_code_without_dabnet_zoo(model_and_processor, pushed, tmp_path):
    model, processor = model_and_processor
    assert {"model.safetensors", "config.json", "preprocessor_config.json", *REMOTE_CODE_FILES} <= {
        p.name for p in pushed.iterdir()}
    image = np.random.default_rng(0).integers(0, 256, (90, 130, 3), dtype=np.uint8)
    np.save(tmp_path / "image.npy", image)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), OMP_NUM_THREADS="2")
    result = subprocess.run(
        [sys.executable, "-I", "-c", LOAD_WITHOUT_PACKAGE, str(pushed), str(tmp_path / "image.npy"),
         str(tmp_path / "out.pt")],
        capture_output=True, text=True, env=env, cwd=elsewhere, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = torch.load(tmp_path / "out.pt")

    inputs = processor(image, return_tensors="pt")
    with torch.no_grad():
        outputs = model(pixel_values=inputs["pixel_values"])
    assert torch.equal(remote["logits"], outputs.logits)  # the same code on the same weights: bit for bit
    expected = processor.post_process_semantic_segmentation(outputs, target_sizes=[image.shape[:2]])[0]
    assert torch.equal(remote["label_map"], expected)
    # The remote code's from_pretrained initialises re-sized classifiers as the original: N(0, 0.01), bias 0.
    for name, tensor in remote["classifiers"].items():
        assert tensor.shape[0] == 5 and torch.isfinite(tensor).all(), name
        if name.endswith("bias"):
            assert torch.equal(tensor, torch.zeros(5)), name
        else:
            assert abs(tensor.std().item() - 0.01) < 0.002, name


def test_add_remote_code_refuses_folders_that_are_not_dabnet(tmp_path):
    with pytest.raises(InputError, match="no config.json"):
        add_remote_code(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "segformer"}')
    with pytest.raises(InputError, match="not a DABNet config"):
        add_remote_code(tmp_path)
