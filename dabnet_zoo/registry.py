"""The named DABNet variants and their weights, as plain data (no torch import).

Two tables, in the spirit of torchvision's weights metadata and timm's registry:

* :data:`VARIANTS`: one :class:`Variant` per architecture (context path, patch size, the original paper's
  reported results);
* :data:`WEIGHTS`: one :class:`WeightsEntry` per variant x dataset (``"dabnet_r18_p8.cityscapes"``): parameter
  count and GMACs at the dataset's test size, the Hub repo id (derived, never typed), the pinned revision and
  sha256 of ``model.safetensors`` once published, the recipe file, where the weights come from and their licence.

Two functions answer every question about names, and nothing else in the package parses one:
:func:`resolve_model` turns what a user typed (a zoo name, ``name.dataset``, a local folder or a Hub repo id,
plus an optional dataset) into a :class:`ModelRef`, and :func:`identify_config` answers the reverse question,
which variant and dataset a ``config.json`` / :class:`DabnetConfig` describes.

Every other place that enumerates models (``create_model``, hubconf, the ``models`` command, the model cards,
the README table, test parametrisation) reads these, so adding a variant is one entry here. Numbers quoted
from the original project are kept apart from numbers this project measures (:class:`PaperResult` vs. the
results files written by the recipes, see :mod:`dabnet_zoo.results`); parameter counts and GMACs are
recomputed from the built models by the tests.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import CheckpointError, InputError, RegistryError, UnknownModelError, unknown_name_message
from .presets import DATASETS, get_dataset_preset


@dataclass(frozen=True)
class PaperResult:
    """A result the original DABNet README reports (not measured by this project).

    Attributes:
        miou_val: mIoU (%) on the validation split (COCO-Stuff-10k: its test split, which the original uses for
            validation), single scale.
        miou_test: mIoU (%) on the test server (Cityscapes only), when reported.
        fps: frames per second the original reports, with ``fps_setup`` describing how it was measured.
        fps_setup: hardware, backend and resolution of ``fps``.
    """

    miou_val: float | None
    miou_test: float | None = None
    fps: float | None = None
    fps_setup: str = ""


_FPS_CITYSCAPES = "GTX 1080Ti, TensorRT 7.2.1.6, FP32, 2048x1024, batch 1 (original README)"
_FPS_COCO = "GTX 1080Ti, TensorRT 7.2.1.6, FP32, 640x640, batch 1 (original README)"
_FPS_CAMVID = "GTX 1080Ti, TensorRT 7.2.1.6, FP32, 960x768, batch 1 (original README)"


@dataclass(frozen=True)
class Variant:
    """One DABNet architecture.

    Attributes:
        name: registry name, e.g. ``dabnet_r18_p8``.
        context_path: ``resnet18_v1c`` or ``efficientnet_b1`` (see :class:`DabnetConfig`).
        patch_size: the SIM patch size P.
        description: one line for tables and docstrings.
        paper: results the original README reports, by dataset key.
    """

    name: str
    context_path: str
    patch_size: int
    description: str
    paper: dict[str, PaperResult] = field(default_factory=dict)

    @property
    def input_multiple(self) -> int:
        """Height and width that are multiples of this always run without padding (32·P)."""
        return 32 * self.patch_size

    @property
    def num_params(self) -> int:
        """Parameters of the inference model (no auxiliary heads) with Cityscapes' 19 classes."""
        return WEIGHTS[f"{self.name}.cityscapes"].num_params

    @property
    def gmacs(self) -> float:
        """Multiply-accumulates (10^9) of the inference model for one 1024x2048 Cityscapes image."""
        return WEIGHTS[f"{self.name}.cityscapes"].gmacs


