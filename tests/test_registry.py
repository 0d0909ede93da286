"""The registry: names, lookups, errors, the weights entries, and metadata recomputed from the built models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from huggingface_hub.utils import validate_repo_id
from torch.utils.flop_counter import FlopCounterMode

from dabnet_zoo import UnknownModelError, create_model, get_variant, list_models, valid_input_size
from dabnet_zoo.presets import DATASETS
from dabnet_zoo.registry import (
    ORIGIN_CONVERTED,
    ORIGINS,
    VARIANTS,
    WEIGHTS,
    RegistryError,
    format_models_table,
    get_weights,
    list_weights,
    split_model_name,
)

REPO = Path(__file__).parents[1]


def test_the_six_variants_are_registered():
    assert list_models() == [
        "dabnet_r18_p1", "dabnet_r18_p2", "dabnet_r18_p4", "dabnet_r18_p8", "dabnet_r18_p16", "dabnet_effb1",
    ]
    assert list_models("dabnet_r18_*") == list_models()[:5]


def test_unknown_names_list_the_known_ones():
    # A clear typo gets a suggestion; p9 is as close to p1/p2/p4/p8 as to each other: no guess, just the list.
    with pytest.raises(UnknownModelError, match=r"Did you mean 'dabnet_r18_p16'\?"):
        get_variant("dabnet_r18_p16x")
    with pytest.raises(UnknownModelError) as error:
        get_variant("dabnet_r18_p9")
    assert "Did you mean" not in str(error.value)
    assert str(error.value).endswith("Known models: dabnet_r18_p1, dabnet_r18_p2, dabnet_r18_p4, dabnet_r18_p8, "
                                     "dabnet_r18_p16, dabnet_effb1.")
    with pytest.raises(KeyError):  # also a KeyError for callers that do not know our errors
        get_variant("resnet50")
    with pytest.raises(UnknownModelError, match="Unknown dataset 'kitti'.*camvid, cityscapes"):
        split_model_name("dabnet_r18_p2", "kitti")


def test_model_names_carry_an_optional_dataset_tag():
    assert split_model_name("dabnet_r18_p8.camvid") == (VARIANTS["dabnet_r18_p8"], "camvid")
    assert split_model_name("dabnet_effb1") == (VARIANTS["dabnet_effb1"], "cityscapes")
    with pytest.raises(ValueError, match="names dataset 'camvid' but dataset='cityscapes'"):
        split_model_name("dabnet_r18_p8.camvid", "cityscapes")


# COCO-Stuff-164k has the classes and test size of COCO-Stuff-10k (checked below), so it is not rebuilt.
_MEASURED = [(name, dataset) for name in VARIANTS for dataset in DATASETS if dataset != "coco_stuff164k"]


@pytest.mark.parametrize(("name", "dataset"), _MEASURED)
def test_parameter_count_and_gmacs_match_the_built_model(name, dataset):
    """Recomputed torchvision-style at the dataset's test size: the registry must not drift from the code."""
    entry, variant, preset = get_weights(name, dataset), get_variant(name), DATASETS[dataset]
    with torch.device("meta"):
        model = create_model(name, dataset=dataset).eval()
    inference_params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("auxiliary_heads"))
    assert inference_params == entry.num_params
    height, width = preset.test_size
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(1, 3, height, width, device="meta"))
    assert round(counter.get_total_flops() / 2e9, 1) == entry.gmacs
    assert entry.gmacs_input_size == valid_input_size(height, width, variant.patch_size)


def test_coco_stuff_164k_numbers_equal_10k():
    ten_k, full = DATASETS["coco_stuff10k"], DATASETS["coco_stuff164k"]
    assert (ten_k.num_labels, ten_k.test_size) == (full.num_labels, full.test_size)
    for name in VARIANTS:
        a, b = get_weights(name, "coco_stuff10k"), get_weights(name, "coco_stuff164k")
        assert (a.num_params, a.gmacs, a.gmacs_input_size) == (b.num_params, b.gmacs, b.gmacs_input_size)


def test_one_weights_entry_per_variant_and_dataset_with_a_valid_unique_repo_id():
    assert sorted(WEIGHTS) == sorted(f"{v}.{d}" for v in VARIANTS for d in DATASETS)
    repo_ids = [entry.hub_repo_id for entry in WEIGHTS.values()]
    assert len(set(repo_ids)) == len(repo_ids)
    for key, entry in WEIGHTS.items():
        validate_repo_id(entry.hub_repo_id)  # raises on an id the Hub would refuse
        assert entry.name == key and entry.hub_repo_id.endswith("/" + key)
        assert get_weights(entry.variant, entry.dataset) is entry and get_weights(key) is entry
        assert entry.origin in ORIGINS and entry.license
        assert entry.default == (entry.dataset == "cityscapes")


