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


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_out_pointing_at_a_file_is_refused_before_loading(tmp_path, model_dir, capsys, monkeypatch):
    from dabnet_zoo import predict as predict_module

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(predict_module, "load_model", must_not_load)
    image((8, 8, 3)).save(tmp_path / "a.png")
    (tmp_path / "taken").write_text("a file")
    code = cli_main.main(["predict", str(model_dir), str(tmp_path / "a.png"), "--out", str(tmp_path / "taken")])
    assert code == 2 and "is a file; pass a folder" in one_error_line(capsys.readouterr().err)


def test_bad_models_are_one_line_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image((8, 8, 3)).save(tmp_path / "a.png")
    (tmp_path / "converted").mkdir()
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "iter_80000.pth").write_bytes(b"never unpickled")
    for model, expected in (("converted/nothere", "error: no such folder: converted/nothere"),
                            ("./nothere", "error: no such folder: ./nothere"),
                            ("pickled", "error: pickled has no config.json and model.safetensors. It holds "
                                        "iter_80000.pth"),
                            ("dabnet_r18_p3", "error: Unknown model 'dabnet_r18_p3'. Known models: dabnet_r18_p1")):
        assert cli_main.main(["predict", model, "a.png", "--out", "out"]) == 2
        assert one_error_line(capsys.readouterr().err).startswith(expected), model


@pytest.mark.parametrize("option", [["--batch-size", "0"], ["--batch-size", "-2"], ["--size", "0x64"]])
def test_counts_and_sizes_below_one_are_refused(tmp_path, model_dir, capsys, option):
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["predict", str(model_dir), "a.png", "--out", str(tmp_path / "o"), *option])
    assert exit_info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_size_overrides_the_saved_processor(tmp_path, model_dir, monkeypatch):
    from dabnet_zoo import predict as predict_module

    used = {}
    real_segment = predict_module.segment

    def spy(model, processor, images):
        used["size"], used["keep_ratio"] = processor.size, processor.keep_ratio
        return real_segment(model, processor, images)

    monkeypatch.setattr(predict_module, "segment", spy)
    image((20, 30, 3)).save(tmp_path / "a.png")
    code = cli_main.main(["predict", str(model_dir), str(tmp_path / "a.png"), "--out", str(tmp_path / "o"),
                          "--size", "64x96", "--device", "cpu", "--no-progress"])
    assert code == 0 and used == {"size": {"height": 64, "width": 96}, "keep_ratio": False}
    assert Image.open(tmp_path / "o" / "labels" / "a.png").size == (30, 20)


def test_incomplete_weights_are_refused_not_segmented_into_zeros(tmp_path, model_dir, capsys):
    import shutil

    from safetensors.torch import load_file, save_file

    partial = tmp_path / "partial"
    shutil.copytree(model_dir, partial)
    tensors = load_file(partial / "model.safetensors")
    save_file({k: v for k, v in tensors.items() if not k.startswith("decode_head.")}, partial / "model.safetensors",
              metadata={"format": "pt"})
    image((8, 8, 3)).save(tmp_path / "a.png")
    code = cli_main.main(["predict", str(partial), str(tmp_path / "a.png"), "--out", str(tmp_path / "o")])
    assert code == 2 and "tensor(s) the model needs: decode_head." in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()
