"""ONNX export: the file runs in ONNX Runtime on the CPU and matches PyTorch at any size (the graph pads as the
model does). TensorRT: engines match PyTorch where tensorrt and a GPU exist, and are refused clearly elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dabnet_zoo import DabnetZooError, InputError
from dabnet_zoo.convert import convert_state_dict
from dabnet_zoo.export import (
    OnnxRuntimeRunner,
    TensorRTRunner,
    build_tensorrt_engine,
    export_onnx,
    onnx_config,
    onnxruntime_session,
    padded_side,
    verify_onnx,
)
from dabnet_zoo.modeling_dabnet import valid_input_size
from tests.conftest import original_state_dict

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def model():
    return convert_state_dict(original_state_dict("dabnet_r18_p2"), "dabnet_r18_p2")


@pytest.fixture(scope="module")
def logits_onnx(model, tmp_path_factory):
    """FP32 logits graph with dynamic batch, height and width (exported once: each export takes ~15 s)."""
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "logits.onnx", 128, 256)


@pytest.fixture(scope="module")
def labels_fp16_onnx(model, tmp_path_factory):
    """FP16 graph ending in resize + argmax."""
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "labels.onnx", 128, 256, include_postprocess=True,
                       fp16=True)


def test_fp32_logits_match_pytorch_with_dynamic_batch_height_and_width(model, logits_onnx):
    session = onnxruntime_session(logits_onnx)
    # Multiples of 32·P = 64, multiples of 32 only (padded in the graph), odd sizes, the smallest valid P2 size.
    for shape in [(1, 3, 128, 256), (2, 3, 192, 320), (1, 3, 96, 160), (1, 3, 100, 170), (2, 3, 33, 65),
                  (1, 3, 64, 64)]:
        pixel_values = torch.randn(shape)
        with torch.no_grad():
            reference = model(pixel_values).logits.numpy()
        logits = session.run(None, {"pixel_values": pixel_values.numpy()})[0]
        assert logits.shape == reference.shape
        assert np.abs(logits - reference).max() <= 1e-4 * np.abs(reference).max()


def test_fp16_graph_with_resize_and_argmax_gives_labels(model, labels_fp16_onnx):
    pixel_values = torch.randn(1, 3, 192, 256)
    labels = onnxruntime_session(labels_fp16_onnx).run(None, {"pixel_values": pixel_values.numpy()})[0]
    with torch.no_grad():
        logits = model(pixel_values).logits
    reference = F.interpolate(logits, size=(192, 256), mode="bilinear", align_corners=False).argmax(1).numpy()
    assert labels.dtype == np.int32 and labels.shape == (1, 192, 256)
    assert (labels == reference).mean() > 0.99  # float16 flips only near-ties


def test_static_export_fixes_the_whole_shape_including_batch(model, tmp_path):
    session = onnxruntime_session(export_onnx(model, tmp_path / "static.onnx", 128, 256, dynamic=False, batch_size=2))
    assert session.get_inputs()[0].shape == [2, 3, 128, 256]
    assert session.get_outputs()[0].shape == [2, model.config.num_labels, 16, 32]


@pytest.mark.parametrize("graph, output, fp16, tolerance",
                         [("logits_onnx", "logits", False, 1e-4), ("labels_fp16_onnx", "labels", True, 1e-2)])
def test_verification_measures_onnx_runtime_against_pytorch(model, request, graph, output, fp16, tolerance):
    verification = verify_onnx(model, request.getfixturevalue(graph), torch.randn(1, 3, 128, 256), fp16=fp16)
    assert (verification.output, verification.tolerance) == (output, tolerance)
    assert 0 <= verification.error <= verification.tolerance


def test_a_graph_that_differs_from_pytorch_is_not_written(model, tmp_path, monkeypatch):
    from dabnet_zoo import export

    def broken_fusion(network):  # a graph rewrite with a bug: one weight off
        with torch.no_grad():
            next(network.parameters()).mul_(1.5)
        return network

    monkeypatch.setattr(export, "fuse_patch_unshuffle", broken_fusion)
    with pytest.raises(DabnetZooError, match="does not match PyTorch.*was not written"):
        export_onnx(model, tmp_path / "model.onnx", 128, 256, dynamic=False, verify=True)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its staging folder


@pytest.mark.parametrize("patch_size", [1, 2, 4, 8, 16])
def test_the_graphs_padding_rule_is_the_models(patch_size):
    for side in range(1, 2100):
        assert padded_side(side, patch_size) == valid_input_size(side, side, patch_size)[0], side


def test_a_p4_graph_gives_pytorchs_logits_at_sizes_that_are_no_multiple_of_128(tmp_path):
    """Issue case: a dynamic P4 export at 96x160 (multiples of 32, not of 32·P) returned wrong logits."""
    p4 = convert_state_dict(original_state_dict("dabnet_r18_p4"), "dabnet_r18_p4")
    runner = OnnxRuntimeRunner(onnxruntime_session(export_onnx(p4, tmp_path / "p4.onnx", 128, 256)))
    for shape in [(1, 3, 96, 160), (1, 3, 160, 224)]:
        pixel_values = torch.randn(shape)
        with torch.no_grad():
            reference = p4(pixel_values).logits
        logits = runner(pixel_values)
        assert logits.shape == reference.shape == (1, 19, shape[2] // 8, shape[3] // 8)
        assert (logits - reference).abs().max() <= 1e-4 * reference.abs().max()


def test_a_static_export_takes_any_size(model, tmp_path):
    path = export_onnx(model, tmp_path / "small.onnx", 64, 64, dynamic=False, verify=True)  # smallest P2 size
    assert onnxruntime_session(path).get_inputs()[0].shape == [1, 3, 64, 64]


def test_bad_sizes_are_refused_and_a_failed_export_leaves_no_folder(model, tmp_path, monkeypatch):
    with pytest.raises(DabnetZooError, match="at least 1"):
        export_onnx(model, tmp_path / "bad.onnx", 0, 128)
    with pytest.raises(DabnetZooError, match="at least 1"):
        export_onnx(model, tmp_path / "bad.onnx", 128, 128, dynamic=False, batch_size=0)

    def failing_export(*args, **kwargs):
        raise RuntimeError("torch.export failed")

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    with pytest.raises(RuntimeError, match="torch.export failed"):
        export_onnx(model, tmp_path / "new" / "folder" / "model.onnx", 64, 64)
    assert list(tmp_path.iterdir()) == []


def test_the_file_names_its_model(model, logits_onnx, tmp_path):
    assert onnx_config(logits_onnx).to_dict() == model.config.to_dict()
    foreign = tmp_path / "foreign.onnx"
    import onnx

    proto = onnx.load(str(logits_onnx))
    del proto.metadata_props[:]
    onnx.save(proto, str(foreign))
    with pytest.raises(DabnetZooError, match="carries no dabnet-zoo model config.*--onnx"):
        onnx_config(foreign)


@pytest.mark.parametrize("graph", ["logits_onnx", "labels_fp16_onnx"])
def test_io_binding_runner_gives_the_sessions_outputs_as_torch_tensors(request, graph):
    session = onnxruntime_session(request.getfixturevalue(graph))
    pixel_values = torch.randn(2, 3, 100, 170)  # logits of ceil(H/8) x ceil(W/8)
    output = OnnxRuntimeRunner(session)(pixel_values)
    expected = session.run(None, {"pixel_values": pixel_values.numpy()})[0]
    assert isinstance(output, torch.Tensor) and output.numpy().dtype == expected.dtype
    np.testing.assert_array_equal(output.numpy(), expected)


def _tensorrt_available() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


needs_tensorrt = pytest.mark.skipif(
    not _tensorrt_available(), reason="TensorRT tests need an NVIDIA GPU and `pip install tensorrt`"
)


@needs_tensorrt
@pytest.mark.parametrize("fp16", [False, True])
def test_tensorrt_engine_matches_pytorch(model, tmp_path, fp16):
    shape = (1, 3, 256, 512)
    onnx_path = export_onnx(model, tmp_path / "model.onnx", *shape[2:], fp16=fp16, dynamic=False)
    runner = TensorRTRunner(build_tensorrt_engine(onnx_path, tmp_path / "model.engine", shape))
    pixel_values = torch.randn(shape)
    logits = runner(pixel_values.cuda()).float().cpu()
    with torch.no_grad():
        reference = model(pixel_values).logits
    tolerance = 2e-2 if fp16 else 1e-4
    assert logits.shape == reference.shape
    assert (logits - reference).abs().max() <= tolerance * reference.abs().max()
    assert (logits.argmax(1) == reference.argmax(1)).float().mean() > 0.99


@needs_tensorrt
def test_tensorrt_dynamic_engine_takes_shapes_in_its_profile_only(model, tmp_path):
    onnx_path = export_onnx(model, tmp_path / "model.onnx", 128, 256)
    engine = build_tensorrt_engine(onnx_path, tmp_path / "model.engine", (1, 3, 128, 256),
                                   min_input_shape=(1, 3, 64, 64), max_input_shape=(2, 3, 256, 512))
    runner = TensorRTRunner(engine)
    pixel_values = torch.randn(2, 3, 192, 320)
    with torch.no_grad():
        reference = model(pixel_values).logits
    logits = runner(pixel_values.cuda()).cpu()
    assert (logits - reference).abs().max() <= 1e-4 * reference.abs().max()
    with pytest.raises(DabnetZooError, match="does not accept the input shape"):
        runner(torch.randn(4, 3, 128, 256, device="cuda"))
    with pytest.raises(DabnetZooError, match="float32 CUDA tensors"):
        runner(pixel_values)


def test_tensorrt_is_reported_clearly_when_missing(tmp_path):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(DabnetZooError, match="TensorRT is not installed"):
            TensorRTRunner(tmp_path / "model.engine")
        with pytest.raises(DabnetZooError, match="TensorRT is not installed"):
            build_tensorrt_engine(tmp_path / "model.onnx", tmp_path / "model.engine", (1, 3, 64, 64))
        assert not (tmp_path / "model.engine").exists()
    else:
        pytest.skip("tensorrt is installed; the TensorRT tests above cover it")


def test_a_missing_or_damaged_onnx_file_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="No ONNX file at .*missing.onnx.*export onnx"):
        onnxruntime_session(tmp_path / "missing.onnx")
    (tmp_path / "damaged.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(InputError, match="damaged.onnx is not a readable ONNX file"):
        onnxruntime_session(tmp_path / "damaged.onnx")
