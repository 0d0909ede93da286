"""`prepare cityscapes` on a tiny tree in the real Cityscapes layout, and the shared conversion loop."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import name2label
from PIL import Image

from dabnet_zoo.data.conversion import ConversionTask, run_conversions
from dabnet_zoo.data.prepare import prepare_dataset
from dabnet_zoo.data.prepare_cityscapes import prepare_cityscapes
from dabnet_zoo.errors import DabnetZooError, InputError, NoSpaceError, UnknownModelError

H, W = 40, 60


def _polygons(objects: list[tuple[str, list[tuple[int, int]]]]) -> dict:
    return {"imgHeight": H, "imgWidth": W,
            "objects": [{"label": label, "polygon": [list(p) for p in polygon]} for label, polygon in objects]}


def _rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


# road at the bottom, a car on it with a license plate inside, a "cargroup" (drawn as car), a deleted-free
# "parking" area (no train id -> 255), the rest unlabeled background.
SCENE = [
    ("road", _rect(0, 25, W - 1, H - 1)),
    ("parking", _rect(0, 15, 9, 24)),
    ("car", _rect(20, 20, 39, 34)),
    ("license plate", _rect(27, 30, 32, 33)),
    ("cargroup", _rect(45, 20, 55, 30)),
]


def _make_tree(root: Path, scenes: dict[tuple[str, str, str], list]) -> None:
    for (split, city, stem), objects in scenes.items():
        image_dir = root / "leftImg8bit" / split / city
        gt_dir = root / "gtFine" / split / city
        image_dir.mkdir(parents=True, exist_ok=True)
        gt_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((H, W, 3), 100, np.uint8)).save(image_dir / f"{stem}_leftImg8bit.png")
        (gt_dir / f"{stem}_gtFine_polygons.json").write_text(json.dumps(_polygons(objects)))
        # the official download also has labelIds/color/instanceIds files; one stands in for them
        Image.fromarray(np.zeros((H, W), np.uint8)).save(gt_dir / f"{stem}_gtFine_labelIds.png")


def _hashes(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "cityscapes"
    _make_tree(root, {
        ("train", "aachen", "aachen_000000_000019"): SCENE,
        ("train", "bremen", "bremen_000001_000019"): SCENE[:1],
        ("val", "frankfurt", "frankfurt_000000_000294"): SCENE[2:3],
    })
    return root


def _train_id(name: str) -> int:
    return name2label[name].trainId


def test_writes_train_ids_with_the_official_table(tree: Path) -> None:
    summary = prepare_cityscapes(tree, progress=False)
    out = tree / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png"
    assert out in summary.written and len(summary.written) == 3
    label = np.asarray(Image.open(out))
    assert label.shape == (H, W) and label.dtype == np.uint8
    assert label[38, 5] == _train_id("road")
    assert label[22, 25] == _train_id("car")
    assert label[31, 29] == _train_id("car"), "the license plate (id -1) must not be drawn"
    assert label[25, 50] == _train_id("car"), "'cargroup' is drawn as 'car'"
    assert label[20, 5] == 255, "classes without a train id become 255"
    assert label[2, 2] == 255, "unlabeled background is 255"
    assert set(np.unique(label)) <= {_train_id("road"), _train_id("car"), 255}


def test_rerun_skips_finished_files_and_keeps_them(tree: Path) -> None:
    prepare_cityscapes(tree, progress=False)
    outputs = sorted(tree.rglob("*_gtFine_labelTrainIds.png"))
    stamps = [p.stat().st_mtime_ns for p in outputs]
    summary = prepare_cityscapes(tree, progress=False)
    assert summary.written == [] and sorted(summary.skipped) == outputs
    assert [p.stat().st_mtime_ns for p in outputs] == stamps


def test_originals_are_untouched_and_only_train_ids_are_added(tree: Path) -> None:
    before = _hashes(tree)
    prepare_cityscapes(tree, progress=False)
    after = _hashes(tree)
    assert {p: after[p] for p in before} == before
    added = set(after) - set(before)
    assert added and all(p.name.endswith("_gtFine_labelTrainIds.png") for p in added)
    assert not [p for p in tree.rglob(".*")]  # no temporary left


def test_an_existing_output_is_never_overwritten(tree: Path) -> None:
    existing = tree / "gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_labelTrainIds.png"
    existing.write_bytes(b"the user's own file")
    summary = prepare_cityscapes(tree, progress=False)
    assert existing in summary.skipped
    assert existing.read_bytes() == b"the user's own file"


def test_parallel_run_gives_the_same_files(tree: Path, tmp_path: Path) -> None:
    serial = tmp_path / "serial"
    _make_tree(serial, {("train", "aachen", f"aachen_00000{i}_000019"): SCENE for i in range(4)})
    parallel = tmp_path / "parallel"
    _make_tree(parallel, {("train", "aachen", f"aachen_00000{i}_000019"): SCENE for i in range(4)})
    prepare_cityscapes(serial, nproc=1, progress=False)
    summary = prepare_cityscapes(parallel, nproc=2, progress=False)
    assert len(summary.written) == 4
    for path in serial.rglob("*_labelTrainIds.png"):
        assert path.read_bytes() == (parallel / path.relative_to(serial)).read_bytes()


def test_missing_gtfine_names_the_path_and_the_layout(tmp_path: Path) -> None:
    (tmp_path / "leftImg8bit").mkdir()
    with pytest.raises(InputError) as error:
        prepare_cityscapes(tmp_path, progress=False)
    assert str(tmp_path / "gtFine") in str(error.value)
    assert "_gtFine_polygons.json" in str(error.value) and "leftImg8bit" in str(error.value)


def test_empty_gtfine_is_an_error_not_a_silent_no_op(tmp_path: Path) -> None:
    (tmp_path / "gtFine" / "train" / "aachen").mkdir(parents=True)
    with pytest.raises(InputError, match="_gtFine_polygons.json"):
        prepare_cityscapes(tmp_path, progress=False)


def test_a_bad_polygon_file_is_reported_by_name_and_the_others_are_kept(tree: Path) -> None:
    bad = tree / "gtFine/train/aachen/aachen_000002_000019_gtFine_polygons.json"
    bad.write_text(json.dumps(_polygons([("unicorn", _rect(0, 0, 5, 5))])))
    with pytest.raises(DabnetZooError) as error:
        prepare_cityscapes(tree, progress=False)
    assert "aachen_000002_000019_gtFine_polygons.json" in str(error.value)
    assert "unicorn" in str(error.value)
    assert len(list(tree.rglob("*_labelTrainIds.png"))) == 3
    assert not bad.with_name("aachen_000002_000019_gtFine_labelTrainIds.png").exists()


def test_prepare_dataset_dispatches_and_rejects_unknown_names(tree: Path) -> None:
    assert len(prepare_dataset("cityscapes", tree, progress=False).written) == 3
    with pytest.raises(UnknownModelError, match="cityscapes"):
        prepare_dataset("cityscape", tree)
    with pytest.raises(InputError, match="does not exist"):
        prepare_dataset("cityscapes", tree / "nope")


# The shared loop -------------------------------------------------------------------------------------------


def _crash_half_way(source: Path, temporary: Path) -> None:
    temporary.write_bytes(source.read_bytes()[:3])
    raise RuntimeError("disk full")


def _copy(source: Path, temporary: Path) -> None:
    temporary.write_bytes(source.read_bytes())


def test_a_crash_mid_write_leaves_no_file_that_looks_finished(tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"0123456789")
    output = tmp_path / "out" / "in_converted.bin"
    with pytest.raises(DabnetZooError, match="disk full"):
        run_conversions([ConversionTask(source, output, _crash_half_way)], progress=False)
    assert not output.parent.exists()  # nothing left, not even the folder made for it
    summary = run_conversions([ConversionTask(source, output, _copy)], progress=False)
    assert summary.written == [output] and output.read_bytes() == source.read_bytes()


def _full_disk(source: Path, temporary: Path) -> None:
    temporary.write_bytes(b"par")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_stops_the_run_in_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    sources = [tmp_path / f"in{i}.bin" for i in range(3)]
    for source in sources:
        source.write_bytes(b"abc")
    tasks = [ConversionTask(source, tmp_path / "out" / source.name, _full_disk) for source in sources]
    with pytest.raises(NoSpaceError, match=r"^no space left on .*\(needs about 1 MB\)"):
        run_conversions(tasks, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in0.bin", "in1.bin", "in2.bin"]


def test_leftovers_of_a_killed_run_are_cleaned_and_redone(tmp_path: Path, caplog) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"abc")
    output = tmp_path / "out.bin"
    killed = ("import os, sys\nfrom dabnet_zoo.fileio import atomic_file\n"
              "with atomic_file(sys.argv[1]) as temporary:\n    temporary.write_bytes(b'a')\n    os._exit(9)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    assert subprocess.run([sys.executable, "-c", killed, str(output)], env=env).returncode == 9
    assert len(list(tmp_path.glob(".out.bin.*"))) == 1  # the dead writer's temporary
    with caplog.at_level(logging.INFO):
        run_conversions([ConversionTask(source, output, _copy)], progress=False)
    assert output.read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.bin", "out.bin"]


def test_a_task_that_would_overwrite_its_source_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "same.png"
    source.write_bytes(b"original")
    with pytest.raises(InputError, match="onto itself"):
        run_conversions([ConversionTask(source, source, _copy)], progress=False)
    assert source.read_bytes() == b"original"


def _race(source: Path, temporary: Path) -> None:
    """A converter during which someone else creates the output (another run, or the user)."""
    temporary.write_bytes(b"ours")
    (source.parent / "raced.bin").write_bytes(b"theirs")


def test_a_file_that_appears_during_conversion_is_not_overwritten(tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"x")
    output = tmp_path / "raced.bin"
    summary = run_conversions([ConversionTask(source, output, _race)], progress=False)
    assert output.read_bytes() == b"theirs"
    assert any("kept the existing file" in note for note in summary.notes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.bin", "raced.bin"]
