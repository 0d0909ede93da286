"""Readers: prepared folder layouts, the Hugging Face path, label checks, the transform hook and seeding."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from cityscapesscripts.helpers.labels import id2label
from PIL import Image

from dabnet_zoo.data.datasets import (
    CamVidDataset,
    CityscapesDataset,
    HuggingFaceSegmentationDataset,
    SegmentationFolderDataset,
    create_dataset,
    read_image,
)
from dabnet_zoo.data.synthetic import make_synthetic_cityscapes
from dabnet_zoo.data.transforms import TrainTransform
from dabnet_zoo.errors import InputError, UnknownModelError


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    return make_synthetic_cityscapes(tmp_path_factory.mktemp("synthetic") / "root", num_train=3, num_val=1,
                                     size=(64, 128), seed=3)


def _camvid_tree(root: Path, labels: dict[str, np.ndarray]) -> Path:
    (root / "images" / "train").mkdir(parents=True)
    (root / "TrainID" / "train").mkdir(parents=True)
    for name, label in labels.items():
        image = np.stack([label.astype(np.uint8)] * 3, axis=-1) * 20
        Image.fromarray(image).save(root / "images" / "train" / f"{name}.png")
        Image.fromarray(label.astype(np.uint8)).save(root / "TrainID" / "train" / f"{name}_L_TrainID.png")
    return root


def test_cityscapes_samples_are_uint8_images_and_int64_labels(synthetic_root: Path) -> None:
    dataset = CityscapesDataset(synthetic_root, "train")
    assert len(dataset) == 3 and len(CityscapesDataset(synthetic_root, "val")) == 1
    names = [image.name for image, _ in dataset.files]
    assert names == sorted(names)
    sample = dataset[1]
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, 64, 128)
    assert sample["label"].dtype == torch.int64 and sample["label"].shape == (64, 128)
    stored = np.asarray(Image.open(dataset.files[1][1]))
    assert np.array_equal(sample["label"].numpy(), stored)
    assert np.array_equal(sample["image"].permute(1, 2, 0).numpy(), np.asarray(Image.open(dataset.files[1][0])))
    assert dataset[-1]["label"].shape == (64, 128)
    with pytest.raises(IndexError):
        dataset[3]


def test_cityscapes_label_ids_are_mapped_when_train_ids_are_missing(tmp_path: Path, synthetic_root: Path) -> None:
    raw = make_synthetic_cityscapes(tmp_path / "raw", num_train=3, num_val=0, size=(64, 128), seed=3,
                                    train_ids=False)
    from_ids = CityscapesDataset(raw, "train")
    assert all(label.name.endswith("_gtFine_labelIds.png") for _, label in from_ids.files)
    reference = CityscapesDataset(synthetic_root, "train")
    for i in range(len(reference)):
        ids = np.asarray(Image.open(from_ids.files[i][1]))
        expected = np.vectorize(lambda v: id2label[int(v)].trainId)(ids)
        expected[expected < 0] = 255
        assert np.array_equal(from_ids[i]["label"].numpy(), expected)
        assert np.array_equal(from_ids[i]["label"].numpy(), reference[i]["label"].numpy())


def test_missing_split_folder_names_the_path(synthetic_root: Path) -> None:
    with pytest.raises(InputError) as error:
        CityscapesDataset(synthetic_root, "test")
    assert str(synthetic_root / "leftImg8bit" / "test") in str(error.value)
    assert "_gtFine_labelTrainIds.png" in str(error.value)


def test_images_without_labels_are_listed(tmp_path: Path) -> None:
    root = _camvid_tree(tmp_path, {"a": np.zeros((8, 8)), "b": np.zeros((8, 8))})
    for name in ("c", "d"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "images" / "train" / f"{name}.png")
    with pytest.raises(InputError) as error:
        CamVidDataset(root, "train")
    message = str(error.value)
    assert "2 of 4 images" in message and "c_L_TrainID.png" in message and "d_L_TrainID.png" in message
    assert "dabnet-zoo prepare" in message


def test_out_of_range_labels_raise_by_default_naming_file_and_values(tmp_path: Path) -> None:
    label = np.zeros((8, 8))
    label[0, :3] = [11, 200, 255]  # CamVid has classes 0..10; 255 is fine
    root = _camvid_tree(tmp_path, {"bad": label})
    with pytest.raises(InputError) as error:
        CamVidDataset(root, "train")[0]
    message = str(error.value)
    assert "bad_L_TrainID.png" in message and "[11, 200]" in message


def test_out_of_range_labels_can_be_counted_and_ignored(tmp_path: Path, caplog) -> None:
    label = np.full((8, 8), 3)
    label[0, :3] = [11, 200, 255]
    root = _camvid_tree(tmp_path, {"bad": label})
    dataset = CamVidDataset(root, "train", invalid_labels="ignore")
    with caplog.at_level(logging.WARNING):
        result = dataset[0]["label"].numpy()
    assert result[0, :3].tolist() == [255, 255, 255] and (result[1:] == 3).all()
    assert list(dataset.invalid_label_report.values()) == [2]
    assert "bad_L_TrainID.png" in caplog.text and "2 pixels" in caplog.text


def test_cityscapes_label_ids_by_mistake_get_a_hint(tmp_path: Path) -> None:
    image_dir = tmp_path / "leftImg8bit" / "train" / "x"
    gt_dir = tmp_path / "gtFine" / "train" / "x"
    image_dir.mkdir(parents=True)
    gt_dir.mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(image_dir / "x_000000_000019_leftImg8bit.png")
    Image.fromarray(np.full((4, 4), 26, np.uint8)).save(gt_dir / "x_000000_000019_gtFine_labelTrainIds.png")
    with pytest.raises(InputError, match="labelIds"):
        CityscapesDataset(tmp_path, "train")[0]


def test_label_size_must_match_the_image(tmp_path: Path) -> None:
    root = _camvid_tree(tmp_path, {"a": np.zeros((8, 8))})
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(root / "TrainID" / "train" / "a_L_TrainID.png")
    with pytest.raises(InputError, match="differs from image size"):
        CamVidDataset(root, "train")[0]


def test_transform_hook_and_per_sample_seeding(synthetic_root: Path) -> None:
    transform = TrainTransform(scale=(64, 128), crop_size=(32, 48))
    seeded = CityscapesDataset(synthetic_root, "train", transform=transform, seed=7)
    first = seeded[2]
    assert first["image"].dtype == torch.float32 and first["image"].shape == (3, 32, 48)
    assert first["label"].shape == (32, 48)
    _ = seeded[0]  # access order must not matter
    again = seeded[2]
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["label"], again["label"])
    same_seed = CityscapesDataset(synthetic_root, "train", transform=transform, seed=7)[2]
    assert torch.equal(first["image"], same_seed["image"])
    different = []
    for epoch in range(1, 4):
        seeded.set_epoch(epoch)
        different.append(not torch.equal(seeded[2]["image"], first["image"]))
    assert any(different), "a new epoch must give new augmentations"
    assert seeded.sample_generator(0) is not None
    assert CityscapesDataset(synthetic_root, "train").sample_generator(0) is None


def test_transform_without_seed_gets_no_generator(synthetic_root: Path) -> None:
    calls = []

    def transform(image, label):
        calls.append((image.dtype, label.dtype))
        return image, label

    CityscapesDataset(synthetic_root, "val", transform=transform)[0]
    assert calls == [(torch.uint8, torch.int64)]


def test_create_dataset_by_name(synthetic_root: Path) -> None:
    assert len(create_dataset("cityscapes", synthetic_root, "train")) == 3
    with pytest.raises(UnknownModelError, match="cityscapes"):
        create_dataset("citiscapes", synthetic_root)


# Hugging Face datasets --------------------------------------------------------------------------------------


def test_huggingface_dataset_object_with_custom_columns() -> None:
    import datasets

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)) for _ in range(2)]
    labels = [Image.fromarray(rng.integers(0, 4, (6, 8), dtype=np.uint8)) for _ in range(2)]
    data = datasets.Dataset.from_dict({"pixel_values": images, "annotation": labels}).cast_column(
        "pixel_values", datasets.Image()).cast_column("annotation", datasets.Image())
    dataset = HuggingFaceSegmentationDataset(data, num_labels=4, image_column="pixel_values",
                                             label_column="annotation")
    sample = dataset[1]
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, 6, 8)
    assert np.array_equal(sample["label"].numpy(), np.asarray(labels[1]))
    with pytest.raises(InputError) as error:
        HuggingFaceSegmentationDataset(data, num_labels=4)
    assert "pixel_values" in str(error.value) and "annotation" in str(error.value)


def test_huggingface_reduce_zero_label_and_colour_labels() -> None:
    import datasets

    label = np.array([[0, 1], [2, 255]], dtype=np.uint8)
    data = datasets.Dataset.from_dict({
        "image": [Image.fromarray(np.zeros((2, 2, 3), np.uint8))] * 2,
        "label": [Image.fromarray(label), Image.fromarray(np.zeros((2, 2, 3), np.uint8))],
    }).cast_column("image", datasets.Image()).cast_column("label", datasets.Image())
    dataset = HuggingFaceSegmentationDataset(data, num_labels=2, reduce_zero_label=True)
    assert dataset[0]["label"].tolist() == [[255, 0], [1, 255]]
    with pytest.raises(InputError, match="RGB image"):
        dataset[1]


def test_huggingface_local_imagefolder(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "train"
    folder.mkdir(parents=True)
    rows = []
    for i in range(3):
        Image.fromarray(np.full((5, 7, 3), 40 * i, np.uint8)).save(folder / f"img{i}.png")
        Image.fromarray(np.full((5, 7), i, np.uint8)).save(folder / f"img{i}_label.png")
        rows.append({"file_name": f"img{i}.png", "label_file_name": f"img{i}_label.png"})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    dataset = HuggingFaceSegmentationDataset(tmp_path / "data", num_labels=3, split="train",
                                             cache_dir=tmp_path / "cache")
    assert len(dataset) == 3
    values = sorted(int(dataset[i]["label"][0, 0]) for i in range(3))
    assert values == [0, 1, 2]
    for i in range(3):
        sample = dataset[i]
        assert int(sample["image"][0, 0, 0]) == 40 * int(sample["label"][0, 0])


def test_unreadable_images_are_one_line_errors_naming_the_file(tmp_path):
    """A damaged or vanished image must stop a run with an InputError (which evaluation raises on every process
    together), not a raw ValueError/OSError traceback on one of them."""
    label = tmp_path / "label.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(label)
    (tmp_path / "damaged.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    dataset = SegmentationFolderDataset(
        [(tmp_path / "damaged.png", label), (tmp_path / "vanished.png", label)], num_labels=19
    )
    for index, name in enumerate(("damaged.png", "vanished.png")):
        with pytest.raises(InputError, match=name):
            dataset[index]
        with pytest.raises(InputError, match=name):
            read_image(tmp_path / name)
