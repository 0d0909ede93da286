"""hubconf.py: one torch.hub entrypoint per registered variant, loadable with source="local"."""

from pathlib import Path

import pytest
import torch

from dabnet_zoo import DabnetForSemanticSegmentation, DabnetZooError
from dabnet_zoo.registry import VARIANTS

REPO = str(Path(__file__).parents[1])


def test_every_variant_has_a_documented_entrypoint():
    hubconf = torch.hub._import_module("hubconf", str(Path(REPO) / "hubconf.py"))
    for name, variant in VARIANTS.items():
        assert variant.description in getattr(hubconf, name).__doc__


def test_torch_hub_load_returns_a_ready_model():
    model = torch.hub.load(REPO, "dabnet_r18_p8", source="local", dataset="camvid")
    assert isinstance(model, DabnetForSemanticSegmentation) and not model.training
    assert (model.config.patch_size, model.config.num_labels) == (8, 11)


def test_pretrained_never_falls_back_to_random_weights():
    with pytest.raises(DabnetZooError, match="dabnet-zoo convert"):
        torch.hub.load(REPO, "dabnet_effb1", source="local", pretrained=True)


def test_misspelt_keywords_are_refused_naming_the_accepted_ones():
    """num_classes=7 used to build a 19-class model silently."""
    message = r"dabnet_r18_p1\(\) got unexpected keyword argument.*'num_classes'.*num_labels"
    with pytest.raises(TypeError, match=message):
        torch.hub.load(REPO, "dabnet_r18_p1", source="local", num_classes=7)
    model = torch.hub.load(REPO, "dabnet_r18_p1", source="local", num_labels=7)
    assert model.decode_head.classifier.out_channels == 7
