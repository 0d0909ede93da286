"""Backbone initialisation: ImageNet weights for a DABNet's context path, loaded after construction.

Where each context path's weights came from in the original (see docs/architecture.md) is
:data:`DEFAULT_BACKBONE_WEIGHTS`. :func:`load_backbone_weights` takes timm's Hub weights, the original's
``open-mmlab://resnet18_v1c`` checkpoint, or a local file in timm, mmcv or DABNet key names, and refuses weights
that do not fit (naming the keys). Files are read with ``weights_only=True``: nothing in them is executed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..convert import rename_original_key
from ..errors import CheckpointError

logger = logging.getLogger(__name__)

# Where each context path's ImageNet weights came from in the original.
DEFAULT_BACKBONE_WEIGHTS = {
    "resnet18_v1c": "open-mmlab://resnet18_v1c",
    "efficientnet_b1": "timm:efficientnet_b1.ft_in1k",
}
# mmcv's ``open-mmlab://`` names used by DABNet's configs → download URL (the file name carries the sha256 prefix
# that torch.hub checks).
OPENMMLAB_URLS = {
    "resnet18_v1c": "https://download.openmmlab.com/pretrain/third_party/resnet18_v1c-b5776b93.pth",
}
# Keys of ImageNet classification heads that a backbone (features only) does not have: ignored when loading.
_CLASSIFIER_PREFIXES = ("fc.", "classifier.", "conv_head.", "bn2.", "head.", "global_pool.")


def _backbone(model: nn.Module) -> nn.Module:
    for path in ("dabnet.backbone", "backbone"):
        try:
            return model.get_submodule(path)
        except AttributeError:
            continue
    raise TypeError(f"{type(model).__name__} has no DABNet context path (.dabnet.backbone or .backbone).")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _no_weights_message(source: str, why: str) -> str:
    return (f"No backbone weights could be had from {source!r}: {why}. Download them once where there is network "
            "access (they are cached), or pass a local file (--init PATH, timm or mmcv key names), or train "
            "from timm's random initialisation with --init none.")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    from timm.models import load_state_dict as timm_load_state_dict

    try:  # handles safetensors, {'state_dict': ...}/{'model': ...} wrappers and the 'module.' prefix
        state = timm_load_state_dict(str(path), use_ema=False, weights_only=True)
    except Exception as error:  # noqa: BLE001 -- any unreadable file gets the same clear message
        raise CheckpointError(f"{path} is not a readable weights file (torch or safetensors): {error}") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors.")
    return dict(state)


def _download_openmmlab(name: str) -> tuple[dict[str, torch.Tensor], str]:
    if name not in OPENMMLAB_URLS:
        raise CheckpointError(f"Unknown open-mmlab:// checkpoint {name!r}; known: {', '.join(OPENMMLAB_URLS)}.")
    url = OPENMMLAB_URLS[name]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    if not cached.is_file():
        if _offline():
            raise CheckpointError(_no_weights_message(
                f"open-mmlab://{name}", f"offline (HF_HUB_OFFLINE is set) and {cached} is not cached; the file is "
                f"{url}"))
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:  # torch.hub writes a temporary file and moves it into place only once its sha256 prefix matches
            torch.hub.download_url_to_file(url, str(cached), hash_prefix=cached.stem.rsplit("-", 1)[-1],
                                           progress=False)
        except Exception as error:  # noqa: BLE001 -- network and hash errors come in many types
            raise CheckpointError(_no_weights_message(f"open-mmlab://{name}",
                                                      f"downloading {url} failed ({error})")) from None
    return _read_state_dict(cached), str(cached)


def _download_timm(tag: str, source: str) -> dict[str, torch.Tensor]:
    import timm

    try:
        model = timm.create_model(tag, pretrained=True)
    except Exception as error:  # noqa: BLE001 -- hub, network and missing-tag errors alike
        why = f"offline (HF_HUB_OFFLINE is set) and not in the Hugging Face cache ({type(error).__name__})" \
            if _offline() else f"{type(error).__name__}: {error}"
        raise CheckpointError(_no_weights_message(source, why)) from None
    return model.state_dict()


def _is_timm_pretrained_tag(text: str) -> bool:
    import timm

    return "." in text and "/" not in text and bool(timm.list_pretrained(text))


def _to_backbone_keys(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Rename a state dict into timm's backbone key names; returns (state, detected format)."""
    keys = list(state)
    if any(k.startswith("backbone.backbone.") for k in keys):  # an original DABNet segmentor checkpoint
        fmt, renamed = "original DABNet checkpoint", {}
        for key, value in state.items():
            new = rename_original_key(key)
            if new is not None and new.startswith("dabnet.backbone."):
                renamed[new[len("dabnet.backbone."):]] = value
        return renamed, fmt
    if any(k.startswith("stem.") for k in keys):  # mmcv ResNetV1c (open-mmlab://resnet18_v1c)
        renamed = {}
        for key, value in state.items():
            new = rename_original_key("backbone.backbone." + key)
            renamed[new[len("dabnet.backbone."):] if new else key] = value
        return renamed, "mmcv ResNetV1c"
    if any(k.startswith("dabnet.backbone.") for k in keys):  # one of our own checkpoints
        return {k[len("dabnet.backbone."):]: v for k, v in state.items() if k.startswith("dabnet.backbone.")}, \
            "dabnet-zoo"
    return dict(state), "timm"


