"""Model cards, generated: one ``model_cards/<variant>.<dataset>/README.md`` per registry entry.

A card is rendered from three sources and nothing else, so it cannot say more than the project knows:

* the registry (:mod:`dabnet_zoo.registry`): architecture, parameters, GMACs, Hub repo, weights status, recipe
  path, and the original paper's reported results, always labelled "reported by the original paper";
* the results files (:mod:`dabnet_zoo.results`): evaluations (``results/<name>/*.json``) and benchmarks
  (``benchmarks/results/<name>/*.json``). Only these measured numbers go into the ``model-index`` front matter;
* what the original project's configs and logs say about its training recipe (:data:`ORIGINAL_RECIPES`,
  from the reference specification §9-§10).

Rendering uses huggingface_hub's ``ModelCardData``/``EvalResult`` for the YAML front matter and a Jinja
template (:data:`MODEL_CARD_TEMPLATE`) for the body; the output is deterministic (no dates or versions of its
own), so ``dabnet-zoo cards --check`` and a test can tell when the committed cards are stale.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DabnetZooError
from .presets import DATASETS
from .registry import (
    ORIGIN_CONVERTED,
    VARIANTS,
    WEIGHTS,
    WeightsEntry,
    get_weights,
)
from .results import BenchmarkResult, EvaluationResult, load_benchmark_results, load_evaluation_results
from .results import write_text_atomic

logger = logging.getLogger(__name__)

DEFAULT_CARDS_DIR = "model_cards"
CARD_FILE = "README.md"
ORIGINAL_REPO_URL = "https://github.com/isyangshu/DABNet"
PAPER_TITLE = "Real-time Semantic Segmentation via Densely Aggregated Bilateral Network"
BIBTEX = (
    "@misc{dabnet,\n"
    f"  title        = {{{PAPER_TITLE}}},\n"
    f"  howpublished = {{\\url{{{ORIGINAL_REPO_URL}}}}},\n"
    "}"
)
TAGS = ("semantic-segmentation", "real-time", "dabnet", "bisenet", "dabnet-zoo")


@dataclass(frozen=True)
class CardWeights:
    """What a card says about the weights: where they live and how to check them.

    Registry cards use :meth:`from_entry`; ``dabnet-zoo push`` describes the folder it uploads (published,
    sha256 and size of the staged file, no revision yet: the commit is created by the upload).
    """

    repo_id: str
    published: bool
    origin: str
    license: str
    revision: str | None = None
    sha256: str | None = None
    file_size: int | None = None

    @classmethod
    def from_entry(cls, entry: WeightsEntry) -> CardWeights:
        return cls(entry.hub_repo_id, entry.published, entry.origin, entry.license, entry.revision, entry.sha256,
                   entry.file_size)


@dataclass(frozen=True)
class OriginalRecipe:
    """How the original project trained one variant on one dataset (reference spec §9, §10.3)."""

    config: str | None
    facts: tuple[str, ...]


def _original_recipes() -> dict[str, OriginalRecipe]:
    cityscapes_data = (
        "Data: Cityscapes train (2,975 images), validated on val (500 images), whole-image inference at 2048x1024, "
        "single scale.",
        "Augmentation: random rescale 0.5-2.0x of 2048x1024 (keeping the ratio), 1024x1024 random crops (at most "
        "75 % of one class), horizontal flip, photometric distortion.",
    )
    loss = "Loss: cross-entropy on the decode head (weight 1.0) and on two auxiliary FCN heads (0.4 each), " \
           "ignore index 255; SyncBN over the GPUs."
    r18_sgd = ("Optimiser: SGD, lr 0.025, momentum 0.9, weight decay 5e-4 (all parameters); poly decay (power "
               "0.9) to 1e-4 over 80,000 iterations, linear warm-up over the first 1,000 (ratio 0.1).")
    effb1_adam = ("Optimiser: Adam, lr 1e-3, betas (0.5, 0.999), no weight decay, no warm-up; poly decay (power "
                  "0.9) to 1e-4 over 80,000 iterations.")
    coco_data = (
        "Data: COCO-Stuff-10k, 9,000 training and 1,000 test images (the test images are the validation set); "
        "label 0 (unlabelled) is ignored and the other labels shifted down (reduce_zero_label).",
        "Augmentation: random rescale 0.5-2.0x of 2048x512 (keeping the ratio), 512x512 random crops, horizontal "
        "flip, photometric distortion; test images resized to exactly 640x640, logits resized back.",
    )
    hardware = "Hardware: 4 x Tesla P40 (distributed data parallel), PyTorch 1.6, mmsegmentation 0.19/0.20."
    recipes: dict[str, OriginalRecipe] = {}
    wall_hours = {"dabnet_r18_p1": 47.0, "dabnet_r18_p2": 46.9, "dabnet_r18_p4": 46.3, "dabnet_r18_p8": 47.1,
                  "dabnet_r18_p16": 50.6}
    for name, hours in wall_hours.items():
        recipes[f"{name}.cityscapes"] = OriginalRecipe(
            "configs/dabnet/dabnet_r18-d32_in1k-pre_4x8_1024x1024_80k_cityscapes.py"
            + ("" if name == "dabnet_r18_p2" else " (written for P2; the other patch sizes change only P)"),
            (*cityscapes_data,
             "Batch: 32 (8 per GPU x 4 GPUs); initialisation: ImageNet ResNet-18 (v1c, deep stem).",
             r18_sgd, loss, f"{hardware} About {hours:.0f} h of training."),
        )
    recipes["dabnet_effb1.cityscapes"] = OriginalRecipe(
        "configs/dabnet/dabnet_eb_in1k-pre_4x8_1024x1024_80k_cityscapes.py",
        (*cityscapes_data, "Batch: 16 (4 per GPU x 4 GPUs); initialisation: timm's ImageNet EfficientNet-B1.",
         effb1_adam, loss, f"{hardware} About 31 h of training."),
    )
    recipes["dabnet_r18_p2.coco_stuff10k"] = OriginalRecipe(
        "configs/dabnet/dabnet_r18-d32_in1k-pre_lr5e-3_4x4_512x512_80k_coco-stuff10k.py",
        (*coco_data, "Batch: 32 (8 per GPU x 4 GPUs; the '4x4' in the file name is stale).",
         "Optimiser: SGD, lr 0.005, momentum 0.9, weight decay 5e-4; poly decay (power 0.9) to 1e-4 over 80,000 "
         "iterations, linear warm-up over the first 1,000.", loss, hardware),
    )
    recipes["dabnet_effb1.coco_stuff10k"] = OriginalRecipe(
        "configs/dabnet/dabnet_eb_in1k-pre_4x8_80k_coco10k.py",
        (*coco_data, "Batch: 32 (8 per GPU x 4 GPUs).", effb1_adam, loss, hardware),
    )
    recipes["dabnet_r18_p2.coco_stuff164k"] = OriginalRecipe(
        "configs/dabnet/dabnet_r18-d32_in1k-pre_lr5e-3_4x4_512x512_160k_coco-stuff164k.py",
        ("The original has this config only: no training log and no result.",
         "Data: COCO-Stuff-164k train2017 / val2017, no reduce_zero_label; the same pipelines as COCO-Stuff-10k "
         "(512x512 crops, 640x640 test).",
         "Batch: 32 (8 per GPU); SGD lr 0.005 with a 1,000-iteration warm-up, poly decay to 1e-4 over 160,000 "
         "iterations."),
    )
    for name in ("dabnet_r18_p2", "dabnet_effb1"):
        recipes[f"{name}.camvid"] = OriginalRecipe(
            None,
            ("The original README reports this model (crop 960x768, inference 960x768, batch 2 x 4 GPUs, 10,000 "
             "iterations, trained on train+val, evaluated on test) but its repository has no model config and no "
             "log for CamVid: the optimiser and learning rate are not recorded, so the run cannot be reproduced "
             "from it.",
             "The repository's CamVid data config: 11 classes, train+val for training, the test split for "
             "evaluation, test images resized to exactly 960x768."),
        )
    return recipes


ORIGINAL_RECIPES: dict[str, OriginalRecipe] = _original_recipes()
"""The original project's recipe per ``variant.dataset``, where it has one."""

