"""The checkpoint converter: key mapping, safe loading, clear errors, atomic output."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import SafetensorError
from transformers import AutoImageProcessor, modeling_utils

from dabnet_zoo import CheckpointError, DabnetForSemanticSegmentation, DabnetImageProcessor, OutputExistsError
from dabnet_zoo.errors import InputError, NoSpaceError
from dabnet_zoo.convert import (
    convert_checkpoint,
    convert_state_dict,
    identify_checkpoint,
    load_original_checkpoint,
    rename_original_key,
)
from tests.conftest import original_state_dict

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
    assert {p.name for p in out.iterdir()} >= {  # and the remote code for trust_remote_code=True
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

class _RunsAShellCommand:
    """Unpickling this runs ``touch <marker>``: a hostile checkpoint's payload."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_without_running(tmp_path):
    path, marker = tmp_path / "evil.pth", tmp_path / "pwned"
    torch.save({"state_dict": original_state_dict("dabnet_effb1"), "meta": {"x": _RunsAShellCommand(marker)}}, path)
    with pytest.raises(CheckpointError, match=r"holds Python objects other than tensors.*(posix|os)\.system") as raised:
        load_original_checkpoint(path)
    assert not marker.exists()
    message = str(raised.value)
    assert "\x1b" not in message and "\n" not in message and "weights_only=False" not in message


def test_numpy_object_arrays_are_refused_without_running_anything(tmp_path):
    """numpy arrays are allowed in metadata, but not object arrays, whose items would be arbitrary pickles."""
    path, marker = tmp_path / "evil.pth", tmp_path / "pwned"
    hostile = np.array([_RunsAShellCommand(marker)], dtype=object)
    torch.save({"state_dict": original_state_dict("dabnet_effb1"), "meta": {"PALETTE": hostile}}, path)
    with pytest.raises(CheckpointError, match="holds Python objects other than tensors"):
        load_original_checkpoint(path)
    assert not marker.exists()


def _mmcv_meta() -> dict:
    """What mmcv's save_checkpoint and its hooks put in ``meta``: numpy scalars, arrays and dtypes among plain
    values (mmseg makes a random ``PALETTE`` array for a dataset without one)."""
    return {
        "mmseg_version": "0.19.0+5a5b0a1", "mmcv_version": "1.3.16", "iter": np.int64(80000), "epoch": np.int32(7),
        "CLASSES": ("road", "sidewalk"), "PALETTE": np.array([[128, 64, 128], [244, 35, 232]]), "seed": None,
        "hook_msgs": {"best_score": np.float64(0.7412), "best_ckpt": "work_dirs/best_mIoU_iter_80000.pth",
                      "flag": np.bool_(True), "eval_dtype": np.dtype("float64"), "mask_dtype": np.dtype("uint8")},
    }


def _as_if_saved_with_numpy1(path: Path) -> None:
    """Rewrite a checkpoint's pickle as numpy 1 wrote it (``numpy.core``; numpy 2 says ``numpy._core``).

    torch.save uses pickle protocol 2, whose globals are plain text lines, so the module name can be edited."""
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            if name.endswith("data.pkl"):
                for function in (b"scalar", b"_reconstruct"):
                    data = data.replace(b"cnumpy._core.multiarray\n" + function, b"cnumpy.core.multiarray\n" + function)
                assert b"numpy._core" not in data
            archive.writestr(name, data)


@pytest.mark.parametrize("numpy_1", [False, True], ids=["numpy2-pickle", "numpy1-pickle"])
def test_mmcv_meta_with_numpy_scalars_and_dtypes_loads_and_converts(tmp_path, numpy_1):
    path = tmp_path / "iter_80000.pth"
    state_dict = original_state_dict("dabnet_effb1")
    torch.save({"meta": _mmcv_meta(), "state_dict": state_dict,
                "optimizer": {"state": {}, "param_groups": [{"lr": np.float64(1e-4), "momentum": 0.9}]}}, path)
    if numpy_1:
        _as_if_saved_with_numpy1(path)
    loaded, meta = load_original_checkpoint(path)
    assert loaded.keys() == state_dict.keys() and all(torch.equal(loaded[k], state_dict[k]) for k in state_dict)
    expected = _mmcv_meta()
    assert np.array_equal(meta.pop("PALETTE"), expected.pop("PALETTE"))
    assert meta == expected and type(meta["hook_msgs"]["best_score"]) is np.float64
    assert meta["hook_msgs"]["eval_dtype"] == np.dtype("float64") and type(meta["iter"]) is np.int64
    out = convert_checkpoint(path, tmp_path / "out", "dabnet_effb1")
    provenance = json.loads((out / "conversion.json").read_text())
    assert provenance["original_meta"] == {"mmseg_version": "0.19.0+5a5b0a1", "mmcv_version": "1.3.16",
                                           "iter": 80000, "epoch": 7}