def _r18(p: int, paper: dict[str, PaperResult]) -> Variant:
    return Variant(
        name=f"dabnet_r18_p{p}",
        context_path="resnet18_v1c",
        patch_size=p,
        description=f"DABNet-R, ResNet-18 (v1c deep stem) context path, SIM patch size {p}",
        paper=paper,
    )


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        _r18(1, {"cityscapes": PaperResult(77.4, None, 33.5, _FPS_CITYSCAPES)}),
        _r18(2, {
            "cityscapes": PaperResult(77.8, 76.1, 34.9, _FPS_CITYSCAPES),
            "coco_stuff10k": PaperResult(29.5, None, 104.6, _FPS_COCO),
            "camvid": PaperResult(74.3, None, 92.2, _FPS_CAMVID),
        }),
        _r18(4, {"cityscapes": PaperResult(78.1, None, 34.7, _FPS_CITYSCAPES)}),
        _r18(8, {"cityscapes": PaperResult(78.8, 77.3, 31.1, _FPS_CITYSCAPES)}),
        _r18(16, {"cityscapes": PaperResult(78.4, None, 21.0, _FPS_CITYSCAPES)}),
        Variant(
            name="dabnet_effb1",
            context_path="efficientnet_b1",
            patch_size=2,
            description="DABNet-E, EfficientNet-B1 context path, SIM patch size 2",
            paper={
                "cityscapes": PaperResult(78.7, 77.5, 20.3, _FPS_CITYSCAPES),
                "coco_stuff10k": PaperResult(32.4, None, 70.8, _FPS_COCO),
                "camvid": PaperResult(76.5, None, 56.5, _FPS_CAMVID),
            },
        ),
    )
}


def get_variant(name: str) -> Variant:
    """Return the variant called ``name``; an unknown name raises an error listing the known ones."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise UnknownModelError(unknown_name_message("model", name, VARIANTS)) from None


def split_model_name(name: str, dataset: str | None = None) -> tuple[Variant, str]:
    """Resolve ``"dabnet_r18_p8.cityscapes"`` or ``("dabnet_r18_p8", dataset="cityscapes")``.

    The dataset defaults to Cityscapes, the dataset every variant was trained on. Both parts are checked.
    """
    arch, _, tag = name.partition(".")
    if tag and dataset and tag != dataset:
        raise InputError(f"Model name {name!r} names dataset {tag!r} but dataset={dataset!r} was passed; drop one.")
    dataset = tag or dataset or "cityscapes"
    get_dataset_preset(dataset)  # an unknown dataset raises, listing the known ones
    return get_variant(arch), dataset


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Names of the variants matching a shell-style ``pattern`` (e.g. ``"dabnet_r18_*"``), sorted by P.

    With ``pretrained=True``: the ``variant.dataset`` names whose weights are published on the Hub (timm's
    convention), matched on either the full name or the variant; empty until weights are published.
    """
    if pretrained:
        return [entry.name for entry in list_weights(pattern, published=True)]
    return [name for name in VARIANTS if fnmatch.fnmatch(name, pattern)]


# --------------------------------------------------------------------------------------------------------
# Weights: one entry per variant x dataset.

HUB_ORGANIZATION = "dabnet-zoo"
"""Hub namespace of the published weights: repo ids are ``dabnet-zoo/<variant>.<dataset>``."""

