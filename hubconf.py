"""torch.hub entrypoints, one per registered variant: ``torch.hub.load(repo, "dabnet_r18_p8", source="local")``.

The entrypoints are generated from the registry so they cannot drift from it. ``pretrained=True`` goes through
``dabnet_zoo.create_model``, which downloads the weights at the revision pinned in the registry and checks their
sha256 (``dabnet_zoo.weights``), or raises an error naming the Hub repo and how to convert the original checkpoint.
"""

dependencies = ["torch", "timm", "transformers", "safetensors", "huggingface_hub"]

from dabnet_zoo.configuration_dabnet import DabnetConfig as _DabnetConfig  # noqa: E402
from dabnet_zoo.registry import HUB_ORGANIZATION as _HUB_ORGANIZATION  # noqa: E402
from dabnet_zoo.registry import VARIANTS as _VARIANTS  # noqa: E402
from dabnet_zoo.registry import list_weights as _list_weights  # noqa: E402
from dabnet_zoo.zoo import create_model as _create_model  # noqa: E402


_CONFIG_ARGUMENTS = _DabnetConfig.argument_names()


def _entrypoint(name: str):
    variant = _VARIANTS[name]

    def entrypoint(pretrained: bool = False, dataset: str = "cityscapes", **kwargs):
        unknown = [key for key in kwargs if key not in _CONFIG_ARGUMENTS]
        if unknown:  # a misspelt keyword (num_classes=7) must not build a default model
            raise TypeError(
                f"{name}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; it accepts "
                f"pretrained, dataset and the DabnetConfig fields {', '.join(_CONFIG_ARGUMENTS)}."
            )
        return _create_model(name, dataset=dataset, pretrained=pretrained, **kwargs).eval()

    published = [entry.dataset for entry in _list_weights(name, published=True)]
    entrypoint.__name__ = name
    entrypoint.__doc__ = (
        f"{variant.description}.\n\n"
        f"{variant.num_params / 1e6:.2f} M parameters, {variant.gmacs:.1f} GMACs at 2048x1024; inputs of any size "
        f"(multiples of {variant.input_multiple} run unpadded).\n\n"
        "Args:\n"
        f"    pretrained: load the trained weights from the Hugging Face Hub ({_HUB_ORGANIZATION}/{name}.<dataset>,\n"
        "        pinned revision, sha256-checked). Published for: "
        f"{', '.join(published) if published else 'none yet'}; otherwise an error says how\n"
        "        to convert the original checkpoint (never random weights).\n"
        "    dataset: cityscapes, camvid, coco_stuff10k or coco_stuff164k (sets the classes).\n"
        "    **kwargs: DabnetConfig overrides, e.g. num_labels; any other name raises TypeError.\n\n"
        "Returns a DabnetForSemanticSegmentation in eval mode."
    )
    return entrypoint


globals().update({name: _entrypoint(name) for name in _VARIANTS})