# How the original README's mIoU columns map to splits, per dataset (PaperResult.miou_val / miou_test).
_PAPER_SPLITS = {
    "cityscapes": ("val (500 images)", "test (evaluation server)"),
    "camvid": ("test (model trained on train+val)", None),
    "coco_stuff10k": ("test (1,000 images, the original's validation set)", None),
    "coco_stuff164k": ("val2017", None),
}
_DOMAINS = {
    "cityscapes": "urban street scenes filmed from a car in German and neighbouring cities, in daylight",
    "camvid": "driving video recorded in Cambridge, UK",
    "coco_stuff10k": "everyday photographs (COCO images) with 80 thing and 91 stuff classes",
    "coco_stuff164k": "everyday photographs (COCO images) with 80 thing and 91 stuff classes",
}
_DATASET_TERMS = {
    "cityscapes": "Cityscapes is not freely redistributable: its terms of use "
                  "(https://www.cityscapes-dataset.com/license/) permit non-commercial purposes only, and models "
                  "trained on it may carry those restrictions. Check them before any commercial use.",
    "camvid": "CamVid is distributed by its authors under their own terms; check them before any commercial use.",
    "coco_stuff10k": "COCO images come from Flickr under their owners' licences and COCO-Stuff annotations have "
                     "their own terms; check both before any commercial use.",
    "coco_stuff164k": "COCO images come from Flickr under their owners' licences and COCO-Stuff annotations have "
                      "their own terms; check both before any commercial use.",
}

