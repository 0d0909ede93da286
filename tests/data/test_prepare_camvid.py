"""`prepare camvid` on a tiny tree in the original's layout (colour labels → 11-class TrainID maps)."""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dabnet_zoo.cli import prepare as prepare_cli
from dabnet_zoo.data.prepare_camvid import camvid_colours_to_index, prepare_camvid
from dabnet_zoo.errors import DabnetZooError, InputError

# The original converter's table (docs/architecture.md §9.2), typed here, independent of our code.
SPEC_COLOURS = {
    (128, 128, 128): 0, (128, 0, 0): 1, (192, 192, 128): 2, (128, 64, 128): 3, (0, 0, 192): 4,
    (128, 128, 0): 5, (192, 128, 128): 6, (64, 64, 128): 7, (64, 0, 128): 8, (64, 64, 0): 9, (0, 128, 192): 10,
}
# Some of CamVid's other 21 classes, and Void: the original leaves all of them ignored (255).
OTHER_CAMVID_COLOURS = [(0, 0, 0), (128, 0, 192), (64, 128, 192), (192, 64, 128), (64, 192, 128)]


def _colour_label(rng: np.random.Generator, height: int = 18, width: int = 24) -> np.ndarray:
    colours = np.array(list(SPEC_COLOURS) + OTHER_CAMVID_COLOURS, dtype=np.uint8)
    label = colours[rng.integers(len(colours), size=(height, width))]
    label[0, :3] = [[128, 128, 129], [1, 2, 3], [255, 255, 255]]  # near misses are not matches
    return label


def _reference(rgb: np.ndarray) -> np.ndarray:
    """The original's per-pixel loop, as docs/architecture.md §9.2 describes it."""
    out = np.full(rgb.shape[:2], 255, np.uint8)
    for i in range(rgb.shape[0]):
        for j in range(rgb.shape[1]):
            out[i, j] = SPEC_COLOURS.get(tuple(int(v) for v in rgb[i, j]), 255)
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "CamVid"
    rng = np.random.default_rng(0)
    for split, names in {"train": ["0001TP_006690", "0006R0_f00930"], "test": ["Seq05VD_f00000"]}.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "annotations" / split).mkdir(parents=True)
        for name in names:
            image = rng.integers(0, 256, (18, 24, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / "images" / split / f"{name}.png")
            Image.fromarray(_colour_label(rng)).save(root / "annotations" / split / f"{name}_L.png")
    return root


def test_vectorised_mapping_equals_the_per_pixel_rule() -> None:
    rgb = _colour_label(np.random.default_rng(1), 30, 40)
    assert np.array_equal(camvid_colours_to_index(rgb), _reference(rgb))


def test_writes_the_originals_names_and_values(tree: Path) -> None:
    summary = prepare_camvid(tree, progress=False)
    out = tree / "TrainID" / "train" / "0001TP_006690_L_TrainID.png"
    assert out in summary.written and len(summary.written) == 3
    assert (tree / "TrainID" / "test" / "Seq05VD_f00000_L_TrainID.png").is_file()
    written = Image.open(out)
    assert written.mode == "L"
    source = np.asarray(Image.open(tree / "annotations" / "train" / "0001TP_006690_L.png").convert("RGB"))
    label = np.asarray(written)
    assert np.array_equal(label, _reference(source))
    assert set(np.unique(label)) <= set(range(11)) | {255}
    assert (label == 255).any() and len(set(np.unique(label)) - {255}) == 11


def test_rgba_and_palette_labels_are_read_as_colours(tmp_path: Path) -> None:
    root = tmp_path / "CamVid"
    (root / "annotations" / "val").mkdir(parents=True)
    rgb = _colour_label(np.random.default_rng(2))
    Image.fromarray(rgb).convert("RGBA").save(root / "annotations" / "val" / "a_L.png")
    palette_label = Image.fromarray(rgb).quantize(colors=64, method=Image.Quantize.MAXCOVERAGE)
    palette_label.save(root / "annotations" / "val" / "b_L.png")
    prepare_camvid(root, progress=False)
    assert np.array_equal(np.asarray(Image.open(root / "TrainID/val/a_L_TrainID.png")), _reference(rgb))
    palette_rgb = np.asarray(Image.open(root / "annotations/val/b_L.png").convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(root / "TrainID/val/b_L_TrainID.png")), _reference(palette_rgb))


def test_rerun_skips_and_originals_are_untouched(tree: Path) -> None:
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tree.rglob("*") if p.is_file()}
    prepare_camvid(tree, progress=False)
    outputs = sorted((tree / "TrainID").rglob("*.png"))
    stamps = [p.stat().st_mtime_ns for p in outputs]
    summary = prepare_camvid(tree, progress=False)
    assert summary.written == [] and len(summary.skipped) == 3
    assert [p.stat().st_mtime_ns for p in outputs] == stamps
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before} == before


def test_missing_annotations_folder_explains_the_layout(tmp_path: Path) -> None:
    (tmp_path / "images" / "train").mkdir(parents=True)
    with pytest.raises(InputError) as error:
        prepare_camvid(tmp_path, progress=False)
    message = str(error.value)
    assert str(tmp_path / "annotations") in message and "_L.png" in message and "Kaggle" in message


def test_no_split_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "annotations" / "training").mkdir(parents=True)
    with pytest.raises(InputError, match="train, val, test"):
        prepare_camvid(tmp_path, progress=False)


def test_index_labels_are_refused_and_unmatched_colours_reported(tmp_path: Path, caplog) -> None:
    labels = tmp_path / "annotations" / "train"
    labels.mkdir(parents=True)
    Image.fromarray(np.full((4, 4), 3, np.uint8)).save(labels / "index_L.png")  # already class indices
    with pytest.raises(DabnetZooError, match="index_L.png.*single-channel"):
        prepare_camvid(tmp_path, progress=False)
    assert not (tmp_path / "TrainID" / "train" / "index_L_TrainID.png").exists()

    (labels / "index_L.png").unlink()
    Image.fromarray(np.full((4, 4, 3), (192, 0, 0), np.uint8)).save(labels / "bgr_L.png")  # Sidewalk saved as BGR
    with caplog.at_level(logging.WARNING):
        summary = prepare_camvid(tmp_path, progress=False)
    assert any("bgr_L.png" in note and "11 CamVid colours" in note for note in summary.notes)
    assert str(tmp_path / "images" / "train") in caplog.text, "a missing image folder is a warning"


def test_cli_prepare_runs_the_conversion(tree: Path, capsys) -> None:
    parser = argparse.ArgumentParser()
    prepare_cli.register(parser.add_subparsers())
    args = parser.parse_args(["prepare", "camvid", str(tree), "--nproc", "1", "--no-progress"])
    assert args.func(args) == 0
    assert "3 written" in capsys.readouterr().out
    assert len(list((tree / "TrainID").rglob("*_L_TrainID.png"))) == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["prepare", "kitti", str(tree)])
