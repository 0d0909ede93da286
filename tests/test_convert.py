"""The checkpoint converter: key mapping, safe loading, clear errors, atomic output."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import original_state_dict
from transformers import AutoImageProcessor

from dabnet_zoo import CheckpointError, DabnetForSemanticSegmentation, DabnetImageProcessor, OutputExistsError
from dabnet_zoo.convert import (
    convert_checkpoint,
    convert_state_dict,
    identify_checkpoint,
    load_original_checkpoint,
    rename_original_key,
)

@pytest.mark.parametrize("variant", ["dabnet_r18_p2", "dabnet_effb1"])
def test_every_original_key_maps_onto_a_distinct_model_key(variant):
    original = original_state_dict(variant)
    model = convert_state_dict(original, variant, "cityscapes")
    renamed = {rename_original_key(k): k for k in original}
    assert set(renamed) == set(model.state_dict())
    for new_key, old_key in renamed.items():
        assert torch.equal(model.state_dict()[new_key], original[old_key]), old_key

def test_resnet_stem_maps_onto_timm_deep_stem():
    assert rename_original_key("backbone.backbone.stem.6.weight") == "dabnet.backbone.conv1.6.weight"
    assert rename_original_key("backbone.backbone.stem.7.running_var") == "dabnet.backbone.bn1.running_var"
    assert rename_original_key("neck.something") is None

@pytest.mark.parametrize("variant", ["dabnet_r18_p1", "dabnet_r18_p16", "dabnet_effb1"])
def test_identify_checkpoint_reads_variant_and_class_count(variant):
    assert identify_checkpoint(original_state_dict(variant)) == (variant, 19)

def test_convert_checkpoint_writes_a_loadable_folder(original_checkpoint, tmp_path):
    checkpoint = original_checkpoint("dabnet_effb1")
    out = convert_checkpoint(checkpoint, tmp_path / "out", "dabnet_effb1", "cityscapes")
    assert {p.name for p in out.iterdir()} == {
        "config.json", "model.safetensors", "preprocessor_config.json", "conversion.json",
    }
    model = DabnetForSemanticSegmentation.from_pretrained(out)
    processor = AutoImageProcessor.from_pretrained(out)
    assert isinstance(processor, DabnetImageProcessor) and processor.input_size(1024, 2048) == (1024, 2048)
    assert model.config.id2label[0] == "road" and model.config.num_labels == 19
    reference = convert_state_dict(original_state_dict("dabnet_effb1"), "dabnet_effb1")
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert list(tmp_path.glob(".out.*")) == []  # no staging folder left behind

def test_bare_state_dict_and_ddp_prefix_are_accepted(tmp_path):
    state_dict = {f"module.{k}": v for k, v in original_state_dict("dabnet_effb1").items()}
    torch.save(state_dict, tmp_path / "bare.pth")
    loaded, meta = load_original_checkpoint(tmp_path / "bare.pth")
    assert meta == {} and "backbone.backbone.conv_stem.weight" in loaded

def test_wrong_variant_names_the_checkpoints_variant(original_checkpoint, tmp_path):
    checkpoint = original_checkpoint("dabnet_r18_p2")
    with pytest.raises(CheckpointError, match=r"checkpoint is dabnet_r18_p2 with 19 classes \(cityscapes\).*dabnet_r18_p8"):
        convert_checkpoint(checkpoint, tmp_path / "out", "dabnet_r18_p8", "cityscapes")
    assert not (tmp_path / "out").exists()

def test_wrong_class_count_names_the_matching_datasets(original_checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match=r"19 classes \(cityscapes\).*camvid \(11 classes\)"):
        convert_checkpoint(original_checkpoint("dabnet_effb1"), tmp_path / "out", "dabnet_effb1", "camvid")

@pytest.mark.parametrize(
    "changes, message",
    [
        ({"backbone.ffm.conv1.conv.weight": None}, r"1 missing keys: dabnet\.feature_fusion\.conv\.conv\.weight"),
        ({"backbone.extra.weight": torch.zeros(1)}, r"1 unexpected keys: backbone\.extra\.weight"),
        ({"backbone.cp_2.conv.weight": torch.zeros(64, 40, 1, 1)}, r"mis-shaped tensors: .*cp_2.*\(64, 40, 1, 1\)"),
        ({"auxiliary_head.1.conv_seg.bias": None}, r"missing keys: auxiliary_heads\.1\.classifier\.bias"),
    ],
)
def test_damaged_state_dict_stops_with_what_is_wrong(original_checkpoint, tmp_path, changes, message):
    checkpoint = original_checkpoint("dabnet_effb1", changes=changes)
    with pytest.raises(CheckpointError, match=message):
        convert_checkpoint(checkpoint, tmp_path / "out", "dabnet_effb1")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.name]

def test_not_a_dabnet_checkpoint(tmp_path):
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="Not a DABNet checkpoint"):
        convert_checkpoint(tmp_path / "other.pth", tmp_path / "out", "dabnet_r18_p2")

def test_truncated_file_is_reported_as_unreadable(original_checkpoint, tmp_path):
    checkpoint = original_checkpoint("dabnet_effb1")
    checkpoint.write_bytes(checkpoint.read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        convert_checkpoint(checkpoint, tmp_path / "out", "dabnet_effb1")

class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))

def test_arbitrary_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": _Payload()}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_original_checkpoint(path)

def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        convert_checkpoint(tmp_path / "nope.pth", tmp_path / "out", "dabnet_r18_p2")

def test_existing_output_is_kept_unless_overwrite(original_checkpoint, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    checkpoint = original_checkpoint("dabnet_effb1")
    with pytest.raises(OutputExistsError, match="not empty.*overwrite=True"):
        convert_checkpoint(checkpoint, out, "dabnet_effb1")
    assert (out / "keep.txt").read_text() == "user data"
    convert_checkpoint(checkpoint, out, "dabnet_effb1", overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