MODEL_CARD_TEMPLATE = """\
---
{{ card_data }}
---

# {{ name }}: DABNet for {{ dataset.display_name }} semantic segmentation

{{ summary }}

{% if not weights.published %}
> **No trained weights are published for this model yet.** `pretrained=True` raises an error instead of
> returning random weights, and the Hub snippets below work once `{{ weights.repo_id }}` is published.
{% if converted %}
> Until then, convert the original project's checkpoint (the original README links it) and load the folder:
{% else %}
> Until then, train it with `{{ recipe }}`, or, if you have an original checkpoint of this variant and
> dataset, convert it and load the folder:
{% endif %}
>
> ```bash
> dabnet-zoo convert ORIGINAL.pth converted/{{ name }} --variant {{ variant.name }} --dataset {{ dataset.name }}
> ```
>
> then `DabnetForSemanticSegmentation.from_pretrained("converted/{{ name }}")`.

{% endif %}
## Model details

| | |
|---|---|
{% for key, value in details %}
| {{ key }} | {{ value }} |
{% endfor %}

## How to use

{% if registry_repo %}
With dabnet-zoo installed (its image processor reproduces the original's test protocol for {{ dataset.display_name }}):

```python
import torch
from PIL import Image

from dabnet_zoo import create_model, create_processor

model = create_model("{{ variant.name }}", dataset="{{ dataset.name }}", pretrained=True).eval()
processor = create_processor("{{ dataset.name }}")

image = Image.open("image.png")
inputs = processor(image, return_tensors="pt")
with torch.no_grad():
    outputs = model(pixel_values=inputs["pixel_values"])
label_map = processor.post_process_semantic_segmentation(outputs, target_sizes=[image.size[::-1]])[0]
```

With `torch.hub`, from a clone of dabnet-zoo:

```python
import torch

model = torch.hub.load("path/to/dabnet-zoo", "{{ variant.name }}", source="local", dataset="{{ dataset.name }}", pretrained=True)
```

{% endif %}
With transformers' Auto classes (`import dabnet_zoo` registers them; without dabnet-zoo, `trust_remote_code=True`
runs the modules shipped in the repository, which need `timm`):

```python
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

model = AutoModelForSemanticSegmentation.from_pretrained("{{ weights.repo_id }}"{{ revision_arg }}, trust_remote_code=True)
processor = AutoImageProcessor.from_pretrained("{{ weights.repo_id }}"{{ revision_arg }}, trust_remote_code=True)

image = Image.open("image.png")
inputs = processor(image, return_tensors="pt")
with torch.no_grad():
    outputs = model(pixel_values=inputs["pixel_values"])
label_map = processor.post_process_semantic_segmentation(outputs, target_sizes=[image.size[::-1]])[0]
```

From the command line (label PNGs, colour maps and overlays):

```bash
dabnet-zoo predict {{ weights.repo_id }} images/ --out predictions
```

`outputs.logits` are at 1/8 of the input size; `post_process_semantic_segmentation` resizes them to each image
and takes the argmax. Labels: {{ label_note }}

## Training

{{ origin_note }}

dabnet-zoo's recipe for this model: `{{ recipe }}`.

{% if original_recipe %}
### The original project's recipe

{% if original_recipe.config %}
Original config: `{{ original_recipe.config }}` ({{ original_repo_url }}).

{% endif %}
{% for fact in original_recipe.facts %}
- {{ fact }}
{% endfor %}
{% else %}
The original project did not train {{ variant.name }} on {{ dataset.display_name }}: there is no original recipe or
checkpoint for this combination.
{% endif %}

## Evaluation

### Measured by dabnet-zoo

{% if evaluations %}
| split | mode | images | mIoU (%) | mAcc (%) | aAcc (%) | weights | date |
|---|---|---|---|---|---|---|---|
{% for row in evaluations %}
| {{ row | join(" | ") }} |
{% endfor %}
{% if per_class_rows %}

Per-class IoU (%):

| class | {{ per_class_header | join(" | ") }} |
|---{% for _ in per_class_header %}|---{% endfor %}|
{% for row in per_class_rows %}
| {{ row | join(" | ") }} |
{% endfor %}
{% endif %}

Commands:

```bash
{% for command in evaluation_commands %}
{{ command }}
{% endfor %}
```
{% else %}
Nothing measured yet (no `results/{{ name }}/*.json`, written by `recipes/evaluate.py`).
{% endif %}

### Reported by the original paper

{% if paper_rows %}
Reported by the original paper (the original README), not measured by dabnet-zoo:

| split | mIoU (%) |
|---|---|
{% for row in paper_rows %}
| {{ row | join(" | ") }} |
{% endfor %}
{% else %}
The original paper reports no result for {{ variant.name }} on {{ dataset.display_name }}.
{% endif %}

## Speed

### Measured by dabnet-zoo

{% if benchmarks %}
| backend | precision | device | hardware | input (HxW) | batch | includes resize + argmax | median (ms) | p90 (ms) | FPS |
|---|---|---|---|---|---|---|---|---|---|
{% for row in benchmarks %}
| {{ row | join(" | ") }} |
{% endfor %}

Commands and environments:

{% for command, environment in benchmark_details %}
- `{{ command }}` ({{ environment }})
{% endfor %}
{% else %}
Nothing measured yet (no `benchmarks/results/{{ name }}/*.json`, written by `dabnet-zoo benchmark`).
{% endif %}

### Reported by the original paper

{% if paper_fps %}
{{ paper_fps }}
{% else %}
The original paper reports no speed for {{ variant.name }} on {{ dataset.display_name }}.
{% endif %}

## Limitations

- **Input sizes.** The original network only runs when both sides are even and every stage side is divisible by
  P = {{ variant.patch_size }}; multiples of {{ variant.input_multiple }} always work. dabnet-zoo takes any size:
  other sizes are zero-padded at the bottom and right to the smallest accepted size and the logits are cropped
  back, which equals the original run on the padded image but costs the padded compute{{ padding_note }}.
{% if not weights.published %}
- **Weights.** None are published yet. Until they are, models built with `pretrained=False` have random
  weights and their predictions are meaningless: load a converted or trained folder instead.
{% endif %}
- **Domain.** Trained on {{ dataset.display_name }} only ({{ domain }}); expect lower accuracy on other
  viewpoints, places, weather or lighting.
{% if paper_fps %}
- **Speed numbers.** The original's FPS were measured with TensorRT 7 on a GTX 1080Ti; they are not comparable
  with measurements on other hardware, backends or precisions.
{% endif %}

## Licence

Licence of the weights: `{{ weights.license }}`. dabnet-zoo is Apache-2.0, and the original DABNet repository
(an mmsegmentation fork) carries the Apache License 2.0.

{{ dataset_terms }}

## Citation

If you use DABNet, cite the original paper, *{{ paper_title }}*, and its code, {{ original_repo_url }}.
The original README gives no BibTeX entry; this one holds only what it states:

```bibtex
{{ bibtex }}
```
"""


