"""DabnetConfig: defaults per context path, validation with the valid choices, JSON round trip."""

from __future__ import annotations

import pytest

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
    config = DabnetConfig(context_path=context_path)  # spec §3.4, §3.7
    assert (config.spatial_channels, config.sim_channels) == (spatial_channels, sim_channels)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"patch_size": 3}, "1, 2, 4, 8, 16"),
        ({"context_path": "resnet50"}, "resnet18_v1c, efficientnet_b1"),
        ({"num_labels": 0}, "at least 1"),
        ({"sim_channels": (32, 64)}, "sim_channels must have 4 values"),
        ({"spatial_channels": (64, 64, 96)}, "must equal context_channels"),
    ],
)
def test_invalid_values_raise_value_error_naming_the_choices(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        DabnetConfig(**kwargs)


def test_save_and_reload_round_trip(tmp_path):
    config = DabnetConfig(context_path="efficientnet_b1", patch_size=8, id2label={0: "a", 1: "b", 2: "c"})
    config.save_pretrained(tmp_path)
    reloaded = DabnetConfig.from_pretrained(tmp_path)
    assert reloaded.to_dict() == config.to_dict()
    assert reloaded.id2label == {0: "a", 1: "b", 2: "c"} and reloaded.label2id == {"a": 0, "b": 1, "c": 2}
    assert reloaded.spatial_channels == (24, 64, 128) and isinstance(reloaded.sim_channels, tuple)


def test_every_patch_size_of_the_paper_is_accepted():
    assert PATCH_SIZES == (1, 2, 4, 8, 16)
    assert [DabnetConfig(patch_size=p).patch_size for p in PATCH_SIZES] == list(PATCH_SIZES)
