"""Convert the original DABNet checkpoints (mmsegmentation 0.x fork) into ``save_pretrained`` folders.

The original project's checkpoints are the only trained DABNet weights in existence. They are mmcv
``save_checkpoint`` files: a dict with ``state_dict`` (original key names, docs/architecture.md §5) and
``meta``. Conversion is a rename table (our module names keep the original's and timm's where they can) plus
checks that every key is mapped, nothing is missing and every shape fits, so a wrong or damaged checkpoint stops
with a message that says what is wrong and, where it can tell, which variant and class count the checkpoint
belongs to.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from .errors import CheckpointError
from .fileio import publish_dir
from .modeling_dabnet import DabnetForSemanticSegmentation
from .presets import DATASETS
from .registry import VARIANTS, WEIGHTS, identify_config, split_model_name
from .weights import sha256_of
from .zoo import create_model, create_processor

logger = logging.getLogger(__name__)

# Original key prefix -> ours, first match wins (docs/architecture.md §5).
_KEY_RULES: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        # mmseg ResNetV1c stem (conv, BN, ReLU) x 3 -> timm's deep stem `conv1` Sequential + `bn1`.
        (r"^backbone\.backbone\.stem\.7\.", "dabnet.backbone.bn1."),
        (r"^backbone\.backbone\.stem\.([0-6])\.", r"dabnet.backbone.conv1.\1."),
        (r"^backbone\.backbone\.", "dabnet.backbone."),  # ResNet layers and timm EfficientNet: same names
        (r"^backbone\.SIM_(\d)\.", r"dabnet.sims.\1."),
        (r"^backbone\.((?:sp|cp)_\d)\.", r"dabnet.spatial_path.\1."),
        (r"^backbone\.(arm16|arm32)\.conv_layer\.", r"dabnet.context_aggregation.\1.conv."),
        (r"^backbone\.(arm16|arm32)\.atten_conv_layer\.1\.", r"dabnet.context_aggregation.\1.attention."),
        (r"^backbone\.(conv_head16|conv_head32)\.", r"dabnet.context_aggregation.\1."),
        (r"^backbone\.ffm\.conv1\.", "dabnet.feature_fusion.conv."),
        (r"^backbone\.ffm\.conv_atten\.0\.", "dabnet.feature_fusion.attention."),
        (r"^decode_head\.convs\.0\.", "decode_head.conv."),
        (r"^decode_head\.conv_seg\.", "decode_head.classifier."),
        (r"^auxiliary_head\.(\d)\.convs\.0\.", r"auxiliary_heads.\1.conv."),
        (r"^auxiliary_head\.(\d)\.conv_seg\.", r"auxiliary_heads.\1.classifier."),
    )
)


def rename_original_key(key: str) -> str | None:
    """Our state-dict key for an original one, or None when no rule maps it."""
    for pattern, replacement in _KEY_RULES:
        if pattern.match(key):
            return pattern.sub(replacement, key, count=1)
    return None


# numpy types an mmcv checkpoint's ``meta`` may hold (``hook_msgs.best_score`` is a numpy.float64, a generated
# ``PALETTE`` an array): scalars are pickled as ``multiarray.scalar(dtype, raw bytes)``, arrays as
# ``multiarray._reconstruct`` plus a state with their raw bytes, dtypes as ``numpy.dtype(code)`` plus a state tuple.
# Only number, bool and fixed-width string dtypes: object and void dtypes could carry arbitrary Python objects, so
# an array or scalar of those is still refused.
_NUMPY_DTYPE_CLASSES = (
    "BoolDType", "Int8DType", "UInt8DType", "Int16DType", "UInt16DType", "Int32DType", "UInt32DType", "Int64DType",
    "UInt64DType", "ByteDType", "UByteDType", "ShortDType", "UShortDType", "IntDType", "UIntDType", "LongDType",
    "ULongDType", "LongLongDType", "ULongLongDType", "Float16DType", "Float32DType", "Float64DType",
    "LongDoubleDType", "Complex64DType", "Complex128DType", "CLongDoubleDType", "StrDType", "BytesDType",
)
# A declared (uncompressed) size above this is no DABNet checkpoint: the largest variant's fp32 weights, twice
# (mmcv also saves the SGD momentum buffers), plus a quarter for auxiliary heads, BN buffers and metadata.
MAX_CHECKPOINT_BYTES = int(max(entry.num_params for entry in WEIGHTS.values()) * 4 * 2 * 1.25)
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _numpy_safe_globals() -> list:
    """What ``torch.load(weights_only=True)`` must additionally accept to read numpy scalars, arrays and dtypes.

    The constructors are registered under numpy 1's module name too, since the original checkpoints were
    written with numpy 1 (``numpy.core``) and may be read here with numpy 2 (``numpy._core``).
    """
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1
        from numpy.core.multiarray import _reconstruct, scalar
    allowed: list = [np.dtype, np.ndarray]
    for module in ("numpy.core", "numpy._core"):
        allowed += [(scalar, f"{module}.multiarray.scalar"), (_reconstruct, f"{module}.multiarray._reconstruct")]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25 builds each dtype as an instance of its own class
    allowed += [getattr(dtypes, name) for name in _NUMPY_DTYPE_CLASSES if hasattr(dtypes, name)]
    return allowed


def _check_declared_size(path: Path) -> None:
    """Refuse a zip checkpoint whose members declare more bytes than any DABNet checkpoint holds, before
    ``torch.load`` inflates them (a few MB of zeros can declare gigabytes)."""
    if not zipfile.is_zipfile(path):
        return  # torch's legacy format: no compression, so the file's own size bounds what is read
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (damaged or truncated download?): "
                              f"{error}") from error
    if declared > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(
            f"{path} declares {declared / 2**30:.1f} GiB of uncompressed data, more than any DABNet checkpoint "
            f"holds (at most {MAX_CHECKPOINT_BYTES / 2**30:.1f} GiB); it was not loaded. Check that it is the "
            "original DABNet checkpoint."
        )


def _unpickler_detail(error: BaseException) -> str:
    """What torch's weights-only unpickler refused, without its ANSI escapes or its advice to load with
    ``weights_only=False``."""
    text = _ANSI_ESCAPE.sub("", str(error))
    found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"got <class '([\w.]+)'>", text)
    if found:
        return f"it asks for {found[1]}, which is not allowed"
    _, marker, detail = text.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (detail if marker else "").splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else "an object that is not allowed"


def load_original_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read an original checkpoint without executing anything from it: returns (state_dict, meta).

    ``torch.load(weights_only=True)`` with numpy scalars, arrays and number dtypes allowed (mmcv's ``meta`` holds
    them), after checking the archive's declared size. Accepts mmcv's dict with ``state_dict`` (and ``meta``) or a
    bare state dict; a ``module.`` prefix left by DistributedDataParallel is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {str(path)!r} does not exist or is not a file.")
    _check_declared_size(path)
    safe_globals = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    try:
        with safe_globals(_numpy_safe_globals()) if safe_globals else contextlib.nullcontext():
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path} holds Python objects other than tensors, numbers, strings and numpy scalars or arrays "
            f"({_unpickler_detail(error)}). They are never unpickled here, since that could run code from the "
            "file; if you trust it, re-save its 'state_dict' alone with torch.save."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint (damaged or truncated download?): "
            f"{_ANSI_ESCAPE.sub('', str(error))}"
        ) from error
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        state_dict, meta = dict(checkpoint["state_dict"]), dict(checkpoint.get("meta") or {})
    elif (isinstance(checkpoint, Mapping) and checkpoint
          and all(isinstance(v, torch.Tensor) for v in checkpoint.values())):
        state_dict, meta = dict(checkpoint), {}
    else:
        raise CheckpointError(
            f"{path} is neither an mmcv checkpoint (a dict with 'state_dict') nor a bare state dict of tensors."
        )
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict, meta


def identify_checkpoint(state_dict: Mapping[str, torch.Tensor]) -> tuple[str, int]:
    """The (variant name, number of classes) an original state dict belongs to."""
    if "backbone.backbone.conv_stem.weight" in state_dict:
        context_path = "efficientnet_b1"
    elif "backbone.backbone.stem.0.weight" in state_dict:
        context_path = "resnet18_v1c"
    else:
        raise CheckpointError(
            "Not a DABNet checkpoint of the original project: it has neither 'backbone.backbone.stem.0.weight' "
            "(ResNet-18 v1c) nor 'backbone.backbone.conv_stem.weight' (EfficientNet-B1)."
        )
    for key in ("backbone.SIM_0.h2h_0.weight", "backbone.SIM_0.h2l_0.weight", "decode_head.conv_seg.weight"):
        if key not in state_dict:
            raise CheckpointError(f"Checkpoint lacks {key!r}; it is not a complete DABNet segmentor checkpoint.")
    # The first SIM's h2h_0 sees the stage's C channels, its h2l_0 the C·P² channels of the folded patches.
    stage_channels = state_dict["backbone.SIM_0.h2h_0.weight"].shape[1]
    patch_size = round((state_dict["backbone.SIM_0.h2l_0.weight"].shape[1] / stage_channels) ** 0.5)
    num_labels = int(state_dict["decode_head.conv_seg.weight"].shape[0])
    config = {"context_path": context_path, "patch_size": patch_size, "num_labels": num_labels}
    variant = identify_config(config).variant
    if variant is None:
        raise CheckpointError(f"Checkpoint has a {context_path} context path with patch size {patch_size}, "
                              f"which matches no known variant ({', '.join(VARIANTS)}).")
    return variant, num_labels


def _describe(variant: str, num_labels: int) -> str:
    """E.g. ``dabnet_r18_p2 with 19 classes (cityscapes)``."""
    arch = VARIANTS[variant]
    return identify_config({"context_path": arch.context_path, "patch_size": arch.patch_size,
                            "num_labels": num_labels}).describe()


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor], variant: str, dataset: str | None = None
) -> DabnetForSemanticSegmentation:
    """A model of the named variant and dataset holding the weights of an original state dict.

    Raises :class:`CheckpointError` when the checkpoint belongs to another variant or class count, or when any
    key is unmapped, missing or mis-shaped.
    """
    found_variant, found_labels = identify_checkpoint(state_dict)
    arch, dataset = split_model_name(variant, dataset)
    expected_labels = DATASETS[dataset].num_labels
    if (found_variant, found_labels) != (arch.name, expected_labels):
        raise CheckpointError(
            f"The checkpoint is {_describe(found_variant, found_labels)}, but {arch.name} for {dataset} "
            f"({expected_labels} classes) was requested. Pass --variant/--dataset to match the checkpoint."
        )
    model = create_model(arch.name, dataset)
    expected = model.state_dict()
    renamed, unmapped = {}, []
    for key, tensor in state_dict.items():
        new_key = rename_original_key(key)
        if new_key is None or new_key not in expected:
            unmapped.append(key)
        else:
            renamed[new_key] = tensor
    missing = sorted(set(expected) - set(renamed))
    mis_shaped = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
                  for k, v in renamed.items() if v.shape != expected[k].shape]
    problems = []
    for title, items in (("unexpected keys", unmapped), ("missing keys", missing), ("mis-shaped tensors", mis_shaped)):
        if items:
            problems.append(f"{len(items)} {title}: {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}")
    if problems:
        raise CheckpointError(
            f"Checkpoint does not fit {arch.name} for {dataset} "
            f"(it looks like {_describe(found_variant, found_labels)}): " + "; ".join(problems)
        )
    model.load_state_dict(renamed, strict=True)
    return model.eval()


def convert_checkpoint(
    checkpoint_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    variant: str,
    dataset: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert an original checkpoint file into ``output_dir`` (config, weights and image processor).

    The folder loads offline with ``DabnetForSemanticSegmentation.from_pretrained(output_dir)``. It is published
    with :func:`dabnet_zoo.fileio.publish_dir`: built in a hidden folder beside ``output_dir`` and moved into
    place only when complete, so a failed, killed or out-of-space conversion leaves the old folder as it was; an
    existing non-empty ``output_dir`` is only replaced with ``overwrite=True``, and never when it is the
    checkpoint itself or holds it (:class:`~dabnet_zoo.errors.InputError`). A ``conversion.json`` records where
    the weights came from.
    """
    checkpoint_path, output_dir = Path(checkpoint_path), Path(output_dir)
    # Inside publish_dir: refused before loading when the folder is used or would replace/contain the checkpoint.
    with publish_dir(output_dir, overwrite=overwrite, inputs=[checkpoint_path],
                     expected_bytes=_size_or_zero(checkpoint_path)) as staging:
        state_dict, meta = load_original_checkpoint(checkpoint_path)
        model = convert_state_dict(state_dict, variant, dataset)
        arch, dataset = split_model_name(variant, dataset)
        model.save_pretrained(staging)
        create_processor(dataset).save_pretrained(staging)  # the dataset's test protocol travels with the weights
        provenance = {
            "source_file": checkpoint_path.name,
            "source_sha256": sha256_of(checkpoint_path),
            "variant": arch.name,
            "dataset": dataset,
            "original_meta": {k: _plain(meta[k]) for k in ("mmseg_version", "mmcv_version", "iter", "epoch")
                              if k in meta},
        }
        (staging / "conversion.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    logger.info("Converted %s -> %s (%s.%s)", checkpoint_path, output_dir, arch.name, dataset)
    return output_dir


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _plain(value):
    """A JSON-ready copy of a metadata value (numpy scalars -> Python numbers)."""
    return value.item() if isinstance(value, np.generic) else value


__all__ = [
    "convert_checkpoint",
    "convert_state_dict",
    "identify_checkpoint",
    "load_original_checkpoint",
    "rename_original_key",
]
