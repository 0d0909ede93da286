"""Smoke tests of ``dabnet-zoo predict`` through the dispatcher."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dabnet_zoo import create_model
from dabnet_zoo.cli import main as cli_main
from dabnet_zoo.image_processing_dabnet import DabnetImageProcessor


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A save_pretrained folder with a small processor beside the weights, as a converted model would have."""
    folder = tmp_path_factory.mktemp("model")
    create_model("dabnet_effb1").save_pretrained(folder)
    DabnetImageProcessor(size={"height": 32, "width": 64}).save_pretrained(folder)
    return folder


def image(shape, dtype=np.uint8, high=256, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, high, shape).astype(dtype))


def mixed_folder(root):
    root.mkdir()
    image((20, 30)).save(root / "gray.png")
    image((24, 40, 4), seed=1).save(root / "rgba.png")
    image((18, 26), np.uint16, 65536, seed=2).save(root / "deep.png")
    image((16, 16, 3), seed=3).quantize(colors=8).save(root / "palette.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def test_predict_mixed_folder(tmp_path, model_dir, capsys):
    folder = mixed_folder(tmp_path / "in")
    code = cli_main.main(["predict", str(model_dir), str(folder), "--out", str(tmp_path / "out"),
                          "--batch-size", "2", "--device", "cpu", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0
    assert "Segmented 4 image(s)" in captured.out
    assert "corrupt.png" in captured.err and "Skipped 1" in captured.err
    for name, size in {"gray": (30, 20), "rgba": (40, 24), "deep": (26, 18), "palette": (16, 16)}.items():
        for kind in ("labels", "color", "overlay"):
            assert Image.open(tmp_path / "out" / kind / f"{name}.png").size == size


def test_strict_and_nothing_readable_exit_1(tmp_path, model_dir, capsys):
    folder = mixed_folder(tmp_path / "in")
    args = ["--out", str(tmp_path / "out"), "--device", "cpu", "--no-progress", "--no-color", "--no-overlay"]
    assert cli_main.main(["predict", str(model_dir), str(folder), "--strict", *args]) == 1
    assert cli_main.main(["predict", str(model_dir), str(folder / "corrupt.png"), *args]) == 1
    assert "Segmented 0 image(s)" in capsys.readouterr().out


def test_usage_errors_exit_2_with_one_line(tmp_path, model_dir, capsys):
    code = cli_main.main(["predict", str(model_dir), str(tmp_path / "missing.png"), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "missing.png" in err and "Traceback" not in err


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["predict", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--cityscapes-label-ids" in out and "--batch-size" in out
