"""The named DABNet variants and their weights, as plain data (no torch import).

Two tables, in the spirit of torchvision's weights metadata and timm's registry:

* :data:`VARIANTS`: one :class:`Variant` per architecture (context path, patch size, the original paper's
  reported results);
* :data:`WEIGHTS`: one :class:`WeightsEntry` per variant x dataset (``"dabnet_r18_p8.cityscapes"``): parameter
  count and GMACs at the dataset's test size, the Hub repo id (derived, never typed), the pinned revision and
  sha256 of ``model.safetensors`` once published, the recipe file, where the weights come from and their licence.

Every other place that enumerates models (``create_model``, hubconf, the ``models`` command, the model cards,
the README table, test parametrisation) reads these, so adding a variant is one entry here. Numbers quoted
from the original project are kept apart from numbers this project measures (:class:`PaperResult` vs. the
results files written by the recipes, see :mod:`dabnet_zoo.results`); parameter counts and GMACs are
recomputed from the built models by the tests.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from .errors import InputError, RegistryError, UnknownModelError, unknown_name_message
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
]