def _jinja_environment():
    try:
        import jinja2
    except ImportError:
        raise DabnetZooError("Model cards need Jinja2: pip install 'dabnet-zoo[cards]'.") from None
    return jinja2.Environment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _size(height: int, width: int) -> str:
    return f"{height}x{width}"


def build_card_data(
    entry: WeightsEntry,
    evaluations: list[EvaluationResult],
    weights: CardWeights,
    library_name: str = "transformers",
):
    """The ``ModelCardData`` of a card: front matter, with ``model-index`` from measured evaluations only."""
    from huggingface_hub import EvalResult, ModelCardData

    dataset = DATASETS[entry.dataset]
    eval_results = [
        EvalResult(
            task_type="image-segmentation",
            task_name="Semantic Segmentation",
            dataset_type=dataset.hub_dataset_id,
            dataset_name=dataset.display_name,
            dataset_split=record.split,
            metric_type=metric,
            metric_name=label,
            metric_value=round(record.metrics[metric], 4),
            metric_config=record.mode,
        )
        for record in evaluations
        for metric, label in (("mean_iou", "mIoU"), ("mean_accuracy", "mAcc"), ("overall_accuracy", "aAcc"))
    ]
    return ModelCardData(
        library_name=library_name,
        license=weights.license,
        tags=[*TAGS, entry.dataset],
        datasets=[dataset.hub_dataset_id],
        metrics=["mean_iou"],
        pipeline_tag="image-segmentation",
        model_name=entry.name if eval_results else None,
        eval_results=eval_results or None,
    )