ORIGIN_CONVERTED = "converted from the original"
ORIGIN_TRAINED = "trained by dabnet-zoo"
ORIGINS = (ORIGIN_CONVERTED, ORIGIN_TRAINED)
WEIGHTS_FILE = "model.safetensors"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class WeightsEntry:
    """One variant trained on one dataset: the numbers of that model and where its weights live.

    Attributes:
        variant: registry name of the architecture, e.g. ``dabnet_r18_p8``.
        dataset: dataset preset key, e.g. ``cityscapes`` (sets the class count and the test size).
        num_params: parameters of the inference model (no auxiliary heads) with the dataset's classes.
        gmacs: multiply-accumulates (10^9) of the inference model for one image at the dataset's test size
            (:attr:`DatasetPreset.test_size`), convolutions only, counted with torch's FLOP counter on the
            meta device (a test recomputes them).
        gmacs_input_size: (height, width) the network actually runs at for that image: the test size, or the
            smallest size the original accepts when the test size is not one (``valid_input_size``); the
            GMACs include that padding.
        origin: where the weights come from, or will come from once published: :data:`ORIGIN_CONVERTED`
            (the original project's checkpoint through ``dabnet-zoo convert``) or :data:`ORIGIN_TRAINED`.
        license: licence of the weights as a Hub licence id (the original repository, an mmsegmentation fork,
            is Apache-2.0, as is dabnet-zoo); the dataset's own terms apply on top (see the model cards).
        published: whether the weights are on the Hub. When false, ``revision``, ``sha256`` and
            ``file_size`` are None and ``pretrained=True`` raises an error that says how to convert the
            original checkpoint. When true, all three are set (``dabnet-zoo push`` prints them).
        revision: the pinned 40-hex Hub commit of :attr:`hub_repo_id`.
        sha256: sha256 (64 hex) of ``model.safetensors`` at that revision; every download is checked.
        file_size: size of ``model.safetensors`` in bytes.
        default: whether this is the variant's default dataset (Cityscapes, which every variant was trained on).
    """

    variant: str
    dataset: str
    num_params: int
    gmacs: float
    gmacs_input_size: tuple[int, int]
    origin: str
    license: str = "apache-2.0"
    published: bool = False
    revision: str | None = None
    sha256: str | None = None
    file_size: int | None = None
    default: bool = False

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS or self.dataset not in DATASETS:
            raise RegistryError(f"WeightsEntry {self.name}: unknown variant or dataset.")
        if self.origin not in ORIGINS:
            raise RegistryError(f"WeightsEntry {self.name}: origin {self.origin!r} is not one of {ORIGINS}.")
        pins = (self.revision, self.sha256, self.file_size)
        if not self.published and any(pin is not None for pin in pins):
            raise RegistryError(f"WeightsEntry {self.name}: unpublished weights cannot carry a revision, sha256 "
                                "or file size; set published=True with all three, or none.")
        if self.published and not (
            isinstance(self.revision, str) and _COMMIT.fullmatch(self.revision)
            and isinstance(self.sha256, str) and _SHA256.fullmatch(self.sha256)
            and isinstance(self.file_size, int) and self.file_size > 0
        ):
            raise RegistryError(f"WeightsEntry {self.name}: published weights need a 40-hex revision, a 64-hex "
                                "sha256 and a positive file size (as printed by `dabnet-zoo push`).")

    @property
    def name(self) -> str:
        """``variant.dataset``, the name :func:`dabnet_zoo.create_model` accepts."""
        return f"{self.variant}.{self.dataset}"

    @property
    def hub_repo_id(self) -> str:
        """``dabnet-zoo/<variant>.<dataset>``, derived from the name."""
        return f"{HUB_ORGANIZATION}/{self.name}"

    @property
    def recipe(self) -> str:
        """The training recipe of this model, relative to the repository root."""
        return f"recipes/configs/{self.name}.yaml"

    @property
    def file_size_mb(self) -> float | None:
        return None if self.file_size is None else self.file_size / 2**20


