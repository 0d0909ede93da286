"""`dabnet-zoo export onnx|openvino|tensorrt` from the command line."""

import pytest

from dabnet_zoo.cli.main import main

pytest.importorskip("onnxruntime")


def test_export_onnx_at_the_smallest_p2_size_writes_a_file(tmp_path, capsys):
    out = tmp_path / "new" / "p2.onnx"  # 64x64 crashed in torch.export and left the empty folders behind
    assert main(["export", "onnx", "dabnet_r18_p2", str(out), "--size", "64x64"]) == 0
    printed = capsys.readouterr().out
    assert out.stat().st_size > 1_000_000 and str(out) in printed and "verified: ONNX Runtime gives PyTorch's outputs" in printed


def test_bad_size_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "onnx", "dabnet_r18_p8", str(tmp_path / "x.onnx"), "--size", "0x100"])
    assert exit_info.value.code == 2 and "at least 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


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


def test_export_openvino_writes_an_ir_folder_and_says_what_it_computes_in(tmp_path, capsys):
    pytest.importorskip("openvino")
    out = tmp_path / "ir"
    assert main(["export", "openvino", "dabnet_r18_p2", str(out), "--size", "64x128"]) == 0
    assert {p.name for p in out.iterdir()} >= {"openvino_model.xml", "openvino_model.bin", "config.json"}
    printed = capsys.readouterr().out
    assert "fp32 weights" in printed and "BF16 on CPUs that have it unless FP32 is asked for" in printed


def test_export_openvino_int8_without_calibration_images_is_refused(tmp_path, capsys):
    pytest.importorskip("openvino")
    out = tmp_path / "ir"
    assert main(["export", "openvino", "dabnet_r18_p2", str(out), "--precision", "int8"]) == 2
    assert "int8 needs calibration images" in capsys.readouterr().err.lower() and not out.exists()


def test_export_openvino_over_its_own_model_folder_is_refused_and_deletes_nothing(tmp_path, capsys):
    pytest.importorskip("openvino")
    from dabnet_zoo import create_model

    folder = tmp_path / "model"
    create_model("dabnet_r18_p2").save_pretrained(folder)
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert main(["export", "openvino", str(folder), str(folder), "--overwrite", "--size", "64x128"]) == 2
    assert "it is the input itself" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