def render_model_card(
    name: str,
    dataset: str | None = None,
    *,
    root: str | os.PathLike = ".",
    weights: CardWeights | None = None,
    library_name: str = "transformers",
    evaluations: list[EvaluationResult] | None = None,
    benchmarks: list[BenchmarkResult] | None = None,
) -> str:
    """The model card (README.md text) of ``"variant.dataset"``.

    Args:
        name, dataset: the model, as for :func:`dabnet_zoo.create_model`.
        root: repository root whose ``results/`` and ``benchmarks/results/`` are read (absent folders: nothing
            measured). Ignored for a kind passed explicitly below.
        weights: what to say about the weights; defaults to the registry entry.
        library_name: front matter ``library_name`` (``transformers`` when the repo ships the remote code).
        evaluations, benchmarks: results to use instead of reading them from ``root``.

    Raises:
        ResultsError: a results file under ``root`` does not follow its schema (the message names it).
    """
    entry = get_weights(name, dataset)
    evaluations = load_evaluation_results(entry.name, root) if evaluations is None else evaluations
    benchmarks = load_benchmark_results(entry.name, root) if benchmarks is None else benchmarks
    weights = weights or CardWeights.from_entry(entry)
    card_data = build_card_data(entry, evaluations, weights, library_name)
    context = _context(entry, weights, evaluations, benchmarks)
    template = _jinja_environment().from_string(MODEL_CARD_TEMPLATE)
    return template.render(card_data=card_data.to_yaml(), **context)


def generate_model_card(name: str, dataset: str | None = None, **kwargs: Any):
    """:func:`render_model_card` as a ``huggingface_hub.ModelCard`` (``card.data.eval_results`` parses back)."""
    from huggingface_hub import ModelCard

    return ModelCard(render_model_card(name, dataset, **kwargs))


