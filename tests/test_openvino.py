"""OpenVINO: the FP32 IR gives PyTorch's logits, BF16 and INT8 stay within their stated tolerances, the precision
is the one asked for (and read back from the plugin), and unsupported setups are refused.

The weights are the parity fixtures' rule-generated ones and the inputs random: they show the arithmetic error of
each precision (logits, and labels where the top two classes are far apart), not its accuracy on real images,
which benchmarks/cpu_precision.py measures on a trained model."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dabnet_zoo import deploy
from dabnet_zoo.convert import convert_state_dict
from dabnet_zoo.deploy import ProcessedImages
from dabnet_zoo.errors import UnsupportedPrecisionError
from dabnet_zoo.image_processing_dabnet import DabnetImageProcessor
from tests.conftest import original_state_dict

ov = pytest.importorskip("openvino")
pytest.importorskip("nncf")
pytest.importorskip("onnxscript")

from dabnet_zoo.openvino import (  # noqa: E402 - after the skips
    OpenVinoRunner,
    compile_openvino,
    export_openvino,
    quantize_int8,
    read_openvino,
    to_openvino,
)

HAS_BF16 = not (deploy.cpu_flags() or frozenset()).isdisjoint(deploy.FAST_INSTRUCTIONS["bf16"])
needs_bf16 = pytest.mark.skipif(not HAS_BF16, reason="BF16 needs a CPU with avx512_bf16 or amx_bf16")


@pytest.fixture(scope="module")
def model():
    return convert_state_dict(original_state_dict("dabnet_r18_p2"), "dabnet_r18_p2").eval()


@pytest.fixture(scope="module")
def ov_model(model):
    """The FP32 IR with dynamic shapes (converted once: the dynamic ONNX export takes ~15 s)."""
    return to_openvino(model, verify_size=(64, 128))


@pytest.fixture(scope="module")
def inputs():
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(1, 3, 96, 160, generator=generator) for _ in range(2)]  # 96 is no multiple of 32·P


@pytest.fixture(scope="module")
def image_folders(tmp_path_factory):
    """Small PNG "photos" of smooth noise: eight the user calibrates on, two more of the same kind to check on."""
    rng = np.random.default_rng(0)
    folders = tmp_path_factory.mktemp("calibration"), tmp_path_factory.mktemp("check")
    for folder, count in zip(folders, (8, 2)):
        for index in range(count):
            coarse = rng.integers(0, 256, (8, 16, 3), dtype=np.uint8)
            Image.fromarray(coarse).resize((160, 96), Image.Resampling.BILINEAR).save(folder / f"{index}.png")
    return folders


def _compare(runner, model, inputs) -> tuple[float, float, float]:
    """Largest logits difference relative to the largest logit, and the label agreement with PyTorch FP32 on
    all pixels and on decisive ones (top-two margin above 5% of the largest logit)."""
    errors, agreement, decisive_agreement = [], [], []
    for pixel_values in inputs:
        with torch.no_grad():
            reference = model(pixel_values).logits
        logits = runner(pixel_values)
        assert logits.shape == reference.shape
        errors.append(float((logits - reference).abs().max() / reference.abs().max()))
        size = pixel_values.shape[-2:]
        scores = F.interpolate(reference, size=size, mode="bilinear", align_corners=False)
        ours = F.interpolate(logits, size=size, mode="bilinear", align_corners=False).argmax(1)
        same = ours == scores.argmax(1)
        top2 = scores.topk(2, dim=1).values
        decisive = (top2[:, 0] - top2[:, 1]) > 0.05 * reference.abs().max()
        assert decisive.float().mean() > 0.5  # the decisive pixels are most of the image
        agreement.append(float(same.float().mean()))
        decisive_agreement.append(float(same[decisive].float().mean()))
    return max(errors), min(agreement), min(decisive_agreement)


def test_fp32_is_asked_for_explicitly_and_matches_pytorch(model, ov_model, inputs):
    compiled = compile_openvino(ov_model, "fp32", threads=2)
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32  # read from the plugin itself
    runner = OpenVinoRunner(compiled)
    assert runner.inference_precision == "fp32"
    error, agreement, _ = _compare(runner, model, inputs)
    assert error <= 1e-4 and agreement == 1.0


def test_a_fixed_input_shape_is_compiled_without_changing_the_model(model, ov_model, inputs):
    runner = OpenVinoRunner(compile_openvino(ov_model, "fp32", input_shape=(1, 3, 96, 160)))
    assert _compare(runner, model, inputs)[0] <= 1e-4
    assert ov_model.input(0).get_partial_shape().is_dynamic


@needs_bf16
def test_bf16_stays_within_its_tolerance(model, ov_model, inputs):
    compiled = compile_openvino(ov_model, "bf16")
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16
    error, agreement, decisive = _compare(OpenVinoRunner(compiled), model, inputs)
    # BF16 keeps 8 significant bits: about 1% of the largest logit after the whole network (measured 0.98%).
    assert 1e-4 < error <= 2e-2 and agreement >= 0.97 and decisive >= 0.999


def test_int8_calibrated_on_images_quantises_and_stays_within_its_tolerance(model, ov_model, image_folders):
    processor = DabnetImageProcessor(size={"height": 64, "width": 128})
    calibration, check = (ProcessedImages(folder, processor) for folder in image_folders)
    assert len(calibration) == 8 and calibration[0].shape == (1, 3, 64, 128)  # the processor's size
    quantized = quantize_int8(ov_model, calibration)
    fake_quantize = [op for op in quantized.get_ordered_ops() if op.get_type_name() == "FakeQuantize"]
    assert len(fake_quantize) > 20 and "FakeQuantize" not in {op.get_type_name() for op in ov_model.get_ordered_ops()}
    error, agreement, decisive = _compare(OpenVinoRunner(compile_openvino(quantized, "fp32")), model, check)
    # 8-bit ranges from 8 images of the kind checked, on rule-generated weights: logits within ~3% of the largest
    # one (measured 2.8%), labels equal where the top two classes are apart. On a trained model and real images:
    # benchmarks/cpu_precision.py.
    assert error <= 0.06 and agreement >= 0.95 and decisive >= 0.99


def test_int8_without_calibration_images_is_refused(ov_model):
    for calibration in (None, []):
        with pytest.raises(UnsupportedPrecisionError, match="calibration images.*never|random data"):
            quantize_int8(ov_model, calibration)


@pytest.mark.parametrize("precision", ["fp16", "int8", "int4"])
def test_unknown_compile_precisions_are_refused(ov_model, precision):
    with pytest.raises(UnsupportedPrecisionError, match="computes in fp32 or bf16"):
        compile_openvino(ov_model, precision)


def test_bf16_on_a_cpu_without_bf16_instructions_is_refused_naming_them(ov_model, monkeypatch):
    monkeypatch.setattr(deploy, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_vnni"}))
    with pytest.raises(UnsupportedPrecisionError, match="avx512_bf16, amx_bf16"):
        compile_openvino(ov_model, "bf16")


def test_int8_on_a_cpu_without_vnni_warns_naming_the_instructions(monkeypatch, caplog):
    monkeypatch.setattr(deploy, "cpu_flags", lambda: frozenset({"avx2"}))
    with caplog.at_level(logging.WARNING, logger="dabnet_zoo.deploy"):
        deploy.check_cpu_precision("int8")
    assert "avx512_vnni, avx_vnni, amx_int8" in caplog.text and "no faster than fp32" in caplog.text


def test_export_writes_an_fp32_ir_folder_that_reads_back(model, ov_model, tmp_path, monkeypatch, inputs):
    from dabnet_zoo import openvino

    monkeypatch.setattr(openvino, "to_openvino", lambda *args, **kwargs: ov_model.clone())  # converted once above
    out = export_openvino(model, tmp_path / "nested" / "ir")
    assert {p.name for p in out.iterdir()} >= {"config.json", "openvino_model.bin", "openvino_model.xml"}
    parameters = sum(p.numel() for name, p in model.named_parameters() if not name.startswith("auxiliary"))
    assert (out / "openvino_model.bin").stat().st_size > 3.5 * parameters  # 4-byte weights, not halved to FP16
    runner = OpenVinoRunner(compile_openvino(read_openvino(out), "fp32"))
    assert _compare(runner, model, inputs)[0] <= 1e-4


def test_a_failed_export_leaves_nothing(model, tmp_path):
    with pytest.raises(UnsupportedPrecisionError):
        export_openvino(model, tmp_path / "a" / "ir", precision="int8")  # no calibration images
    with pytest.raises(UnsupportedPrecisionError, match="bf16 is chosen when it is compiled"):
        export_openvino(model, tmp_path / "a" / "ir", precision="bf16")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_refused_before_the_slow_conversion(model, tmp_path, monkeypatch):
    """Converting, verifying and calibrating take minutes: an output that cannot be written is refused first."""
    from dabnet_zoo import openvino
    from dabnet_zoo.errors import InputError, OutputExistsError

    def must_not_convert(*args, **kwargs):
        raise AssertionError("converted before refusing the output")

    monkeypatch.setattr(openvino, "to_openvino", must_not_convert)
    existing = tmp_path / "ir"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_openvino(model, existing)
    with pytest.raises(InputError, match="inside the input folder"):
        export_openvino(model, existing / "ir", inputs=[existing], overwrite=True)
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_a_converted_model_that_differs_from_pytorch_is_refused(model, monkeypatch):
    """The OpenVINO check uses the ONNX export's tolerance (1e-4 relative for FP32 logits): an IR whose logits
    are off by 1e-3 of their range is refused (the unchanged IR passes in the tests above)."""
    from dabnet_zoo import openvino
    from dabnet_zoo.errors import DabnetZooError

    run = openvino.OpenVinoRunner.__call__

    def off_by_1e3(self, pixel_values):
        output = run(self, pixel_values)
        return output + 1e-3 * output.abs().max()

    monkeypatch.setattr(openvino.OpenVinoRunner, "__call__", off_by_1e3)
    with pytest.raises(DabnetZooError, match="does not match PyTorch"):
        to_openvino(model, verify_size=(64, 64))