def load_backbone_weights(model: nn.Module, source: str | os.PathLike) -> dict[str, Any]:
    """Initialise a DABNet's context path (timm backbone) with ImageNet weights, after construction.

    Call it on a constructed model (transformers' ``post_init`` would overwrite weights loaded earlier).
    ``source`` is one of:

    * ``"open-mmlab://resnet18_v1c"``: the original's ResNet-18 v1c checkpoint (mmcv key names ``stem.0…``),
      downloaded once into torch.hub's cache and checked against the sha256 prefix in its file name;
    * ``"timm:<arch>.<tag>"`` (e.g. ``timm:efficientnet_b1.ft_in1k``; the bare tag and ``hf-hub:ORG/NAME`` work
      too): timm's pretrained weights from the Hugging Face Hub (or its cache);
    * a local file (``.pth``/``.bin``/``.safetensors``) in timm key names (``conv1.0.weight``), mmcv ResNetV1c
      key names (``stem.0.weight``), an original DABNet checkpoint (``backbone.backbone.…``) or one of ours.

    Every backbone tensor must be present with the right shape (``num_batches_tracked`` may be absent);
    classification-head keys (``fc.``, ``classifier.``, ``conv_head.``, ``bn2.``) are ignored; anything else
    raises :class:`CheckpointError`, as does a source that cannot be had (offline: ``HF_HUB_OFFLINE=1``, or no
    network) — the message says how to get the weights. Returns a report (source, format, counts).
    """
    backbone = _backbone(model)
    text = str(source)
    where = text
    if text.startswith("open-mmlab://"):
        state, where = _download_openmmlab(text[len("open-mmlab://"):])
    elif text.startswith("timm:"):
        state = _download_timm(text[len("timm:"):], text)
    elif Path(text).is_file():
        state = _read_state_dict(Path(text))
    elif text.startswith("hf-hub:") or _is_timm_pretrained_tag(text):
        state = _download_timm(text, text)
    else:
        raise CheckpointError(
            f"Backbone weights {text!r} are neither a file, 'open-mmlab://NAME' ({', '.join(OPENMMLAB_URLS)}) nor "
            "'timm:ARCH.TAG' (e.g. timm:efficientnet_b1.ft_in1k)."
        )
    state, fmt = _to_backbone_keys(state)
    own = backbone.state_dict()
    ignored = sorted(k for k in state if k not in own and k.startswith(_CLASSIFIER_PREFIXES))
    unexpected = sorted(k for k in state if k not in own and k not in ignored)
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    mis_shaped = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                  for k in own if k in state and state[k].shape != own[k].shape]
    if unexpected or missing or mis_shaped:
        hint = ""
        if any(k.startswith("conv1.") for k in mis_shaped + missing) and "conv1.0.weight" in own:
            hint = (" DABNet's ResNet-18 is the v1c deep stem (three 3x3 convs); timm's resnet18 weights have a "
                    "single 7x7 stem conv and do not fit: use open-mmlab://resnet18_v1c.")
        parts = [f"{len(v)} {title}: {', '.join(v[:6])}{' …' if len(v) > 6 else ''}"
                 for title, v in (("unexpected keys", unexpected), ("missing keys", missing),
                                  ("mis-shaped tensors", mis_shaped)) if v]
        raise CheckpointError(f"Backbone weights {text!r} ({fmt} key names) do not fit the "
                              f"{model.config.context_path} context path: {'; '.join(parts)}.{hint}")
    backbone.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    loaded = sum(1 for k in state if k in own)
    logger.info("Backbone initialised from %s (%s key names): %d tensors, %d classifier keys ignored",
                where, fmt, loaded, len(ignored))
    return {"source": text, "file": where, "format": fmt, "loaded": loaded, "ignored": ignored}


__all__ = ["DEFAULT_BACKBONE_WEIGHTS", "OPENMMLAB_URLS", "load_backbone_weights"]
