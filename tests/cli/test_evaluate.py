"""Smoke tests of ``dabnet-zoo evaluate`` through the dispatcher."""

from __future__ import annotations

import zipfile

import pytest

from dabnet_zoo import create_model
from dabnet_zoo.cli import main as cli_main
from dabnet_zoo.data import make_synthetic_cityscapes


@pytest.fixture(autouse=True)
def evaluate_registered(monkeypatch):
    """Dispatch through main() whether or not its COMMANDS lists "evaluate" yet."""
    if "evaluate" not in cli_main.COMMANDS:
        monkeypatch.setattr(cli_main, "COMMANDS", (*cli_main.COMMANDS, "evaluate"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_evaluate")
    make_synthetic_cityscapes(folder / "data", num_train=0, num_val=2, size=(64, 128))
    create_model("dabnet_r18_p1").save_pretrained(folder / "model")
    return folder


def test_evaluate_prints_the_table(setup, capsys):
    argv = ["evaluate", str(setup / "model"), "--data-root", str(setup / "data"), "--test-size", "32", "64",
            "--num-workers", "0", "--device", "cpu", "--no-progress"]
    assert cli_main.main(argv) == 0
    out = capsys.readouterr().out
    assert "road" in out and "bicycle" in out and "mIoU" in out
    assert "2 images, cityscapes val, whole mode" in out


def test_format_only_zips_one_png_per_image(setup, tmp_path):
    argv = ["evaluate", str(setup / "model"), "--data-root", str(setup / "data"), "--split", "val", "--format-only",
            "--out", str(tmp_path / "png"), "--test-size", "32", "64", "--num-workers", "0", "--device", "cpu",
            "--no-progress"]
    assert cli_main.main(argv) == 0
    images = sorted((setup / "data" / "leftImg8bit" / "val").glob("*/*_leftImg8bit.png"))
    with zipfile.ZipFile(tmp_path / "png.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f"{image.stem}.png" for image in images)


def test_class_count_mismatch_is_one_line(setup, tmp_path, capsys):
    create_model("dabnet_r18_p1", dataset="camvid").save_pretrained(tmp_path / "camvid_model")
    capsys.readouterr()  # drop the saving progress bar
    argv = ["evaluate", str(tmp_path / "camvid_model"), "--dataset", "cityscapes", "--data-root",
            str(setup / "data"), "--num-workers", "0", "--device", "cpu"]
    assert cli_main.main(argv) == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after transformers' loading bar
    assert last.startswith("error:")
    assert "11 classes" in last and "19" in last
