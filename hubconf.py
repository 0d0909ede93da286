"""torch.hub entrypoints, one per registered variant: ``torch.hub.load(repo, "dabnet_r18_p8", source="local")``.

The entrypoints are generated from the registry so they cannot drift from it.
"""

dependencies = ["torch", "timm", "transformers", "safetensors", "huggingface_hub"]

from dabnet_zoo.registry import VARIANTS as _VARIANTS  # noqa: E402
from dabnet_zoo.zoo import create_model as _create_model  # noqa: E402


def _entrypoint(name: str):
    variant = _VARIANTS[name]

    def entrypoint(pretrained: bool = False, dataset: str = "cityscapes", **kwargs):
        return _create_model(name, dataset=dataset, pretrained=pretrained, **kwargs).eval()

    entrypoint.__name__ = name
    entrypoint.__doc__ = (
        f"{variant.description}.\n\n"
        f"{variant.num_params / 1e6:.2f} M parameters, {variant.gmacs:.1f} GMACs at 2048x1024; inputs of any size "
        f"(multiples of {variant.input_multiple} run unpadded).\n\n"
        "Args:\n"
        "    pretrained: load trained weights (none are published yet: the error says how to convert the\n"
        "        original checkpoint).\n"
        "    dataset: cityscapes, camvid, coco_stuff10k or coco_stuff164k (sets the classes).\n"
        "    **kwargs: DabnetConfig overrides, e.g. num_labels.\n\n"
        "Returns a DabnetForSemanticSegmentation in eval mode."
    )
    return entrypoint


globals().update({name: _entrypoint(name) for name in _VARIANTS})