def write_model_cards(
    out_dir: str | os.PathLike = DEFAULT_CARDS_DIR, root: str | os.PathLike = ".", pattern: str = "*"
) -> list[Path]:
    """Write ``<out_dir>/<variant>.<dataset>/README.md`` for every registry entry matching ``pattern``.

    Each file is written atomically; the results under ``root`` are read (and validated) first, so a broken
    results file stops the run before any card is written. Returns the paths written.
    """
    from .registry import list_weights

    cards = {entry.name: render_model_card(entry.name, root=root) for entry in list_weights(pattern)}
    paths = [write_text_atomic(Path(out_dir) / name / CARD_FILE, text) for name, text in cards.items()]
    logger.info("Wrote %d model cards to %s", len(paths), out_dir)
    return paths


def stale_model_cards(
    out_dir: str | os.PathLike = DEFAULT_CARDS_DIR, root: str | os.PathLike = "."
) -> list[str]:
    """Names of the registry entries whose card under ``out_dir`` is missing or differs from a fresh render."""
    stale = []
    for name in WEIGHTS:
        path = Path(out_dir) / name / CARD_FILE
        if not path.is_file() or path.read_text(encoding="utf-8") != render_model_card(name, root=root):
            stale.append(name)
    return stale


def _context(
    entry: WeightsEntry, weights: CardWeights, evaluations: list[EvaluationResult], benchmarks: list[BenchmarkResult]
) -> dict[str, Any]:
    variant, dataset = VARIANTS[entry.variant], DATASETS[entry.dataset]
    test_h, test_w = dataset.test_size
    paper = variant.paper.get(entry.dataset)
    resize = ("resized to fit {} keeping the aspect ratio" if dataset.test_keep_ratio else "resized to exactly {}")
    details = [
        ("Model", f"`{entry.name}` (dabnet-zoo name)"),
        ("Architecture", f"DABNet: {variant.description}"),
        ("Parameters", f"{entry.num_params / 1e6:.2f} M (inference path, without the auxiliary training heads)"),
        ("GMACs", f"{entry.gmacs:.1f} for one {_size(test_h, test_w)} image"
                  + (f" (run at {_size(*entry.gmacs_input_size)} after padding)"
                     if entry.gmacs_input_size != dataset.test_size else "")
                  + ", convolutions only"),
        ("Classes", f"{dataset.num_labels} ({dataset.display_name}), ignore index {dataset.ignore_index}"),
        ("Test protocol", f"image {resize.format(_size(test_h, test_w))}, ImageNet mean/std on the 0-255 scale, "
                          "whole image, single scale; logits resized back to the image"),
        ("Input sizes", f"any; multiples of {variant.input_multiple} run without padding"),
        ("Hub repository", f"`{weights.repo_id}`"),
        ("Weights", _weights_status(weights)),
        ("Licence", f"`{weights.license}`"),
        ("Recipe", f"`{entry.recipe}`"),
        ("Original code", ORIGINAL_REPO_URL),
    ]
    paper_rows = []
    if paper is not None:
        splits = _PAPER_SPLITS[entry.dataset]
        for split, value in zip(splits, (paper.miou_val, paper.miou_test)):
            if split is not None and value is not None:
                paper_rows.append((split, f"{value:.1f}"))
    paper_fps = ""
    if paper is not None and paper.fps is not None:
        paper_fps = (f"Reported by the original paper (the original README), not measured by dabnet-zoo: "
                     f"{paper.fps:.1f} FPS ({paper.fps_setup}).")
    header, per_class_rows = _per_class_table(evaluations, dataset.class_names)
    padding_note = ""
    if entry.gmacs_input_size != dataset.test_size:
        padding_note = (f" (this variant runs the {_size(test_h, test_w)} test size at "
                        f"{_size(*entry.gmacs_input_size)})")
    converted = weights.origin == ORIGIN_CONVERTED
    if weights.published:
        origin_note = ("The weights are the original project's checkpoint converted with `dabnet-zoo convert`: the "
                       "original authors trained them with the original project's recipe." if converted else
                       "The weights were trained by dabnet-zoo with its recipe.")
    else:
        origin_note = ("Planned weights: the original project's checkpoint, converted with `dabnet-zoo convert` "
                       "(trained by the original authors with the original project's recipe); none are published yet."
                       if converted else
                       "Planned weights: trained by dabnet-zoo with its recipe; none are published yet.")
    return {
        "name": entry.name,
        "variant": variant,
        "dataset": dataset,
        "weights": weights,
        "summary": (f"DABNet (Densely Aggregated Bilateral Network), a real-time two-branch semantic segmentation "
                    f"network in the BiSeNet family ({variant.description}), for the {dataset.num_labels} classes "
                    f"of {dataset.display_name}. Re-implemented in dabnet-zoo with transformers and timm; with the "
                    "same weights its outputs match the original code's (tested against the original's outputs)."),
        "details": details,
        "registry_repo": weights.repo_id == entry.hub_repo_id,
        "revision_arg": f', revision="{weights.revision}"' if weights.revision else "",
        "label_note": _label_note(dataset),
        "origin_note": origin_note,
        "converted": converted,
        "recipe": entry.recipe,
        "original_recipe": ORIGINAL_RECIPES.get(entry.name),
        "original_repo_url": ORIGINAL_REPO_URL,
        "evaluations": [
            (r.split, r.mode, str(r.num_images), _percent(r.metrics["mean_iou"]), _percent(r.metrics["mean_accuracy"]),
             _percent(r.metrics["overall_accuracy"]), f"`{r.weights}`", r.date)
            for r in evaluations
        ],
        "evaluation_commands": [r.command for r in evaluations],
        "per_class_header": header,
        "per_class_rows": per_class_rows,
        "paper_rows": paper_rows,
        "benchmarks": [
            (b.backend, b.precision, b.device, b.hardware, _size(b.height, b.width), str(b.batch_size),
             "yes" if b.includes_resize_argmax else "no", f"{b.latency_ms['median']:.2f}",
             f"{b.latency_ms['p90']:.2f}", f"{b.fps:.1f}")
            for b in benchmarks
        ],
        "benchmark_details": [
            (b.command, ", ".join(f"{k} {v}" for k, v in sorted(b.environment.items())) or "no environment recorded")
            for b in benchmarks
        ],
        "paper_fps": paper_fps,
        "padding_note": padding_note,
        "domain": _DOMAINS[entry.dataset],
        "dataset_terms": _DATASET_TERMS[entry.dataset],
        "paper_title": PAPER_TITLE,
        "bibtex": BIBTEX,
    }


