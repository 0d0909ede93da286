"""The fast inference path gives the eager model's outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dabnet_zoo.convert import convert_state_dict
from dabnet_zoo.deploy import fold_batch_norms, fuse_patch_unshuffle, optimize_for_inference
from dabnet_zoo.modeling_dabnet import DabnetSim
from tests.conftest import original_state_dict


@pytest.fixture(scope="module", params=["dabnet_r18_p2", "dabnet_effb1"])
def trained_like(request):
    """A model with non-trivial BN statistics (the parity weights), so folding is really exercised."""
    return convert_state_dict(original_state_dict(request.param), request.param)


def test_folding_removes_every_batch_norm_and_keeps_outputs(trained_like):
    pixel_values = torch.randn(1, 3, 128, 256)
    with torch.no_grad():
        reference = trained_like(pixel_values).logits
    fast = optimize_for_inference(trained_like)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fast.modules())
    logits = fast(pixel_values).logits
    assert (logits - reference).abs().max() <= 1e-4 * reference.abs().max()
    assert trained_like.training is False and any(  # the original model is left untouched
        isinstance(m, nn.BatchNorm2d) for m in trained_like.modules()
    )


def test_odd_sizes_still_work_on_the_fast_path(trained_like):
    pixel_values = torch.randn(2, 3, 90, 170)
    with torch.no_grad():
        reference = trained_like(pixel_values).logits
    logits = optimize_for_inference(trained_like, channels_last=False)(pixel_values).logits
    torch.testing.assert_close(logits, reference, rtol=1e-4, atol=1e-4 * float(reference.abs().max()))


def test_folding_needs_eval_mode():
    model = convert_state_dict(original_state_dict("dabnet_effb1"), "dabnet_effb1").train()
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norms(model)


@pytest.mark.parametrize("patch_size", [1, 2, 4])
def test_patch_unshuffle_fuses_into_one_strided_convolution(patch_size):
    sim = DabnetSim(channels=8, hidden_channels=4, patch_size=patch_size).eval()
    x = torch.randn(2, 8, 16 * patch_size, 8 * patch_size)
    with torch.no_grad():
        reference = sim(x)
        fuse_patch_unshuffle(sim)
        fused = sim(x)
    assert isinstance(sim.unshuffle, nn.Identity) and sim.h2l_0.kernel_size == (3 * patch_size, 3 * patch_size)
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-5)


def test_compiled_fast_path_keeps_the_outputs():
    model = convert_state_dict(original_state_dict("dabnet_r18_p2"), "dabnet_r18_p2")
    pixel_values = torch.randn(1, 3, 128, 256)
    with torch.no_grad():
        reference = model(pixel_values).logits
    logits = optimize_for_inference(model, compile=True)(pixel_values).logits
    assert (logits - reference).abs().max() <= 1e-4 * reference.abs().max()


def test_compile_options_reach_torch_compile_without_touching_global_config(monkeypatch):
    import torch._inductor.config as inductor_config

    seen = {}

    def fake_compile(network, options=None):
        seen["options"] = options
        return network

    monkeypatch.setattr(torch, "compile", fake_compile)
    optimize_for_inference(convert_state_dict(original_state_dict("dabnet_effb1"), "dabnet_effb1"),
                           compile=True, cuda_graphs=True)
    assert seen == {"options": {"freezing": True, "triton.cudagraphs": True}}
    assert inductor_config.freezing is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("compile, cuda_graphs", [(False, False), (True, True)])
def test_fast_path_on_a_gpu_keeps_the_outputs(trained_like, compile, cuda_graphs, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # compare IEEE float32 with IEEE float32
    pixel_values = torch.randn(1, 3, 256, 512)
    with torch.no_grad():
        reference = trained_like(pixel_values).logits
    fast = optimize_for_inference(trained_like.cuda(), compile=compile, cuda_graphs=cuda_graphs)
    trained_like.cpu()
    logits = fast(pixel_values.cuda()).logits.cpu()
    assert (logits - reference).abs().max() <= 1e-4 * reference.abs().max()


# ---------------------------------------------------------------------------------------------------------------
# Reduced precision: the CPU's instructions and the calibration images


def test_cpu_flags_are_read_from_cpuinfo_on_x86_and_arm(tmp_path):
    from dabnet_zoo.deploy import cpu_flags

    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 avx512_bf16 amx_int8\n\nprocessor\t: 1\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp bf16 i8mm\nCPU implementer\t: 0x41\n")
    assert cpu_flags(x86) == {"fpu", "avx2", "avx512_bf16", "amx_int8"}
    assert cpu_flags(arm) == {"fp", "asimd", "asimddp", "bf16", "i8mm"}
    assert cpu_flags(tmp_path / "missing") is None


@pytest.mark.parametrize("flags, refused", [({"avx2", "avx512f", "avx512_vnni"}, True), ({"amx_bf16"}, False),
                                            ({"avx512_bf16"}, False), ({"bf16", "asimd"}, False)])
def test_bf16_is_refused_only_without_bf16_instructions(monkeypatch, flags, refused):
    from dabnet_zoo import deploy
    from dabnet_zoo.errors import UnsupportedPrecisionError

    monkeypatch.setattr(deploy, "cpu_flags", lambda: frozenset(flags))
    deploy.check_cpu_precision("fp32")  # always fine
    if refused:
        with pytest.raises(UnsupportedPrecisionError, match=r"avx512_bf16, amx_bf16.*slower than fp32.*use fp32"):
            deploy.check_cpu_precision("bf16")
    else:
        deploy.check_cpu_precision("bf16")


def test_unknown_cpu_flags_warn_instead_of_refusing(monkeypatch, caplog):
    from dabnet_zoo import deploy

    monkeypatch.setattr(deploy, "cpu_flags", lambda: None)
    deploy.check_cpu_precision("bf16")
    assert "Cannot read this CPU's instruction sets" in caplog.text


def test_processed_images_are_spread_over_the_folder_and_prepared_by_the_processor(tmp_path):
    import numpy as np
    from PIL import Image

    from dabnet_zoo.deploy import ProcessedImages
    from dabnet_zoo.errors import InputError
    from dabnet_zoo.image_processing_dabnet import DabnetImageProcessor
    from dabnet_zoo.zoo import with_size

    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    for index in range(10):  # image i is one flat colour, value 20·i
        Image.fromarray(np.full((40, 60, 3), 20 * index, np.uint8)).save(tmp_path / f"{index:02d}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = ProcessedImages(tmp_path, DabnetImageProcessor(size={"height": 32, "width": 64}), limit=4)
    assert len(images) == 4 and [p.stem for p in images.paths] == ["00", "02", "05", "07"]
    pixel_values = images[1]
    assert pixel_values.shape == (1, 3, 32, 64)  # the processor's size
    expected = (40 - mean) / std  # ImageNet normalisation of the flat colour 40, per channel
    assert torch.allclose(pixel_values[0, :, 5, 5], torch.tensor(expected, dtype=torch.float32), atol=1e-5)
    assert ProcessedImages(tmp_path, with_size(DabnetImageProcessor(), (16, 24)))[0].shape == (1, 3, 16, 24)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="No images in"):
        ProcessedImages(empty, DabnetImageProcessor())
    with pytest.raises(InputError, match="does not exist"):
        ProcessedImages(tmp_path / "missing", DabnetImageProcessor())
    (tmp_path / "03.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")  # a calibration run stops on it, in one line
    with pytest.raises(InputError, match="03.png"):
        ProcessedImages(tmp_path, DabnetImageProcessor(), limit=10)[3]