# (num_params, gmacs, gmacs_input_size) per variant and dataset, measured from the built models at each
# dataset's test size (tests/test_registry.py recomputes every number). COCO-Stuff-10k and -164k share the
# classes and the test size, hence the numbers.
_MEASURED: dict[str, dict[str, tuple[int, float, tuple[int, int]]]] = {
    "dabnet_r18_p1": {
        "cityscapes": (16_029_939, 169.7, (1024, 2048)),
        "camvid": (16_027_883, 59.6, (768, 960)),
        "coco_stuff10k": (16_069_003, 33.4, (640, 640)),
        "coco_stuff164k": (16_069_003, 33.4, (640, 640)),
    },
    "dabnet_r18_p2": {
        "cityscapes": (17_633_523, 164.7, (1024, 2048)),
        "camvid": (17_631_467, 57.9, (768, 960)),
        "coco_stuff10k": (17_672_587, 32.4, (640, 640)),
        "coco_stuff164k": (17_672_587, 32.4, (640, 640)),
    },
    "dabnet_r18_p4": {
        "cityscapes": (24_047_859, 163.5, (1024, 2048)),
        "camvid": (24_045_803, 61.3, (768, 1022)),
        "coco_stuff10k": (24_086_923, 32.2, (640, 640)),
        "coco_stuff164k": (24_086_923, 32.2, (640, 640)),
    },
    "dabnet_r18_p8": {
        "cityscapes": (49_705_203, 163.2, (1024, 2048)),
        "camvid": (49_703_147, 61.1, (768, 1022)),
        "coco_stuff10k": (49_744_267, 46.2, (766, 766)),
        "coco_stuff164k": (49_744_267, 46.2, (766, 766)),
    },
    "dabnet_r18_p16": {
        "cityscapes": (152_334_579, 163.1, (1024, 2048)),
        "camvid": (152_332_523, 81.5, (1022, 1022)),
        "coco_stuff10k": (152_373_643, 82.2, (1022, 1022)),
        "coco_stuff164k": (152_373_643, 82.2, (1022, 1022)),
    },
    "dabnet_effb1": {
        "cityscapes": (8_852_811, 63.9, (1024, 2048)),
        "camvid": (8_850_755, 22.4, (768, 960)),
        "coco_stuff10k": (8_891_875, 12.7, (640, 640)),
        "coco_stuff164k": (8_891_875, 12.7, (640, 640)),
    },
}
# The original README links checkpoints (Baidu Pan) for these; dabnet-zoo plans to convert them. The others
# have no original checkpoint and will be trained with dabnet-zoo's recipes.
_ORIGINAL_CHECKPOINTS = {
    "dabnet_r18_p2.cityscapes", "dabnet_effb1.cityscapes", "dabnet_r18_p2.coco_stuff10k", "dabnet_effb1.coco_stuff10k",
}


def _entry(variant: str, dataset: str) -> WeightsEntry:
    num_params, gmacs, input_size = _MEASURED[variant][dataset]
    name = f"{variant}.{dataset}"
    return WeightsEntry(
        variant=variant,
        dataset=dataset,
        num_params=num_params,
        gmacs=gmacs,
        gmacs_input_size=input_size,
        origin=ORIGIN_CONVERTED if name in _ORIGINAL_CHECKPOINTS else ORIGIN_TRAINED,
        default=dataset == "cityscapes",
        # No DABNet weights are published anywhere yet: every entry stays unpublished until `dabnet-zoo push`
        # has uploaded them and its printed revision, sha256 and size are recorded here.
    )


WEIGHTS: dict[str, WeightsEntry] = {
    entry.name: entry for entry in (_entry(variant, dataset) for variant in VARIANTS for dataset in DATASETS)
}


def get_weights(name: str, dataset: str | None = None) -> WeightsEntry:
    """The :class:`WeightsEntry` of ``"dabnet_r18_p8.camvid"`` or ``("dabnet_r18_p8", dataset="camvid")``.

    The dataset defaults to Cityscapes; unknown names raise :class:`UnknownModelError` listing the known ones.
    The entry exists whether or not its weights are published (see :attr:`WeightsEntry.published`).
    """
    variant, dataset = split_model_name(name, dataset)
    return WEIGHTS[f"{variant.name}.{dataset}"]


def list_weights(pattern: str = "*", dataset: str | None = None, published: bool | None = None) -> list[WeightsEntry]:
    """Entries whose variant or ``variant.dataset`` name matches ``pattern``, in registry order.

    Args:
        pattern: shell-style filter, e.g. ``"dabnet_r18_*"`` or ``"*.camvid"``.
        dataset: keep only this dataset (an unknown one raises an error listing the known ones).
        published: keep only published (True) or unpublished (False) weights; None keeps both.
    """
    if dataset is not None:
        get_dataset_preset(dataset)  # an unknown dataset raises, listing the known ones
    return [
        entry for entry in WEIGHTS.values()
        if (fnmatch.fnmatch(entry.variant, pattern) or fnmatch.fnmatch(entry.name, pattern))
        and (dataset is None or entry.dataset == dataset)
        and (published is None or entry.published == published)
    ]


