"""Published weights through the Hub cache: pinned revision, sha256 check, clear errors; never random weights.

No network: a "published" registry entry is faked for dabnet_effb1.camvid and its files are laid out in a Hugging
Face cache under tmp_path (models--ORG--NAME/snapshots/<revision>/...), which ``hf_hub_download`` serves for a
pinned commit without any request.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import constants
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

from dabnet_zoo import (
    CheckpointError,
    DabnetZooError,
    WeightsDownloadError,
    WeightsIntegrityError,
    WeightsNotPublishedError,
    create_model,
    create_processor,
    load_model,
)
from dabnet_zoo.registry import WEIGHTS, get_weights
from dabnet_zoo.weights import download_weights, require_published, sha256_of

NAME = "dabnet_effb1.camvid"
REVISION = "0123456789abcdef0123456789abcdef01234567"
REPO = str(Path(__file__).parents[1])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A save_pretrained folder of NAME (random weights) and its state dict."""
    folder = tmp_path_factory.mktemp("saved")
    torch.manual_seed(0)
    model = create_model(NAME).eval()
    model.save_pretrained(folder)
    create_processor("camvid").save_pretrained(folder)
    return folder, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def hub(tmp_path, monkeypatch, saved):
    """Publish NAME in the registry and put its files in an offline Hub cache; returns the snapshot folder."""
    folder, _ = saved
    cache = tmp_path / "hub"
    snapshot = cache / f"models--{get_weights(NAME).hub_repo_id.replace('/', '--')}" / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    for name in ("model.safetensors", "config.json", "preprocessor_config.json"):
        shutil.copyfile(folder / name, snapshot / name)
    entry = dataclasses.replace(get_weights(NAME), published=True, revision=REVISION,
                                sha256=sha256_of(folder / "model.safetensors"),
                                file_size=(folder / "model.safetensors").stat().st_size)
    monkeypatch.setitem(WEIGHTS, NAME, entry)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return snapshot


def _no_download(*args, **kwargs):
    raise AssertionError("hf_hub_download must not be called")


def test_unpublished_weights_name_the_repo_and_how_to_convert(monkeypatch):
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", _no_download)
    for call in (lambda: require_published("dabnet_r18_p16", "camvid"),
                 lambda: create_model("dabnet_r18_p16", dataset="camvid", pretrained=True),
                 lambda: torch.hub.load(REPO, "dabnet_r18_p16", source="local", dataset="camvid", pretrained=True)):
        with pytest.raises(WeightsNotPublishedError) as raised:
            call()
        message = str(raised.value)
        assert "dabnet-zoo/dabnet_r18_p16.camvid" in message
        assert "dabnet-zoo convert ORIGINAL.pth OUT_DIR --variant dabnet_r18_p16 --dataset camvid" in message
        assert "recipes/configs/dabnet_r18_p16.camvid.yaml" in message
    assert isinstance(raised.value, DabnetZooError) and isinstance(raised.value, LookupError)


def test_published_weights_load_offline_from_the_pinned_revision(hub, saved):
    _, state_dict = saved
    folder = download_weights(NAME)
    assert folder == hub
    own = create_model("dabnet_effb1", dataset="camvid", pretrained=True).state_dict()
    assert own.keys() == state_dict.keys()
    for key, value in state_dict.items():
        assert torch.equal(own[key], value), key
    hub_model = torch.hub.load(REPO, "dabnet_effb1", source="local", dataset="camvid", pretrained=True)
    assert not hub_model.training
    assert torch.equal(hub_model.decode_head.classifier.weight, state_dict["decode_head.classifier.weight"])
    loaded = load_model(NAME)  # a zoo name with published weights loads them
    assert torch.equal(loaded.decode_head.classifier.weight, state_dict["decode_head.classifier.weight"])


def test_a_new_class_count_keeps_every_weight_but_the_classifiers(hub, saved):
    _, state_dict = saved
    model = create_model(NAME, pretrained=True, num_labels=5)
    assert model.decode_head.classifier.out_channels == 5
    own = model.state_dict()
    for key, value in state_dict.items():
        if ".classifier." not in key:
            assert torch.equal(own[key], value), key
    with pytest.raises(CheckpointError, match="do not fit"):
        create_model(NAME, pretrained=True, patch_size=4)


def test_offline_without_the_files_names_the_repo_and_the_cause(hub):
    shutil.rmtree(hub)
    with pytest.raises(WeightsDownloadError) as raised:
        create_model(NAME, pretrained=True)
    message = str(raised.value)
    assert "dabnet-zoo/dabnet_effb1.camvid" in message and REVISION in message
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in message and "dabnet-zoo convert" in message
    assert isinstance(raised.value.__cause__, LocalEntryNotFoundError)


def test_no_network_and_missing_files_are_told_apart_from_offline_mode(hub, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def unreachable(repo_id, filename, **kwargs):
        assert kwargs["revision"] == REVISION  # always the pinned commit, never a branch
        raise LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", unreachable)
    with pytest.raises(WeightsDownloadError, match="the Hub could not be reached .no network.."):
        download_weights(NAME)

    def missing(repo_id, filename, **kwargs):
        raise EntryNotFoundError(f"{filename} not found")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", missing)
    with pytest.raises(WeightsDownloadError, match="the Hub has no such file"):
        download_weights(NAME)


def test_a_damaged_file_is_reported_and_left_in_place(hub):
    weights = hub / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, other content
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError) as raised:
        create_model(NAME, pretrained=True)
    message = str(raised.value)
    assert f"has sha256 {sha256_of(weights)}" in message and get_weights(NAME).sha256 in message
    assert "nothing was deleted" in message and str(weights) in message
    assert weights.read_bytes() == bytes(data)  # the user's file is untouched
    weights.write_bytes(bytes(data[:-10]))
    with pytest.raises(WeightsIntegrityError, match="bytes, but the registry records"):
        download_weights(NAME)
    with pytest.raises(WeightsDownloadError, match="offline"):
        download_weights(NAME, force_download=True)


def test_a_config_of_another_architecture_is_refused(hub):
    config = hub / "config.json"
    config.write_text(config.read_text().replace('"patch_size": 2', '"patch_size": 8'))
    with pytest.raises(CheckpointError, match=r"patch_size=8 \(expected 2\)"):
        download_weights(NAME)
