"""The six variants against golden outputs of the original implementation (tests/fixtures/parity/README.md).

The original-format weights are rebuilt with the fixtures' weight rule, converted and run in eval mode on the
fixtures' input. DABNet-R-P2 goes the whole way through files (an mmcv checkpoint, ``convert_checkpoint``,
``from_pretrained``); the others are converted in memory, which checks the same arithmetic at a fraction of the
time (the P16 checkpoint alone is 600 MB).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from tests.conftest import PARITY_DIR, PARITY_FIXTURES, original_state_dict, parity_metadata
from dabnet_zoo import DabnetForSemanticSegmentation
from dabnet_zoo.convert import convert_checkpoint, convert_state_dict

RELATIVE_TOLERANCE = 1e-4


def _relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours - reference).abs().max() / reference.abs().max())


def _assert_reproduces_the_original(model: DabnetForSemanticSegmentation, variant: str) -> None:
    meta = parity_metadata(variant)
    pixel_values = np.random.default_rng(meta["input_seed"]).standard_normal(meta["input_shape"], dtype=np.float32)
    assert hashlib.sha256(pixel_values.tobytes()).hexdigest() == meta["input_sha256"]
    with torch.no_grad():
        outputs = model.eval()(torch.from_numpy(pixel_values), output_auxiliary_logits=True)

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


def test_a_converted_folder_reproduces_the_original(original_checkpoint, tmp_path):
    checkpoint = original_checkpoint("dabnet_r18_p2")
    output_dir = convert_checkpoint(checkpoint, tmp_path / "converted", "dabnet_r18_p2", "cityscapes")
    _assert_reproduces_the_original(DabnetForSemanticSegmentation.from_pretrained(output_dir), "dabnet_r18_p2")


@pytest.mark.parametrize("variant", [name for name in PARITY_FIXTURES if name != "dabnet_r18_p2"])
def test_every_variant_reproduces_the_original(variant):
    _assert_reproduces_the_original(convert_state_dict(original_state_dict(variant), variant, "cityscapes"), variant)
