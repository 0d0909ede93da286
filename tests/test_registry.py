"""The registry: names, lookups, errors, the weights entries, and metadata recomputed from the built models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from huggingface_hub.utils import validate_repo_id
from torch.utils.flop_counter import FlopCounterMode

from dabnet_zoo import UnknownModelError, create_model, get_variant, list_models, valid_input_size
from dabnet_zoo.errors import CheckpointError, InputError
from dabnet_zoo.presets import DATASETS
from dabnet_zoo.registry import (
    ORIGIN_CONVERTED,
    ORIGINS,
    VARIANTS,
    WEIGHTS,
    ModelRef,
    RegistryError,
    format_models_table,
    get_weights,
    identify_config,
    list_weights,
    resolve_model,
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
    with pytest.raises(UnknownModelError, match="Unknown dataset 'kitti'.*cityscapes, camvid, coco_stuff10k"):
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


# ----------------------------------------------------------------------------------------------------------
# resolve_model and identify_config: the one parser of model arguments and the one reverse lookup.

# The variants as the original project defines them (context path, SIM patch size) and the class counts of the
# datasets, stated here rather than read from the registry.
PAPER_VARIANTS = {
    "dabnet_r18_p1": ("resnet18_v1c", 1),
    "dabnet_r18_p2": ("resnet18_v1c", 2),
    "dabnet_r18_p4": ("resnet18_v1c", 4),
    "dabnet_r18_p8": ("resnet18_v1c", 8),
    "dabnet_r18_p16": ("resnet18_v1c", 16),
    "dabnet_effb1": ("efficientnet_b1", 2),
}
CLASS_COUNTS = {"cityscapes": 19, "camvid": 11, "coco_stuff10k": 171, "coco_stuff164k": 171}
FIRST_CLASSES = {"cityscapes": "road", "camvid": "Sky", "coco_stuff10k": "person", "coco_stuff164k": "person"}


def config_json(context_path, patch_size, names=None, num_labels=None):
    """A config.json as save_pretrained writes it (string keys in id2label)."""
    config = {"model_type": "dabnet", "context_path": context_path, "patch_size": patch_size}
    if names is not None:
        config["id2label"] = {str(i): name for i, name in enumerate(names)}
    if num_labels is not None:
        config["num_labels"] = num_labels
    return config


def model_folder(root, config, **extra_files):
    import json

    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps(config))
    (root / "model.safetensors").write_bytes(b"")  # the resolver only looks for the file
    for name, content in extra_files.items():
        (root / name.replace("_", ".")).write_text(json.dumps(content))
    return root


@pytest.mark.parametrize("dataset", list(CLASS_COUNTS))
@pytest.mark.parametrize("variant", list(PAPER_VARIANTS))
def test_identify_config_finds_variant_and_dataset(variant, dataset):
    context_path, patch_size = PAPER_VARIANTS[variant]
    names = DATASETS[dataset].class_names
    assert len(names) == CLASS_COUNTS[dataset] and names[0] == FIRST_CLASSES[dataset]
    # COCO-Stuff-10k and -164k share their 171 classes: the names alone cannot tell them apart.
    expected = ("coco_stuff10k", "coco_stuff164k") if dataset.startswith("coco") else (dataset,)
    identity = identify_config(config_json(context_path, patch_size, names))
    assert (identity.variant, identity.datasets, identity.num_labels) == (variant, expected, CLASS_COUNTS[dataset])
    assert identity.dataset == (None if dataset.startswith("coco") else dataset)
    assert identity.mismatches(get_weights(variant, dataset)) == []
    # Without class names (transformers' LABEL_i placeholders, or a bare count) the count decides.
    generic = identify_config(config_json(context_path, patch_size, [f"LABEL_{i}" for i in range(len(names))]))
    counted = identify_config({"context_path": context_path, "patch_size": patch_size,
                               "num_labels": CLASS_COUNTS[dataset]})
    assert generic.datasets == counted.datasets == expected and generic.class_names is None


def test_identify_config_reads_config_objects_and_reports_mismatches():
    from dabnet_zoo import DabnetConfig

    config = DabnetConfig(context_path="efficientnet_b1", patch_size=2, id2label=dict(enumerate(["a", "b", "c"])))
    identity = identify_config(config)
    assert (identity.variant, identity.datasets, identity.num_labels) == ("dabnet_effb1", (), 3)
    assert identity.mismatches(get_weights("dabnet_r18_p4.camvid")) == [
        "context_path='efficientnet_b1' (expected 'resnet18_v1c')", "patch_size=2 (expected 4)",
        "num_labels=3 (expected 11)",
    ]
    no_variant = identify_config(config_json("efficientnet_b1", 4, num_labels=19))
    assert no_variant.variant is None and no_variant.datasets == ("cityscapes",)
    assert "no zoo variant" in no_variant.describe()


def test_resolve_zoo_names():
    assert resolve_model("dabnet_r18_p8") == ModelRef("random", "dabnet_r18_p8.cityscapes", "dabnet_r18_p8",
                                                      "cityscapes", 19)
    assert resolve_model("dabnet_r18_p1.camvid").name == "dabnet_r18_p1.camvid"
    assert resolve_model("dabnet_effb1", "coco_stuff10k").name == "dabnet_effb1.coco_stuff10k"
    assert resolve_model("dabnet_r18_p1.camvid").num_labels == 11
    with pytest.raises(InputError, match="names dataset 'camvid' but dataset='cityscapes'"):
        resolve_model("dabnet_r18_p1.camvid", "cityscapes")
    with pytest.raises(UnknownModelError, match="Unknown dataset 'kitti'"):
        resolve_model("dabnet_r18_p1", "kitti")
    with pytest.raises(UnknownModelError, match="Known models: dabnet_r18_p1, .*Hub repo id"):
        resolve_model("dabnet_r18_p3")


def test_resolve_folders(tmp_path):
    camvid = model_folder(tmp_path / "p8", config_json("resnet18_v1c", 8, DATASETS["camvid"].class_names))
    assert resolve_model(str(camvid)) == ModelRef("folder", str(camvid), "dabnet_r18_p8", "camvid", 11)
    assert resolve_model(camvid, "camvid").name == "dabnet_r18_p8.camvid"  # a PathLike is always a path
    with pytest.raises(InputError, match=r"is dabnet_r18_p8 with 11 classes \(camvid\), not a cityscapes model"):
        resolve_model(camvid, "cityscapes")
    # COCO-Stuff: conversion.json settles 10k vs 164k; without it the dataset stays open until one is given.
    coco = config_json("efficientnet_b1", 2, DATASETS["coco_stuff10k"].class_names)
    converted = model_folder(tmp_path / "converted", coco, conversion_json={"dataset": "coco_stuff164k"})
    assert resolve_model(converted).name == "dabnet_effb1.coco_stuff164k"
    bare = model_folder(tmp_path / "bare", coco)
    assert resolve_model(bare).dataset is None and resolve_model(bare, "coco_stuff10k").dataset == "coco_stuff10k"
    # Custom classes: any dataset may be given (its test protocol), but the model is no zoo entry.
    custom = model_folder(tmp_path / "custom", config_json("resnet18_v1c", 2, ["cat", "dog"]))
    ref = resolve_model(custom, "cityscapes")
    assert (ref.variant, ref.dataset, ref.num_labels, ref.name, ref.entry) == ("dabnet_r18_p2", "cityscapes", 2,
                                                                               None, None)


def test_a_local_folder_wins_over_a_zoo_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model_folder(tmp_path / "dabnet_r18_p2", config_json("resnet18_v1c", 16, num_labels=19))
    assert resolve_model("dabnet_r18_p2") == ModelRef("folder", "dabnet_r18_p2", "dabnet_r18_p16", "cityscapes", 19)


def test_resolve_hub_ids_and_complete_them_from_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ref = resolve_model("someone/my-dabnet")
    assert ref == ModelRef("hub", "someone/my-dabnet") and ref.name is None
    loaded = ref.with_config(config_json("resnet18_v1c", 4, DATASETS["cityscapes"].class_names))
    assert loaded.name == "dabnet_r18_p4.cityscapes" and loaded.entry is WEIGHTS["dabnet_r18_p4.cityscapes"]
    with pytest.raises(InputError, match="not a camvid model"):
        resolve_model("someone/my-dabnet", "camvid").with_config(
            config_json("resnet18_v1c", 4, DATASETS["cityscapes"].class_names))


@pytest.mark.parametrize("typed", ["./nothere", "~/dabnet-zoo-nothere", "converted/nothere", "a/b/c",
                                   "/tmp/dabnet-zoo-nothere"])
def test_mistyped_paths_are_no_such_folder_at_once(tmp_path, monkeypatch, typed):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "converted").mkdir()  # exists partially: "converted/nothere" is a path, not a Hub repo id
    with pytest.raises(InputError) as error:
        resolve_model(typed)
    message = str(error.value)
    assert message.startswith(f"no such folder: {typed}") and "\n" not in message


def test_files_and_folders_without_weights_are_one_line_errors(tmp_path):
    (tmp_path / "p2.pth").write_bytes(b"pickle")
    with pytest.raises(InputError, match=r"p2.pth is a file, not a model folder.*dabnet-zoo convert"):
        resolve_model(tmp_path / "p2.pth")
    with pytest.raises(CheckpointError) as error:
        resolve_model(tmp_path)
    assert "has no config.json and model.safetensors" in str(error.value)
    assert "p2.pth: pickled checkpoints are never loaded" in str(error.value) and "\n" not in str(error.value)
    (tmp_path / "config.json").write_text('{"model_type": "segformer"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a DABNet config .model_type 'segformer'"):
        resolve_model(tmp_path)


def test_the_registry_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, dabnet_zoo.registry, dabnet_zoo.presets; "
            "print(sorted(m for m in ('torch', 'transformers', 'timm', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