# --------------------------------------------------------------------------------------------------------
# Resolving model arguments (the one parser of names) and configs (the one reverse lookup).

CONFIG_FILE = "config.json"
CONVERSION_FILE = "conversion.json"
"""Provenance that ``dabnet-zoo convert`` writes beside the weights; its ``dataset`` settles COCO-Stuff-10k vs
-164k, whose classes are the same."""
_SHARDED_WEIGHTS_FILE = "model.safetensors.index.json"
_PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".pkl", ".ckpt")
# A Hub repo id: ORG/NAME, each part word characters, '-' and '.', no '--' or '..' (huggingface_hub's rule).
_HUB_ID = re.compile(r"[\w.-]{1,96}/[\w.-]{1,96}")
_GENERIC_LABEL = re.compile(r"LABEL_(\d+)")
SOURCES = ("zoo", "random", "folder", "hub")


@dataclass(frozen=True)
class ConfigIdentity:
    """What a DABNet config describes, as far as the registry is concerned (see :func:`identify_config`).

    Attributes:
        context_path, patch_size, num_labels: as the config records them (None where it does not).
        class_names: the config's class names, or None when it has only transformers' ``LABEL_i`` placeholders.
        variant: the registry variant with this context path and patch size, or None.
        datasets: the dataset presets whose classes the config has: the same names, or (without names) the same
            number. COCO-Stuff-10k and -164k share their classes, so a COCO-Stuff config names both.
    """

    context_path: str | None
    patch_size: int | None
    num_labels: int | None
    class_names: tuple[str, ...] | None
    variant: str | None
    datasets: tuple[str, ...]

    @property
    def dataset(self) -> str | None:
        """The one preset the classes match, or None (none, or several)."""
        return self.datasets[0] if len(self.datasets) == 1 else None

    def mismatches(self, entry: WeightsEntry) -> list[str]:
        """How the config disagrees with a registry entry (context path, patch size, class count), as
        ``"key=found (expected value)"`` items; empty when it describes that model."""
        variant = VARIANTS[entry.variant]
        expected = {"context_path": variant.context_path, "patch_size": variant.patch_size,
                    "num_labels": DATASETS[entry.dataset].num_labels}
        found = {"context_path": self.context_path, "patch_size": self.patch_size, "num_labels": self.num_labels}
        return [f"{key}={found[key]!r} (expected {value!r})" for key, value in expected.items() if found[key] != value]

    def describe(self) -> str:
        """E.g. ``dabnet_r18_p8 with 19 classes (cityscapes)``, for messages."""
        arch = self.variant or f"{self.context_path} with patch size {self.patch_size} (no zoo variant)"
        classes = f" ({' or '.join(self.datasets)})" if self.datasets else ""
        return f"{arch} with {self.num_labels} classes{classes}"


def identify_config(config: Mapping[str, Any] | Any) -> ConfigIdentity:
    """Which variant and dataset preset a config describes: the one reverse lookup of the package.

    Args:
        config: a :class:`DabnetConfig` (or any object with its attributes) or a ``config.json`` as a dict;
            only ``context_path``, ``patch_size``, ``id2label`` and ``num_labels`` are read, so a partial dict
            such as ``{"context_path": ..., "patch_size": ..., "num_labels": ...}`` works too.

    The variant is the one with the config's context path and patch size. The datasets are the presets with the
    config's class names; where the config carries no names (transformers' ``LABEL_0`` ... placeholders), the
    presets with its class count.
    """
    if isinstance(config, Mapping):
        get = config.get
    else:
        def get(key: str, default: Any = None) -> Any:
            return getattr(config, key, default)

    context_path, patch_size = get("context_path"), get("patch_size")
    id2label = get("id2label") or {}
    try:
        names = tuple(str(id2label[key]) for key in sorted(id2label, key=int))
    except (TypeError, ValueError):  # keys that are not class indices: no names to go by
        names = ()
    num_labels = len(names) if names else get("num_labels")
    generic = all(_GENERIC_LABEL.fullmatch(name) for name in names)
    variant = next((v.name for v in VARIANTS.values()
                    if (v.context_path, v.patch_size) == (context_path, patch_size)), None)
    if names and not generic:
        datasets = tuple(key for key, preset in DATASETS.items() if preset.class_names == names)
    else:
        datasets = tuple(key for key, preset in DATASETS.items() if preset.num_labels == num_labels)
    return ConfigIdentity(
        context_path=context_path, patch_size=patch_size, num_labels=num_labels,
        class_names=None if generic else names, variant=variant, datasets=datasets,
    )