def _weights_status(weights: CardWeights) -> str:
    if not weights.published:
        return f"not published yet (planned: {weights.origin})"
    parts = [weights.origin]
    if weights.revision:
        parts.append(f"revision `{weights.revision}`")
    if weights.sha256:
        parts.append(f"`model.safetensors` sha256 `{weights.sha256}`")
    if weights.file_size:
        parts.append(f"{weights.file_size / 2**20:.1f} MiB")
    return ", ".join(parts)


def _label_note(dataset) -> str:
    if dataset.name == "cityscapes":
        return ("Cityscapes trainIds 0-18 (`dabnet-zoo predict --cityscapes-label-ids` writes the official labelIds "
                "for the evaluation server); 255 is ignored.")
    if dataset.reduce_zero_label:
        return (f"0-{dataset.num_labels - 1}; the dataset's label 0 (unlabelled) is ignored and the others are "
                "shifted down by one (the image processor's `do_reduce_labels`).")
    return f"0-{dataset.num_labels - 1}; {dataset.ignore_index} is ignored."


def _per_class_table(evaluations: list[EvaluationResult], class_names: tuple[str, ...]):
    measured = [r for r in evaluations if r.per_category_iou]
    if not measured:
        return [], []
    header = [f"{r.split} {r.mode}" for r in measured]
    names = list(class_names) + sorted({n for r in measured for n in r.per_category_iou} - set(class_names))
    rows = [
        (name, *(_percent(r.per_category_iou.get(name)) for r in measured))
        for name in names if any(name in r.per_category_iou for r in measured)
    ]
    return header, rows


__all__ = [
    "CARD_FILE",
    "CardWeights",
    "DEFAULT_CARDS_DIR",
    "MODEL_CARD_TEMPLATE",
    "ORIGINAL_RECIPES",
    "OriginalRecipe",
    "build_card_data",
    "generate_model_card",
    "render_model_card",
    "stale_model_cards",
    "write_model_cards",
]