def test_no_weights_are_published_and_none_are_faked():
    """No DABNet weights exist on the Hub: every entry must say so rather than carry invented pins."""
    for entry in WEIGHTS.values():
        assert not entry.published
        assert (entry.revision, entry.sha256, entry.file_size) == (None, None, None)
    assert list_models(pretrained=True) == []


def test_converted_weights_only_where_the_original_trained_that_model():
    for entry in WEIGHTS.values():
        if entry.origin == ORIGIN_CONVERTED:
            assert entry.dataset in VARIANTS[entry.variant].paper, entry.name


def test_weights_entries_reject_contradictory_pins():
    base = get_weights("dabnet_effb1.camvid")
    pins = {"revision": "0123456789abcdef" * 2 + "01234567", "sha256": "ab" * 32, "file_size": 1234}
    published = dataclasses.replace(base, published=True, **pins)
    assert published.published and published.file_size_mb == pytest.approx(1234 / 2**20)
    with pytest.raises(RegistryError, match="published=True with all three"):
        dataclasses.replace(base, revision=pins["revision"])
    for key, bad in (("revision", "main"), ("sha256", "abc"), ("file_size", 0), ("revision", None)):
        with pytest.raises(RegistryError, match="40-hex revision"):
            dataclasses.replace(base, published=True, **{**pins, key: bad})
    with pytest.raises(RegistryError, match="origin"):
        dataclasses.replace(base, origin="downloaded from somewhere")
    with pytest.raises(RegistryError, match="unknown variant"):
        dataclasses.replace(base, variant="dabnet_r18_p3")


def test_recipe_paths_point_into_recipes_configs():
    """Each entry names its recipe file. The per-model recipe files are written by the training recipes (a
    separate change that lands after the registry): while none of them exists in this checkout, existence is
    skipped; as soon as one does, every entry's recipe must exist, so a registry entry never points at nothing."""
    recipes = [entry.recipe for entry in WEIGHTS.values()]
    assert len(set(recipes)) == len(recipes)
    assert all(path.startswith("recipes/configs/") and path.endswith(".yaml") for path in recipes)
    missing = [path for path in recipes if not (REPO / path).is_file()]
    if len(missing) == len(recipes):
        pytest.skip("no per-model recipe in recipes/configs/ yet (written by the training recipes)")
    assert missing == []


def test_list_models_pretrained_lists_published_weights_only(monkeypatch):
    base = get_weights("dabnet_effb1.camvid")
    fake = dataclasses.replace(base, published=True, revision="a" * 40, sha256="b" * 64, file_size=10)
    monkeypatch.setitem(WEIGHTS, fake.name, fake)
    assert list_models(pretrained=True) == ["dabnet_effb1.camvid"]
    assert list_models("dabnet_effb1", pretrained=True) == ["dabnet_effb1.camvid"]
    assert list_models("*.camvid", pretrained=True) == ["dabnet_effb1.camvid"]
    assert list_models("dabnet_r18_*", pretrained=True) == []
    assert list_models() == list(VARIANTS)  # the architectures are unaffected


def test_list_weights_filters_by_pattern_and_dataset():
    camvid = list_weights(dataset="camvid")
    assert [e.variant for e in camvid] == list(VARIANTS) and {e.dataset for e in camvid} == {"camvid"}
    assert [e.dataset for e in list_weights("dabnet_effb1")] == list(DATASETS)
    assert [e.name for e in list_weights("*.coco_stuff164k", dataset="coco_stuff164k")] == [
        f"{v}.coco_stuff164k" for v in VARIANTS
    ]
    assert list_weights(published=True) == []
    with pytest.raises(UnknownModelError, match="Unknown dataset 'kitti'"):
        list_weights(dataset="kitti")


def test_models_table_has_a_row_per_entry_with_paper_numbers_and_their_hardware():
    table = format_models_table()
    lines = table.splitlines()
    for entry in WEIGHTS.values():
        row = next(line for line in lines if line.split()[:2] == [entry.variant, entry.dataset])
        assert f"{entry.num_params / 1e6:.2f}" in row and f"{entry.gmacs:.1f}" in row
        assert entry.hub_repo_id in row and entry.recipe in row and "not published" in row
        paper = VARIANTS[entry.variant].paper.get(entry.dataset)
        if paper is not None and paper.fps is not None:
            footnote = row.split(f"{paper.fps:.1f} [")[1].split("]")[0]
            assert f"[{footnote}] {paper.fps_setup}" in lines
            assert f"{paper.miou_val:.1f}" in row
    assert "reported by the original paper" in table
    camvid = format_models_table(dataset="camvid").splitlines()
    assert sum(line.startswith("dabnet_") for line in camvid) == len(VARIANTS)
    assert all(" camvid " in line for line in camvid if line.startswith("dabnet_"))
    assert "none are published" in format_models_table(pretrained=True)


def test_paper_results_name_their_dataset_and_setup():
    for variant in VARIANTS.values():
        assert "cityscapes" in variant.paper
        for dataset, result in variant.paper.items():
            assert dataset in DATASETS
            assert result.fps is None or "original README" in result.fps_setup
