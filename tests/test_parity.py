"""The six variants against golden outputs of the original implementation (tests/fixtures/parity/README.md).

The original-format weights are rebuilt with the fixtures' weight rule, written as an mmcv checkpoint, converted
with the converter, reloaded with from_pretrained and run in eval mode on the fixtures' input.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from tests.conftest import PARITY_DIR, PARITY_FIXTURES, parity_metadata
from dabnet_zoo import DabnetForSemanticSegmentation
from dabnet_zoo.convert import convert_checkpoint

RELATIVE_TOLERANCE = 1e-4


def _relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours - reference).abs().max() / reference.abs().max())


@pytest.mark.parametrize("variant", list(PARITY_FIXTURES))
def test_converted_model_reproduces_the_original(variant, original_checkpoint, tmp_path):
    meta = parity_metadata(variant)
    checkpoint = original_checkpoint(variant)
    output_dir = convert_checkpoint(checkpoint, tmp_path / "converted", variant, "cityscapes")
    checkpoint.unlink()  # free the disk early: P16 is 600 MB
    model = DabnetForSemanticSegmentation.from_pretrained(output_dir).eval()

    pixel_values = np.random.default_rng(meta["input_seed"]).standard_normal(meta["input_shape"], dtype=np.float32)
    assert hashlib.sha256(pixel_values.tobytes()).hexdigest() == meta["input_sha256"]
    with torch.no_grad():
        outputs = model(torch.from_numpy(pixel_values), output_auxiliary_logits=True)

    reference = load_file(PARITY_DIR / f"{PARITY_FIXTURES[variant]}.safetensors")
    for name, ours in zip(("decode_logits", "aux0_logits", "aux1_logits"), (outputs.logits, *outputs.auxiliary_logits)):
        assert ours.shape == reference[name].shape, name
        assert _relative_error(ours, reference[name]) <= RELATIVE_TOLERANCE, name

    # Whole-image prediction: logits resized to the input size, argmax; compared where the reference is no tie.
    size = pixel_values.shape[-2:]
    ours = F.interpolate(outputs.logits, size=size, mode="bilinear", align_corners=False).argmax(1)
    reference_scores = F.interpolate(reference["decode_logits"], size=size, mode="bilinear", align_corners=False)
    top2 = reference_scores.topk(2, dim=1).values
    decisive = (top2[:, 0] - top2[:, 1]) > RELATIVE_TOLERANCE * reference["decode_logits"].abs().max()
    assert decisive.float().mean() > 0.9  # the comparison covers almost every pixel
    assert torch.equal(ours[decisive], reference["pred"].long()[decisive])
