"""`dabnet-zoo export onnx` smoke test."""

import pytest

from dabnet_zoo.cli.main import main

pytest.importorskip("onnxruntime")


def test_export_onnx_writes_a_file(tmp_path, capsys):
    out = tmp_path / "p1.onnx"
    assert main(["export", "onnx", "dabnet_r18_p1", str(out), "--size", "64x128"]) == 0
    assert out.stat().st_size > 1_000_000 and str(out) in capsys.readouterr().out


def test_bad_size_is_one_line(tmp_path, capsys):
    assert main(["export", "onnx", "dabnet_r18_p8", str(tmp_path / "x.onnx"), "--size", "100x100"]) == 2
    assert "multiple of 256" in capsys.readouterr().err
