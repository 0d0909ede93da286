"""create_model / create_config / load_model: every variant x dataset, overrides and errors."""

from __future__ import annotations

import pytest

from dabnet_zoo import DabnetZooError, UnknownModelError, create_config, create_model, list_models, load_model
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
