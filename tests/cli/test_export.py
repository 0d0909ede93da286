"""`dabnet-zoo export onnx|tensorrt` from the command line."""

import pytest

from dabnet_zoo.cli.main import main

pytest.importorskip("onnxruntime")


def test_export_onnx_writes_a_file(tmp_path, capsys):
    out = tmp_path / "p1.onnx"
    assert main(["export", "onnx", "dabnet_r18_p1", str(out), "--size", "64x128"]) == 0
    printed = capsys.readouterr().out
    assert out.stat().st_size > 1_000_000 and str(out) in printed and "verified: ONNX Runtime gives PyTorch's outputs" in printed


def test_bad_size_is_one_line(tmp_path, capsys):
    assert main(["export", "onnx", "dabnet_r18_p8", str(tmp_path / "x.onnx"), "--size", "100x100"]) == 2
    assert "multiple of 256" in capsys.readouterr().err


def test_tensorrt_export_without_tensorrt_says_how_to_get_it(tmp_path, capsys):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorrt is installed; tests/test_export.py builds real engines")
    out = tmp_path / "p2.engine"
    assert main(["export", "tensorrt", "dabnet_r18_p2", str(out), "--size", "128x256"]) == 2
    assert "pip install tensorrt" in capsys.readouterr().err and not out.exists()