@dataclass(frozen=True)
class ModelRef:
    """A model argument resolved by :func:`resolve_model`: which model it is and where its weights are.

    Attributes:
        source: where the weights come from: ``"zoo"`` (published weights pinned in the registry), ``"random"``
            (a zoo name without published weights: the architecture, randomly initialised), ``"folder"`` (a
            local ``save_pretrained`` folder) or ``"hub"`` (a Hub repo id, read by transformers).
        location: ``variant.dataset`` for a zoo name, the path for a folder, the repo id for the Hub.
        variant: the registry variant, or None: a Hub id before its config is read (:meth:`with_config`), or
            a config that matches no variant.
        dataset: the dataset preset the model is for (given, named, or found from its classes), or None.
        num_labels: the model's class count, where known.
    """

    source: str
    location: str
    variant: str | None = None
    dataset: str | None = None
    num_labels: int | None = None

    def __str__(self) -> str:
        return self.location

    @property
    def is_zoo_name(self) -> bool:
        """Whether the argument was a zoo name (``zoo`` or ``random`` weights)."""
        return self.source in ("zoo", "random")

    @property
    def name(self) -> str | None:
        """``variant.dataset``, the name results and model cards are filed under; None unless the model is
        a zoo variant with that dataset's classes."""
        if self.variant is None or self.dataset is None:
            return None
        if self.num_labels is not None and self.num_labels != DATASETS[self.dataset].num_labels:
            return None
        return f"{self.variant}.{self.dataset}"

    @property
    def entry(self) -> WeightsEntry | None:
        """The registry entry of :attr:`name`, if any."""
        return WEIGHTS[self.name] if self.name is not None else None

    def with_config(self, config: Mapping[str, Any] | Any) -> ModelRef:
        """This reference completed from the model's config once it is loaded (a Hub id's variant and dataset).

        Raises:
            InputError: the dataset given contradicts the model's classes.
        """
        if self.is_zoo_name:
            return self
        identity = identify_config(config)
        return replace(self, variant=identity.variant, num_labels=identity.num_labels,
                       dataset=_dataset_for(self.location, identity, self.dataset))


