"""ONNX export: the file runs in ONNX Runtime on the CPU and matches PyTorch at several shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dabnet_zoo import DabnetZooError
from dabnet_zoo.convert import convert_state_dict
from dabnet_zoo.export import TensorRTRunner, export_onnx, onnxruntime_session
from tests.conftest import original_state_dict

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def model():
    return convert_state_dict(original_state_dict("dabnet_r18_p2"), "dabnet_r18_p2")


def test_fp32_logits_match_pytorch_with_dynamic_batch_height_and_width(model, tmp_path):
    path = export_onnx(model, tmp_path / "model.onnx", 128, 256)
    session = onnxruntime_session(path)
    for shape in [(1, 3, 128, 256), (2, 3, 192, 320)]:
        pixel_values = torch.randn(shape)
        with torch.no_grad():
            reference = model(pixel_values).logits.numpy()
        logits = session.run(None, {"pixel_values": pixel_values.numpy()})[0]
        assert logits.shape == reference.shape
        assert np.abs(logits - reference).max() <= 1e-4 * np.abs(reference).max()


def test_fp16_graph_with_resize_and_argmax_gives_labels(model, tmp_path):
    path = export_onnx(model, tmp_path / "labels.onnx", 128, 256, include_postprocess=True, fp16=True)
    pixel_values = torch.randn(1, 3, 192, 256)
    labels = onnxruntime_session(path).run(None, {"pixel_values": pixel_values.numpy()})[0]
    with torch.no_grad():
        logits = model(pixel_values).logits
    reference = F.interpolate(logits, size=(192, 256), mode="bilinear", align_corners=False).argmax(1).numpy()
    assert labels.dtype == np.int32 and labels.shape == (1, 192, 256)
    assert (labels == reference).mean() > 0.99  # float16 flips only near-ties


def test_sizes_outside_the_rule_are_refused_with_the_fix(model, tmp_path):
    with pytest.raises(DabnetZooError, match=r"not a multiple of 64.*use e\.g\. 192x320"):
        export_onnx(model, tmp_path / "bad.onnx", 130, 300)
    assert not (tmp_path / "bad.onnx").exists()


def test_tensorrt_is_reported_clearly_when_missing(tmp_path):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(DabnetZooError, match="TensorRT is not installed"):
            TensorRTRunner(tmp_path / "model.engine")
    else:
        pytest.skip("tensorrt is installed; the GPU tests cover it")
