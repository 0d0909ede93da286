"""create_model / create_config / load_model: every variant x dataset, overrides and errors."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from dabnet_zoo import (
    CheckpointError,
    DabnetForSemanticSegmentation,
    DabnetZooError,
    InputError,
    UnknownModelError,
    WeightsDownloadError,
    create_config,
    create_model,
    list_models,
    load_model,
    zoo,
)
from dabnet_zoo.presets import DATASETS


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("name", list_models())
def test_every_variant_combines_with_every_dataset(name, dataset):
    config = create_config(name, dataset=dataset)
    preset = DATASETS[dataset]
    assert config.num_labels == preset.num_labels
    assert [config.id2label[i] for i in range(config.num_labels)] == list(preset.class_names)
    assert config.label2id[preset.class_names[-1]] == preset.num_labels - 1


def test_create_model_builds_the_named_architecture():
    model = create_model("dabnet_r18_p8", dataset="camvid")
    assert (model.config.context_path, model.config.patch_size, model.config.num_labels) == ("resnet18_v1c", 8, 11)
    assert model.decode_head.classifier.out_channels == 11
    assert create_model("dabnet_effb1.coco_stuff10k").config.num_labels == 171


def test_overrides_reach_the_config():
    model = create_model("dabnet_r18_p1", num_labels=5)
    assert model.config.num_labels == 5 and model.decode_head.classifier.out_channels == 5


def test_pretrained_weights_say_how_to_convert():
    with pytest.raises(DabnetZooError, match="dabnet-zoo convert ORIGINAL.pth OUT_DIR --variant dabnet_r18_p2"):
        create_model("dabnet_r18_p2", pretrained=True)


def test_load_model_from_name_folder_and_unknown(tmp_path):
    model = create_model("dabnet_effb1", dataset="camvid")
    model.save_pretrained(tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.config.num_labels == 11 and not loaded.training
    assert load_model("dabnet_r18_p1.camvid").config.num_labels == 11
    with pytest.raises(UnknownModelError, match="Hub repo id"):
        load_model("dabnet_r18_p3")


@pytest.fixture(scope="module")
def saved_p1(tmp_path_factory):
    """A complete save_pretrained folder of a small model (3 classes) and its state dict."""
    folder = tmp_path_factory.mktemp("p1")
    model = create_model("dabnet_r18_p1", num_labels=3)
    model.save_pretrained(folder)
    return folder, {key: value.clone() for key, value in model.state_dict().items()}


def copy_with(folder, target, state_dict):
    """``folder``'s config beside other weights."""
    target.mkdir()
    shutil.copy(folder / "config.json", target / "config.json")
    save_file({key: value.contiguous() for key, value in state_dict.items()}, target / "model.safetensors",
              metadata={"format": "pt"})
    return target


def test_load_model_refuses_missing_tensors_naming_them(tmp_path, saved_p1):
    folder, state_dict = saved_p1
    loaded = load_model(folder)
    assert all(torch.equal(loaded.state_dict()[key], value) for key, value in state_dict.items())
    partial = copy_with(folder, tmp_path / "partial",
                        {k: v for k, v in state_dict.items() if not k.startswith("decode_head.")})
    with pytest.raises(CheckpointError) as error:
        load_model(partial)
    message = str(error.value)
    assert "lacks 8 tensor(s) the model needs: decode_head.classifier.bias, decode_head.classifier.weight" in message
    assert "\n" not in message
    # from_pretrained itself still loads partial weights (to fine-tune from them)
    DabnetForSemanticSegmentation.from_pretrained(partial)


def test_load_model_refuses_mis_shaped_tensors(tmp_path, saved_p1):
    folder, state_dict = saved_p1
    grown = dict(state_dict, **{"decode_head.classifier.bias": torch.zeros(4)})
    with pytest.raises(CheckpointError, match=r"1 tensor\(s\) of the wrong shape.*decode_head.classifier.bias "
                                              r"\(4,\) vs \(3,\)"):
        load_model(copy_with(folder, tmp_path / "grown", grown))


def test_load_model_errors_are_one_line(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsDownloadError) as error:
        load_model("someone/dabnet-not-cached")
    assert "Cannot load someone/dabnet-not-cached from the Hub" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(InputError, match="^no such folder: converted/nothere"):
        (tmp_path / "converted").mkdir()
        load_model("converted/nothere")
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "model.pth").write_bytes(b"not loaded")
    with pytest.raises(CheckpointError, match="has no config.json and model.safetensors. It holds model.pth"):
        load_model(tmp_path / "pickled")
    (tmp_path / "damaged").mkdir()
    shutil.copy(Path(__file__).parent.parent / "pyproject.toml", tmp_path / "damaged" / "model.safetensors")
    (tmp_path / "damaged" / "config.json").write_text('{"model_type": "dabnet"}')
    with pytest.raises(CheckpointError, match="are damaged"):
        load_model(tmp_path / "damaged")


def test_random_weights_are_noted_once_per_process(monkeypatch, caplog):
    monkeypatch.setattr(zoo, "_random_weights_noted", False)
    with caplog.at_level(logging.WARNING, logger="dabnet_zoo.zoo"):
        load_model("dabnet_r18_p1")
        load_model("dabnet_effb1.camvid")
    notes = [record for record in caplog.records if "random weights" in record.getMessage()]
    assert len(notes) == 1 and notes[0].getMessage().startswith("dabnet_r18_p1.cityscapes")
