"""The synthetic Cityscapes-layout generator: layout, determinism, label consistency, learnability."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import id2label
from PIL import Image

from dabnet_zoo.cli import synthetic as synthetic_cli
from dabnet_zoo.data import synthetic
from dabnet_zoo.data.prepare_cityscapes import prepare_cityscapes
from dabnet_zoo.data.synthetic import is_synthetic_root, make_synthetic_cityscapes
from dabnet_zoo.errors import InputError

NAME = re.compile(r"^(?P<city>[a-z]+)_(?P<seq>\d{6})_(?P<frame>\d{6})_leftImg8bit\.png$")


def _files(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.png"))}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return make_synthetic_cityscapes(tmp_path_factory.mktemp("synthetic") / "data", num_train=16, num_val=6,
                                     size=(64, 128), seed=0)


def test_cityscapes_layout_and_names(root: Path) -> None:
    images = sorted((root / "leftImg8bit").rglob("*.png"))
    assert len([p for p in images if p.parts[-3] == "train"]) == 16
    assert len([p for p in images if p.parts[-3] == "val"]) == 6
    for image in images:
        match = NAME.match(image.name)
        assert match and match["city"] == image.parent.name
        stem = image.name[: -len("_leftImg8bit.png")]
        gt = root / "gtFine" / image.parts[-3] / image.parent.name
        for suffix in ("_gtFine_labelTrainIds.png", "_gtFine_labelIds.png", "_gtFine_polygons.json"):
            assert (gt / f"{stem}{suffix}").is_file()
        assert Image.open(image).mode == "RGB" and Image.open(image).size == (128, 64)
    readme = (root / "README.txt").read_text()
    assert "SYNTHETIC" in readme and "NOT Cityscapes" in readme


def test_label_ids_and_train_ids_agree_with_the_official_table(root: Path) -> None:
    present = set()
    for train_ids_path in (root / "gtFine").rglob("*_gtFine_labelTrainIds.png"):
        train_ids = np.asarray(Image.open(train_ids_path))
        ids = np.asarray(Image.open(str(train_ids_path).replace("labelTrainIds", "labelIds")))
        expected = np.vectorize(lambda v: id2label[int(v)].trainId)(ids)
        expected[expected < 0] = 255
        assert np.array_equal(train_ids, expected)
        present |= set(np.unique(train_ids).tolist())
    assert {0, 1, 2, 10, 11, 13} <= present, "road, sidewalk, building, sky, person, car"
    assert present <= {0, 1, 2, 8, 10, 11, 13, 255}


def test_polygons_reproduce_the_label_maps_through_prepare(tmp_path: Path, root: Path) -> None:
    raw = make_synthetic_cityscapes(tmp_path / "raw", num_train=16, num_val=6, size=(64, 128), seed=0,
                                    train_ids=False)
    assert not list(raw.rglob("*_labelTrainIds.png"))
    summary = prepare_cityscapes(raw, progress=False)
    assert len(summary.written) == 22
    for path in root.rglob("*_gtFine_labelTrainIds.png"):
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(raw / path.relative_to(root))))


def test_deterministic_and_extensible(tmp_path: Path, root: Path) -> None:
    again = make_synthetic_cityscapes(tmp_path / "again", num_train=16, num_val=6, size=(64, 128), seed=0)
    assert _files(again) == _files(root)
    fewer = make_synthetic_cityscapes(tmp_path / "fewer", num_train=4, num_val=2, size=(64, 128), seed=0)
    assert all(_files(root)[name] == content for name, content in _files(fewer).items())
    other = make_synthetic_cityscapes(tmp_path / "other", num_train=4, num_val=0, size=(64, 128), seed=1)
    assert any(_files(root)[name] != content for name, content in _files(other).items())


def _pixels(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    colours, labels = [], []
    for image in sorted((root / "leftImg8bit" / split).rglob("*.png")):
        label = str(image).replace("leftImg8bit", "gtFine", 1).replace("_leftImg8bit.png", "_gtFine_labelTrainIds.png")
        colours.append(np.asarray(Image.open(image)).reshape(-1, 3).astype(np.float64))
        labels.append(np.asarray(Image.open(label)).reshape(-1))
    colours, labels = np.concatenate(colours), np.concatenate(labels)
    keep = labels != 255
    return colours[keep], labels[keep]


def test_colours_are_correlated_with_classes(root: Path) -> None:
    """Learnable: even a nearest-mean-colour rule, fitted on train, beats the majority class on val by far."""
    train_colours, train_labels = _pixels(root, "train")
    classes = np.unique(train_labels)
    means = np.stack([train_colours[train_labels == c].mean(0) for c in classes])
    val_colours, val_labels = _pixels(root, "val")
    predicted = classes[np.argmin(((val_colours[:, None, :] - means[None]) ** 2).sum(-1), axis=1)]
    accuracy = (predicted == val_labels).mean()
    majority = np.bincount(val_labels).max() / len(val_labels)
    assert accuracy > majority + 0.25, (accuracy, majority)


def test_sizes_are_configurable_and_validated(tmp_path: Path) -> None:
    small = make_synthetic_cityscapes(tmp_path / "small", num_train=1, num_val=0, size=(48, 96), polygons=False)
    image = next((small / "leftImg8bit").rglob("*.png"))
    assert Image.open(image).size == (96, 48)
    assert not list(small.rglob("*.json"))
    with pytest.raises(InputError, match="32x32"):
        make_synthetic_cityscapes(tmp_path / "tiny", num_train=1, num_val=0, size=(16, 16))


def test_never_writes_into_a_foreign_folder_but_refreshes_its_own(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("precious")
    with pytest.raises(InputError, match="refusing"):
        make_synthetic_cityscapes(foreign, num_train=1, num_val=0, size=(64, 64))
    assert [p.name for p in foreign.iterdir()] == ["thesis.txt"]
    (foreign / "README.txt").write_text("my own notes")
    assert not is_synthetic_root(foreign)

    own = make_synthetic_cityscapes(tmp_path / "own", num_train=3, num_val=0, size=(64, 64))
    assert is_synthetic_root(own)
    make_synthetic_cityscapes(own, num_train=1, num_val=0, size=(64, 64))
    assert len(list((own / "leftImg8bit").rglob("*.png"))) == 1, "stale images of the earlier run are removed"


def test_cli_make_synthetic(tmp_path: Path, capsys) -> None:
    parser = argparse.ArgumentParser()
    synthetic_cli.register(parser.add_subparsers())
    args = parser.parse_args(["make-synthetic", str(tmp_path / "demo"), "--num-train", "2", "--num-val", "1",
                              "--size", "64x96", "--no-progress"])
    assert args.func(args) == 0
    assert "2 train + 1 val" in capsys.readouterr().out
    assert Image.open(next((tmp_path / "demo" / "leftImg8bit" / "val").rglob("*.png"))).size == (96, 64)
    with pytest.raises(SystemExit):
        parser.parse_args(["make-synthetic", str(tmp_path / "x"), "--size", "64by96"])


def test_a_failed_refresh_keeps_the_earlier_dataset_whole(tmp_path: Path, monkeypatch) -> None:
    own = make_synthetic_cityscapes(tmp_path / "own", num_train=2, num_val=0, size=(64, 64))
    before = {p: p.read_bytes() for p in own.rglob("*") if p.is_file()}
    calls = []

    def fail_on_the_second_scene(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return render(*args, **kwargs)

    render = synthetic.render_synthetic_scene
    monkeypatch.setattr(synthetic, "render_synthetic_scene", fail_on_the_second_scene)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_cityscapes(own, num_train=3, num_val=0, size=(64, 64), seed=1)
    assert {p: p.read_bytes() for p in own.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own"]  # no half-built dataset beside it