def _declare_uncompressed_size(path: Path, member: str, size: int) -> None:
    """Patch a zip member's declared uncompressed size (local header and central directory), as a bomb would
    declare it, without writing gigabytes."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46:central + 46 + name_length]) == name:
            struct.pack_into("<I", data, central + 24, size)
            local = struct.unpack_from("<I", data, central + 42)[0]
            struct.pack_into("<I", data, local + 22, size)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    else:
        raise AssertionError(f"{member} not in {path}")
    path.write_bytes(bytes(data))


def test_a_zip_bomb_is_refused_from_its_declared_sizes_before_loading(tmp_path, monkeypatch):
    """A 3.9 GB member of zeros deflates to about 4 MB; the largest real checkpoint holds about 1.2 GB."""
    bomb = tmp_path / "bomb.pth"
    torch.save({"meta": {}, "state_dict": {"decode_head.conv_seg.bias": torch.zeros(19)}}, bomb)
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data/1", bytes(2**20))  # 1 MiB of zeros: about 1 KB on disk
    _declare_uncompressed_size(bomb, "bomb/data/1", 3_900_000_000)
    assert bomb.stat().st_size < 2**16
    assert sum(info.file_size for info in zipfile.ZipFile(bomb).infolist()) > 3.9e9  # what the archive declares
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load must not see a bomb"))
    with pytest.raises(CheckpointError, match=r"declares 3\.\d GiB of uncompressed data.*not loaded"):
        convert_checkpoint(bomb, tmp_path / "out", "dabnet_effb1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.pth"]


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


@pytest.mark.parametrize(
    "checkpoint_name, output_name, why",
    [("ck/p2.pth", "ck", "holds the input"), ("self.pth", "self.pth", "is the input itself")],
)
def test_overwrite_never_replaces_or_empties_what_holds_the_checkpoint(
    original_checkpoint, tmp_path, checkpoint_name, output_name, why
):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "notes.txt").write_text("the user's")
    checkpoint = original_checkpoint("dabnet_r18_p2", name=checkpoint_name)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(InputError, match=f"Refusing to write .*{why}"):
        convert_checkpoint(checkpoint, tmp_path / output_name, "dabnet_r18_p2", overwrite=True)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_full_disk_while_saving_leaves_the_old_folder_and_no_stage(original_checkpoint, tmp_path, monkeypatch):
    """safetensors reports a full disk as its own error type; the converter must still say so in one line."""
    checkpoint = original_checkpoint("dabnet_effb1")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(bytes(1000))  # part of the file made it to disk
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                              'message: "No space left on device" })')

    monkeypatch.setattr(modeling_utils, "safe_save_file", save_file)
    with pytest.raises(NoSpaceError, match=r"^no space left on .*out \(needs about \d+ MB\)"):
        convert_checkpoint(checkpoint, out, "dabnet_effb1", overwrite=True)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "original.pth", "out", "out/old.txt"]


def test_converted_folders_and_files_get_normal_permissions(original_checkpoint, tmp_path):
    previous = os.umask(0o022)
    try:
        out = convert_checkpoint(original_checkpoint("dabnet_effb1"), tmp_path / "out", "dabnet_effb1")
    finally:
        os.umask(previous)
    assert out.stat().st_mode & 0o777 == 0o755  # 0o777 & ~umask, not tempfile.mkdtemp's 0700
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert "model.safetensors" in modes and set(modes.values()) == {0o644}  # safetensors alone would make 0600
