"""The variant registry: names, lookups, errors, and metadata recomputed from the built models."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from dabnet_zoo import UnknownModelError, create_model, get_variant, list_models
from dabnet_zoo.presets import DATASETS
from dabnet_zoo.registry import VARIANTS, split_model_name


def test_the_six_variants_are_registered():
    assert list_models() == [
        "dabnet_r18_p1", "dabnet_r18_p2", "dabnet_r18_p4", "dabnet_r18_p8", "dabnet_r18_p16", "dabnet_effb1",
    ]
    assert list_models("dabnet_r18_*") == list_models()[:5]


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UnknownModelError, match=r"Did you mean 'dabnet_r18_p8'\?.*dabnet_effb1, dabnet_r18_p1"):
        get_variant("dabnet_r18_p9")
    with pytest.raises(KeyError):  # also a KeyError for callers that do not know our errors
        get_variant("resnet50")
    with pytest.raises(UnknownModelError, match="Unknown dataset 'kitti'.*camvid, cityscapes"):
        split_model_name("dabnet_r18_p2", "kitti")


def test_model_names_carry_an_optional_dataset_tag():
    assert split_model_name("dabnet_r18_p8.camvid") == (VARIANTS["dabnet_r18_p8"], "camvid")
    assert split_model_name("dabnet_effb1") == (VARIANTS["dabnet_effb1"], "cityscapes")
    with pytest.raises(ValueError, match="names dataset 'camvid' but dataset='cityscapes'"):
        split_model_name("dabnet_r18_p8.camvid", "cityscapes")


@pytest.mark.parametrize("name", list_models())
def test_parameter_count_and_gmacs_match_the_built_model(name):
    """Recomputed torchvision-style: the registry must not drift from the code."""
    variant = get_variant(name)
    with torch.device("meta"):
        model = create_model(name).eval()
    inference_params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("auxiliary_heads"))
    assert inference_params == variant.num_params
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(1, 3, 1024, 2048, device="meta"))
    assert round(counter.get_total_flops() / 2e9, 1) == variant.gmacs


def test_paper_results_name_their_dataset_and_setup():
    for variant in VARIANTS.values():
        assert "cityscapes" in variant.paper
        for dataset, result in variant.paper.items():
            assert dataset in DATASETS
            assert result.fps is None or "original README" in result.fps_setup
