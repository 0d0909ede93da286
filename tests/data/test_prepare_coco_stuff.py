"""`prepare coco_stuff10k` (.mat) and `prepare coco_stuff164k` (stuffthingmaps) on tiny trees."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from dabnet_zoo.data.datasets import CocoStuffDataset
from dabnet_zoo.data.prepare_coco_stuff import prepare_coco_stuff10k, prepare_coco_stuff164k
from dabnet_zoo.errors import DabnetZooError, InputError

# docs/architecture.md §9.3-9.4: the 11 unused thing ids (1-based in the 10k .mat files, 0-based in the 164k PNGs).
UNUSED_1_BASED = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91}
USED_1_BASED = [i for i in range(1, 183) if i not in UNUSED_1_BASED]
USED_0_BASED = [i - 1 for i in USED_1_BASED]


def _expected_10k(value: int) -> int:
    return 0 if value == 0 else USED_1_BASED.index(value) + 1 if value in USED_1_BASED else 255


def _expected_164k(value: int) -> int:
    return 255 if value == 255 else USED_0_BASED.index(value) if value in USED_0_BASED else 255


def _hashes(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


# COCO-Stuff-10k ---------------------------------------------------------------------------------------------

VALUES_10K = np.array([0, 1, 11, 13, 92, 182, 150, 44, 46], dtype=np.uint8)  # every used id kind, no unused


@pytest.fixture
def tree10k(tmp_path: Path) -> Path:
    root = tmp_path / "coco_stuff10k"
    for folder in ("images", "annotations", "imageLists"):
        (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = {"train": ["COCO_train2014_000000000077", "COCO_train2014_000000000078"],
             "test": ["COCO_train2014_000000000079"]}
    for split, split_names in names.items():
        (root / "imageLists" / f"{split}.txt").write_text("".join(f"{n}\n" for n in split_names))
        for name in split_names:
            Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(root / "images" / f"{name}.jpg")
            savemat(root / "annotations" / f"{name}.mat",
                    {"S": VALUES_10K[rng.integers(len(VALUES_10K), size=(12, 16))].astype(np.uint16)})
    return root


def test_10k_copies_images_and_remaps_ids_with_the_spec_table(tree10k: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        summary = prepare_coco_stuff10k(tree10k, progress=False)
    assert len(summary.written) == 6  # 3 images + 3 labels
    assert "10000" in caplog.text.replace(",", ""), "a count different from the release is a warning, not an error"
    name = "COCO_train2014_000000000077"
    copied = tree10k / "images" / "train2014" / f"{name}.jpg"
    assert copied.read_bytes() == (tree10k / "images" / f"{name}.jpg").read_bytes()
    assert (tree10k / "images" / "test2014" / "COCO_train2014_000000000079.jpg").is_file()
    label = np.asarray(Image.open(tree10k / "annotations" / "train2014" / f"{name}_labelTrainIds.png"))
    from scipy.io import loadmat

    source = loadmat(tree10k / "annotations" / f"{name}.mat")["S"]
    expected = np.vectorize(_expected_10k)(source)
    assert label.dtype == np.uint8 and np.array_equal(label, expected)
    assert label.max() <= 171


def test_10k_unknown_ids_become_ignore_and_are_reported(tree10k: Path, caplog) -> None:
    name = "COCO_train2014_000000000078"
    savemat(tree10k / "annotations" / f"{name}.mat", {"S": np.array([[12, 13], [1, 200]], dtype=np.uint8)})
    with caplog.at_level(logging.WARNING):
        summary = prepare_coco_stuff10k(tree10k, progress=False)
    label = np.asarray(Image.open(tree10k / "annotations" / "train2014" / f"{name}_labelTrainIds.png"))
    assert label.tolist() == [[255, _expected_10k(13)], [1, 255]]
    assert any(name in note and "2 pixels" in note for note in summary.notes)
    assert "2 pixels" in caplog.text


def test_10k_rerun_skips_and_the_release_is_untouched(tree10k: Path) -> None:
    before = _hashes(tree10k)
    prepare_coco_stuff10k(tree10k, progress=False)
    outputs = sorted(set(_hashes(tree10k)) - set(before))
    stamps = [p.stat().st_mtime_ns for p in outputs]
    summary = prepare_coco_stuff10k(tree10k, progress=False)
    assert summary.written == [] and len(summary.skipped) == 6
    assert [p.stat().st_mtime_ns for p in outputs] == stamps
    assert {p: h for p, h in _hashes(tree10k).items() if p in before} == before


def test_10k_missing_files_are_listed(tree10k: Path) -> None:
    (tree10k / "annotations" / "COCO_train2014_000000000078.mat").unlink()
    with pytest.raises(InputError, match="COCO_train2014_000000000078.mat"):
        prepare_coco_stuff10k(tree10k, progress=False)
    (tree10k / "imageLists" / "test.txt").unlink()
    with pytest.raises(InputError, match="test.txt"):
        prepare_coco_stuff10k(tree10k, progress=False)


def test_10k_mat_without_field_s_names_the_file(tree10k: Path) -> None:
    savemat(tree10k / "annotations" / "COCO_train2014_000000000079.mat", {"labels": np.zeros((2, 2))})
    with pytest.raises(DabnetZooError, match="COCO_train2014_000000000079.mat.*'S'"):
        prepare_coco_stuff10k(tree10k, progress=False)


def test_10k_reader_applies_reduce_zero_label(tree10k: Path) -> None:
    prepare_coco_stuff10k(tree10k, progress=False)
    dataset = CocoStuffDataset(tree10k, "train", dataset="coco_stuff10k")
    assert len(dataset) == 2 and len(CocoStuffDataset(tree10k, "test", dataset="coco_stuff10k")) == 1
    sample = dataset[0]
    stored = np.asarray(Image.open(dataset.files[0][1])).astype(np.int64)
    expected = np.where(stored == 0, 255, stored - 1)
    assert np.array_equal(sample["label"].numpy(), expected)
    assert sample["label"].dtype == torch.int64 and int(sample["label"][sample["label"] != 255].max()) <= 170


# COCO-Stuff-164k --------------------------------------------------------------------------------------------


@pytest.fixture
def tree164k(tmp_path: Path) -> Path:
    root = tmp_path / "coco_stuff164k"
    values = np.array([0, 10, 11, 12, 91, 181, 255, 44, 45], dtype=np.uint8)  # 11 and 44 are unused ids
    rng = np.random.default_rng(0)
    for split, names in {"train2017": ["000000000009", "000000000025"], "val2017": ["000000000139"]}.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "annotations" / split).mkdir(parents=True)
        for name in names:
            image = rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / "images" / split / f"{name}.jpg")
            ids = values[rng.integers(len(values), size=(10, 14))]
            Image.fromarray(ids).save(root / "annotations" / split / f"{name}.png")
    return root


def test_164k_writes_labels_next_to_the_maps_with_the_spec_table(tree164k: Path) -> None:
    summary = prepare_coco_stuff164k(tree164k, progress=False)
    assert len(summary.written) == 3
    source = tree164k / "annotations" / "train2017" / "000000000009.png"
    out = source.with_name("000000000009_labelTrainIds.png")
    ids = np.asarray(Image.open(source))
    assert np.array_equal(np.asarray(Image.open(out)), np.vectorize(_expected_164k)(ids))
    assert any("000000000009.png" in note for note in summary.notes), "unused ids are reported"


def test_164k_rerun_does_not_take_its_outputs_as_inputs(tree164k: Path) -> None:
    before = _hashes(tree164k)
    prepare_coco_stuff164k(tree164k, progress=False)
    summary = prepare_coco_stuff164k(tree164k, progress=False)
    assert summary.written == [] and len(summary.skipped) == 3
    assert not list(tree164k.rglob("*_labelTrainIds_labelTrainIds.png"))
    assert {p: h for p, h in _hashes(tree164k).items() if p in before} == before


def test_164k_reader_keeps_zero(tree164k: Path) -> None:
    prepare_coco_stuff164k(tree164k, progress=False)
    dataset = CocoStuffDataset(tree164k, "val", dataset="coco_stuff164k")
    stored = np.asarray(Image.open(dataset.files[0][1]))
    assert np.array_equal(dataset[0]["label"].numpy(), stored)


def test_164k_bad_layouts(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="stuffthingmaps"):
        prepare_coco_stuff164k(tmp_path, progress=False)
    (tmp_path / "annotations" / "train2017").mkdir(parents=True)
    with pytest.raises(InputError, match="No stuffthingmap PNGs"):
        prepare_coco_stuff164k(tmp_path, progress=False)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "annotations" / "train2017" / "x.png")
    with pytest.raises(DabnetZooError, match="x.png.*single-channel"):
        prepare_coco_stuff164k(tmp_path, progress=False)