def resolve_model(name_or_path: str | os.PathLike | ModelRef, dataset: str | None = None) -> ModelRef:
    """Resolve a model argument: the one parser of model names in the package.

    Args:
        name_or_path: one of

            * a zoo name, ``dabnet_r18_p8`` or ``dabnet_r18_p8.camvid``;
            * a local ``save_pretrained`` folder (an existing directory, or any ``os.PathLike``): its
              ``config.json`` says the variant and the classes (and ``conversion.json`` the dataset);
            * a Hub repo id ``ORG/NAME`` (read when the model is loaded; :meth:`ModelRef.with_config` then
              completes the reference);
            * a :class:`ModelRef`, returned as it is (``dataset`` must then be None or agree).

            A local directory wins over a zoo name or repo id of the same spelling.
        dataset: the dataset preset the model is for. For a zoo name it picks the weights (default
            Cityscapes; a ``.dataset`` tag must agree); for a folder or repo id it must agree with the model's
            classes where they match a preset (a model with other classes may still be given one, e.g. for
            its test protocol, but then has no :attr:`ModelRef.name`).

    Raises:
        InputError: something that looks like a path (contains a path separator and is not a repo id, starts
            with ``.``, ``~`` or ``/``, or starts with an existing folder) but does not exist: "no such folder",
            at once, with no Hub request; a file instead of a folder; a dataset that contradicts the name.
        CheckpointError: a folder without ``config.json`` / ``model.safetensors`` (e.g. only a pickle), or
            whose config is not a DABNet config.
        UnknownModelError: a bare name that is no zoo name, with the close one and the list of valid ones.
    """
    if dataset is not None:
        get_dataset_preset(dataset)  # an unknown dataset raises, listing the known ones
    if isinstance(name_or_path, ModelRef):
        if dataset is not None and dataset != name_or_path.dataset:
            raise InputError(f"{name_or_path} was resolved for dataset {name_or_path.dataset!r} but "
                             f"dataset={dataset!r} was passed; drop one.")
        return name_or_path
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return _resolve_folder(str(path), path, dataset)
    if path.exists():
        raise InputError(f"{text} is a file, not a model folder: pass the folder holding {CONFIG_FILE} and "
                         f"{WEIGHTS_FILE} (an original .pth checkpoint is converted first: dabnet-zoo convert "
                         f"{text} OUT_DIR --variant VARIANT).")
    if not isinstance(name_or_path, str) or _looks_like_path(text):
        first = Path(text).parts[0] if Path(text).parts else text
        hub = (f" (read as a path because a local {first!r} exists; run elsewhere to load the Hub repo {text})"
               if _is_hub_id(text) and os.path.exists(first) else "")
        raise InputError(f"no such folder: {text}{hub}")
    if text.partition(".")[0] in VARIANTS:
        variant, dataset = split_model_name(text, dataset)
        entry = WEIGHTS[f"{variant.name}.{dataset}"]
        return ModelRef("zoo" if entry.published else "random", entry.name, variant.name, dataset,
                        DATASETS[dataset].num_labels)
    if _is_hub_id(text):
        return ModelRef("hub", text, dataset=dataset)
    raise UnknownModelError(
        unknown_name_message("model", text, VARIANTS) + " A local folder or a Hub repo id (ORG/NAME) also works."
    )


def _looks_like_path(text: str) -> bool:
    """Whether a string that names nothing on disk was meant as a path rather than a zoo name or repo id."""
    if text.startswith((".", "~")) or os.path.isabs(text):
        return True
    separators = [sep for sep in (os.sep, os.altsep) if sep]
    if not any(sep in text for sep in separators):
        return False
    first = re.split("|".join(map(re.escape, separators)), text)[0]
    return os.path.exists(first) or not _is_hub_id(text)


def _is_hub_id(text: str) -> bool:
    return bool(_HUB_ID.fullmatch(text)) and ".." not in text and "--" not in text


def _resolve_folder(text: str, path: Path, dataset: str | None) -> ModelRef:
    config_path = path / CONFIG_FILE
    has_weights = (path / WEIGHTS_FILE).is_file() or (path / _SHARDED_WEIGHTS_FILE).is_file()
    if not config_path.is_file() or not has_weights:
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        missing = " and ".join(name for name, ok in ((CONFIG_FILE, config_path.is_file()),
                                                     (WEIGHTS_FILE, has_weights)) if not ok)
        hint = (f" It holds {', '.join(pickles[:3])}: pickled checkpoints are never loaded; convert an original "
                f"one with `dabnet-zoo convert {path / pickles[0]} OUT_DIR --variant VARIANT`." if pickles else
                " Pass a folder written by save_pretrained or `dabnet-zoo convert`.")
        raise CheckpointError(f"{text} has no {missing}.{hint}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{config_path} is not readable JSON: {error}") from None
    if not isinstance(config, dict) or config.get("model_type") != "dabnet":
        found = config.get("model_type") if isinstance(config, dict) else None
        raise CheckpointError(f"{config_path} is not a DABNet config (model_type {found!r}).")
    identity = identify_config(config)
    hint = None
    if (path / CONVERSION_FILE).is_file():
        try:
            hint = json.loads((path / CONVERSION_FILE).read_text(encoding="utf-8")).get("dataset")
        except (OSError, ValueError, AttributeError):
            hint = None  # provenance only: a damaged file does not stop loading
    return ModelRef("folder", text, identity.variant, _dataset_for(text, identity, dataset, hint), identity.num_labels)


