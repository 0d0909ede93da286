"""DabnetConfig: defaults per context path, validation of every field with one-line errors, JSON round trip."""

from __future__ import annotations

import json

import pytest
from transformers import PreTrainedConfig

from dabnet_zoo import DabnetConfig
from dabnet_zoo.configuration_dabnet import PATCH_SIZES


def test_defaults_are_the_original_main_model():
    config = DabnetConfig()
    assert (config.context_path, config.patch_size, config.num_labels) == ("resnet18_v1c", 2, 19)
    assert config.semantic_loss_ignore_index == 255
    assert config.auxiliary_loss_weights == (0.4, 0.4)
    assert config.image_mean == (123.675, 116.28, 103.53) and config.image_std == (58.395, 57.12, 57.375)


@pytest.mark.parametrize(
    "context_path, spatial_channels, sim_channels",
    [("resnet18_v1c", (64, 64, 128), (32, 64, 64, 64)), ("efficientnet_b1", (24, 64, 128), (24, 32, 32, 32))],
)
def test_channel_defaults_are_the_originals_for_the_context_path(context_path, spatial_channels, sim_channels):
    config = DabnetConfig(context_path=context_path)  # the original's SIM and spatial-path widths
    assert (config.spatial_channels, config.sim_channels) == (spatial_channels, sim_channels)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"patch_size": 3}, ValueError, "1, 2, 4, 8, 16"),
        ({"patch_size": "2"}, ValueError, "1, 2, 4, 8, 16"),
        ({"context_path": "resnet50"}, ValueError, "resnet18_v1c, efficientnet_b1"),
        ({"num_labels": 0}, ValueError, "between 2 and 65536"),
        ({"num_labels": 1}, ValueError, "num_labels=2 .background and foreground"),
        ({"num_labels": 10**9}, ValueError, "between 2 and 65536, got 1000000000"),
        ({"num_labels": "5"}, TypeError, "num_labels must be an int, got str"),
        ({"num_labels": 5.0}, TypeError, "num_labels must be an int, got float"),
        ({"sim_channels": (32, 64)}, ValueError, "sim_channels must have 4 values"),
        ({"sim_channels": (32, 64, 64, "a")}, TypeError, r"sim_channels\[3\] must be an int"),
        ({"sim_channels": (32, 64, 64, -4)}, ValueError, r"sim_channels\[3\] must be between 1 and 4096"),
        ({"sim_channels": 32}, TypeError, "sim_channels must be a list or tuple"),
        ({"spatial_channels": (64, 64, 96)}, ValueError, "must equal context_channels"),
        ({"context_channels": -5, "spatial_channels": (64, 64, -5)}, ValueError, r"spatial_channels\[2\]"),
        ({"fusion_channels": 0}, ValueError, "fusion_channels must be between 1 and 4096"),
        ({"decode_head_channels": 10**6}, ValueError, "decode_head_channels must be between 1 and 4096"),
        ({"auxiliary_head_channels": True}, TypeError, "auxiliary_head_channels must be an int, got bool"),
        ({"num_channels": 0}, ValueError, "num_channels must be between 1 and 4096"),
        ({"image_std": (0, 1, 1)}, ValueError, "image_std values must be positive"),
        ({"image_std": (1, float("nan"), 1)}, ValueError, r"image_std\[1\] must be finite"),
        ({"image_mean": (0, 0)}, ValueError, "image_mean must have 3 values"),
        ({"auxiliary_loss_weights": (float("nan"), 0.4)}, ValueError, r"auxiliary_loss_weights\[0\] must be finite"),
        ({"auxiliary_loss_weights": (-1, 0.4)}, ValueError, r"auxiliary_loss_weights\[0\] must be between 0.0"),
        ({"auxiliary_loss_weights": (0.4, float("inf"))}, ValueError, "must be finite"),
        ({"classifier_dropout_prob": 2.0}, ValueError, "classifier_dropout_prob must be between 0.0 and 1.0"),
        ({"semantic_loss_ignore_index": 3.5}, TypeError, "semantic_loss_ignore_index must be an int"),
        ({"semantic_loss_ignore_index": 3}, ValueError, "is a class index"),
        ({"id2label": {0: "a", 2: "b"}}, ValueError, "id2label keys must be the class indices 0 .. 1"),
        ({"num_classes": 7}, TypeError, "unexpected keyword argument.*'num_classes'.*num_labels"),
    ],
)
def test_invalid_values_raise_one_line_errors_naming_the_valid_ones(kwargs, error, fragment):
    with pytest.raises(error, match=fragment) as raised:
        DabnetConfig(**kwargs)
    assert "\n" not in str(raised.value)


def test_a_huge_label_count_is_refused_before_transformers_builds_id2label(monkeypatch):
    """A 1 KB config.json with num_labels 10**9 must not take gigabytes: transformers' __post_init__ builds an
    id2label dict of that many entries, so the bound must be checked before it runs."""

    def allocate(self, **kwargs):
        raise AssertionError("PreTrainedConfig.__post_init__ ran before the label count was checked")

    monkeypatch.setattr(PreTrainedConfig, "__post_init__", allocate)
    with pytest.raises(ValueError, match="between 2 and 65536"):
        DabnetConfig.from_dict({"model_type": "dabnet", "num_labels": 10**9})


def test_fields_set_after_construction_are_checked_before_the_model_is_built():
    from dabnet_zoo import DabnetForSemanticSegmentation

    config = DabnetConfig()
    config.patch_size = 3  # what from_pretrained(..., patch_size=3) does
    with pytest.raises(ValueError, match="patch_size must be one of"):
        DabnetForSemanticSegmentation(config)


def test_save_and_reload_round_trip(tmp_path):
    config = DabnetConfig(context_path="efficientnet_b1", patch_size=8, id2label={0: "a", 1: "b", 2: "c"})
    config.save_pretrained(tmp_path)
    reloaded = DabnetConfig.from_pretrained(tmp_path)
    assert reloaded.to_dict() == config.to_dict()
    assert reloaded.id2label == {0: "a", 1: "b", 2: "c"} and reloaded.label2id == {"a": 0, "b": 1, "c": 2}
    assert reloaded.spatial_channels == (24, 64, 128) and isinstance(reloaded.sim_channels, tuple)


def test_saved_configs_keep_keys_they_do_not_know(tmp_path):
    """A config.json written by another version may hold keys this one does not know: they load as attributes,
    as transformers' own configs treat them (only direct construction is strict)."""
    DabnetConfig().save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, "some_future_field": 3}))
    assert DabnetConfig.from_pretrained(tmp_path).some_future_field == 3
    with pytest.raises(ValueError, match="image_std"):  # known keys are still checked
        (tmp_path / "config.json").write_text(json.dumps({**data, "image_std": [1, 0, 1]}))
        DabnetConfig.from_pretrained(tmp_path)


def test_every_patch_size_of_the_paper_is_accepted():
    assert PATCH_SIZES == (1, 2, 4, 8, 16)
    assert [DabnetConfig(patch_size=p).patch_size for p in PATCH_SIZES] == list(PATCH_SIZES)

