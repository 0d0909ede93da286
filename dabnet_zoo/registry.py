"""The named DABNet variants and what is known about each, as plain data (no torch import).

Every other place that enumerates variants (``create_model``, hubconf, the ``models`` command, the README
table, test parametrisation) reads :data:`VARIANTS`, so adding a variant is one entry here.
Numbers quoted from the original project are kept apart from numbers this project measures
(:class:`PaperResult` vs. the results files written by the recipes).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from .errors import InputError, UnknownModelError, unknown_name_message
from .presets import DATASETS


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
        num_params: parameters of the inference model (no auxiliary heads) with 19 classes, as counted from the
            built model (a test recomputes it).
        gmacs: multiply-accumulates (10^9) of the inference model for one 1024x2048 image (convolutions only,
            decode head included), as counted with torch's FLOP counter (a test recomputes it).
        paper: results the original README reports, by dataset key.
    """

    name: str
    context_path: str
    patch_size: int
    description: str
    num_params: int
    gmacs: float
    paper: dict[str, PaperResult] = field(default_factory=dict)

    @property
    def input_multiple(self) -> int:
        """Height and width that are multiples of this always run without padding (32·P)."""
        return 32 * self.patch_size


def _r18(p: int, num_params: int, gmacs: float, paper: dict[str, PaperResult]) -> Variant:
    return Variant(
        name=f"dabnet_r18_p{p}",
        context_path="resnet18_v1c",
        patch_size=p,
        description=f"DABNet-R, ResNet-18 (v1c deep stem) context path, SIM patch size {p}",
        num_params=num_params,
        gmacs=gmacs,
        paper=paper,
    )


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        _r18(1, 16_029_939, 169.7, {"cityscapes": PaperResult(77.4, None, 33.5, _FPS_CITYSCAPES)}),
        _r18(2, 17_633_523, 164.7, {
            "cityscapes": PaperResult(77.8, 76.1, 34.9, _FPS_CITYSCAPES),
            "coco_stuff10k": PaperResult(29.5, None, 104.6, _FPS_COCO),
            "camvid": PaperResult(74.3, None, 92.2, _FPS_CAMVID),
        }),
        _r18(4, 24_047_859, 163.5, {"cityscapes": PaperResult(78.1, None, 34.7, _FPS_CITYSCAPES)}),
        _r18(8, 49_705_203, 163.2, {"cityscapes": PaperResult(78.8, 77.3, 31.1, _FPS_CITYSCAPES)}),
        _r18(16, 152_334_579, 163.1, {"cityscapes": PaperResult(78.4, None, 21.0, _FPS_CITYSCAPES)}),
        Variant(
            name="dabnet_effb1",
            context_path="efficientnet_b1",
            patch_size=2,
            description="DABNet-E, EfficientNet-B1 context path, SIM patch size 2",
            num_params=8_852_811,
            gmacs=63.9,
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
    if dataset not in DATASETS:
        raise UnknownModelError(unknown_name_message("dataset", dataset, DATASETS))
    return get_variant(arch), dataset


def list_models(pattern: str = "*") -> list[str]:
    """Names of the variants matching a shell-style ``pattern`` (e.g. ``"dabnet_r18_*"``), sorted by P."""
    return [name for name in VARIANTS if fnmatch.fnmatch(name, pattern)]


__all__ = ["PaperResult", "Variant", "VARIANTS", "get_variant", "split_model_name", "list_models"]