def _dataset_for(where: str, identity: ConfigIdentity, given: str | None, hint: str | None = None) -> str | None:
    """The dataset a model is for: the one given (if its classes allow it), else the one its classes match,
    with ``hint`` (from ``conversion.json``) choosing among presets that share their classes."""
    if given is not None:
        if identity.datasets and given not in identity.datasets:
            raise InputError(f"{where} is {identity.describe()}, not a {given} model "
                             f"({DATASETS[given].num_labels} classes); drop the dataset or pass the right one.")
        return given
    if hint in identity.datasets:
        return hint
    return identity.dataset


def format_models_table(pattern: str = "*", dataset: str | None = None, pretrained: bool = False) -> str:
    """The registry as a text table: one row per variant x dataset, footnotes for the paper's setups.

    Columns: model, dataset, parameters (M), GMACs at the dataset's test size (and the padded size the network
    runs at where the original cannot take the test size), the original paper's mIoU (val / test server) and
    FPS with a footnote naming their hardware, whether weights are published (and the pinned revision), the
    Hub repo id and the recipe. ``pretrained=True`` keeps only published weights. This is what
    ``dabnet-zoo models`` prints.
    """
    entries = list_weights(pattern, dataset, published=True if pretrained else None)
    header = ("model", "dataset", "params (M)", "GMACs", "at HxW", "paper mIoU val/test", "paper FPS",
              "weights", "Hub repo", "recipe")
    setups: list[str] = []
    rows = []
    for entry in entries:
        variant = VARIANTS[entry.variant]
        height, width = DATASETS[entry.dataset].test_size
        size = f"{height}x{width}"
        if entry.gmacs_input_size != (height, width):
            size += " (pad {}x{})".format(*entry.gmacs_input_size)
        paper = variant.paper.get(entry.dataset)
        miou = fps = "-"
        if paper is not None:
            miou = "/".join("-" if value is None else f"{value:.1f}" for value in (paper.miou_val, paper.miou_test))
            if paper.fps is not None:
                if paper.fps_setup not in setups:
                    setups.append(paper.fps_setup)
                fps = f"{paper.fps:.1f} [{setups.index(paper.fps_setup) + 1}]"
        weights = f"rev {entry.revision[:7]}" if entry.published else "not published"
        rows.append((entry.variant, entry.dataset, f"{entry.num_params / 1e6:.2f}", f"{entry.gmacs:.1f}", size,
                     miou, fps, weights, entry.hub_repo_id, entry.recipe))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]
    if not rows:
        lines.append("(no model matches)" if not pretrained else "(no published weights match: none are published yet)")
    lines.append("")
    lines.append("params and GMACs: counted from dabnet-zoo's models (inference path, convolutions only). "
                 "paper mIoU/FPS: reported by the original paper (original README), not measured by dabnet-zoo.")
    lines.extend(f"[{i}] {setup}" for i, setup in enumerate(setups, 1))
    if any(not entry.published for entry in entries):
        lines.append("not published: pretrained=True raises; convert the original checkpoint with "
                     "`dabnet-zoo convert` or train with the recipe.")
    return "\n".join(lines)


__all__ = [
    "HUB_ORGANIZATION",
    "ORIGINS",
    "ORIGIN_CONVERTED",
    "ORIGIN_TRAINED",
    "PaperResult",
    "RegistryError",
    "VARIANTS",
    "Variant",
    "WEIGHTS",
    "WEIGHTS_FILE",
    "WeightsEntry",
    "format_models_table",
    "get_variant",
    "get_weights",
    "list_models",
    "list_weights",
    "split_model_name",
    "CONFIG_FILE",
    "CONVERSION_FILE",
    "ConfigIdentity",
    "ModelRef",
    "SOURCES",
    "identify_config",
    "resolve_model",
]
