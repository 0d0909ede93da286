"""Model cards, generated: one ``model_cards/<variant>.<dataset>/README.md`` per registry entry.

A card is rendered from three sources and nothing else, so it cannot say more than the project knows:

* the registry (:mod:`dabnet_zoo.registry`) and the dataset presets (:mod:`dabnet_zoo.presets`, which also hold
  the wording about each dataset): architecture, parameters, GMACs, Hub repo, weights status, recipe path, and
  the original paper's reported results, always labelled "reported by the original paper";
* the results files (:mod:`dabnet_zoo.results`): evaluations (``results/<name>/*.json``) of the weights the card
  describes (same sha256, the real dataset; see :func:`dabnet_zoo.results.evaluations_of`) and benchmarks
  (``benchmarks/results/<name>/*.json``). Only those evaluations go into the ``model-index`` front matter;
* what the original project's configs and logs say about its training recipe (:data:`ORIGINAL_RECIPES`; see
  docs/architecture.md for the protocols).

Rendering uses huggingface_hub's ``ModelCardData``/``EvalResult`` for the YAML front matter and the Jinja
templates in ``dabnet_zoo/templates/`` (package data: :data:`MODEL_CARD_TEMPLATE`, :data:`TRAINING_CARD_TEMPLATE`
and the parts they include) for the body; the output is deterministic (no dates or versions of its own), so
``dabnet-zoo cards --check`` and a test can tell when the committed cards are stale.

A model trained by ``recipes/train.py`` gets a card of its own, :func:`render_training_card` /
:func:`write_training_card` (``final/README.md`` of the run), rendered from the run's ``training.json``
(``dabnet-zoo/training/v1``) with the same front matter, per-class table, limitations and citation parts: the
recipe as it ran, the final evaluation (its only ``model-index`` entry, named after the data actually used: the
synthetic demo scenes are never called Cityscapes) and the mIoU curve.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DabnetZooError
from .fileio import write_atomic
from .presets import DATASETS
from .registry import (
    ORIGIN_CONVERTED,
    VARIANTS,
    WEIGHTS,
    WeightsEntry,
    get_weights,
)
from .results import (
    BACKENDS,
    EVAL_METRICS,
    SYNTHETIC,
    BenchmarkResult,
    EvaluationResult,
    evaluations_of,
    load_benchmark_results,
    load_evaluation_results,
    load_training_record,
)

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
    """How the original project trained one variant on one dataset (from its configs and training logs)."""

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

TEMPLATES = "templates"
"""Package folder of the Jinja templates (``model_card.md.jinja``, ``training_card.md.jinja`` and the ``_*.md.jinja``
parts both include); they are package data, shipped with the wheel."""
MODEL_CARD_TEMPLATE = "model_card.md.jinja"
TRAINING_CARD_TEMPLATE = "training_card.md.jinja"

TRAINING_CARD_MARKER = "<!-- dabnet-zoo training card: rendered from training.json by dabnet_zoo.cards -->"
"""First line after the front matter of a training card; ``dabnet-zoo push`` recognises such cards by it."""


def _jinja_environment():
    try:
        import jinja2
    except ImportError:
        raise DabnetZooError("Model cards need Jinja2: pip install 'dabnet-zoo[cards]'.") from None
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dabnet_zoo", TEMPLATES), trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False,
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
    dataset = DATASETS[entry.dataset]
    eval_results = _eval_results(evaluations, dataset.hub_dataset_id, dataset.display_name)
    return _card_data(library_name, weights.license, entry.dataset, [dataset.hub_dataset_id], entry.name,
                      eval_results)


def _card_data(library_name: str, license: str, tag: str, datasets: list[str] | None, model_name: str,
               eval_results: list):
    """Front matter shared by registry and training cards; ``model-index`` (which needs ``model_name``) only
    when something was measured."""
    from huggingface_hub import ModelCardData

    return ModelCardData(
        library_name=library_name,
        license=license,
        tags=[*TAGS, tag],
        datasets=datasets,
        metrics=["mean_iou"],
        pipeline_tag="image-segmentation",
        model_name=model_name if eval_results else None,
        eval_results=eval_results or None,
    )


def _eval_results(evaluations: list[EvaluationResult], dataset_type: str, dataset_name: str) -> list:
    """``model-index`` entries (mIoU, mAcc, aAcc) of measured evaluations, as huggingface_hub ``EvalResult``s."""
    from huggingface_hub import EvalResult

    return [
        EvalResult(
            task_type="image-segmentation",
            task_name="Semantic Segmentation",
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_split=record.split,
            metric_type=metric,
            metric_name=label,
            metric_value=round(record.metrics[metric], 4),
            metric_config=record.mode if record.test_size == DATASETS[record.dataset].test_size else
            f"{record.mode}, test size {_size(*record.test_size)}",
        )
        for record in evaluations
        for metric, label in (("mean_iou", "mIoU"), ("mean_accuracy", "mAcc"), ("overall_accuracy", "aAcc"))
    ]


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

    Only the evaluations of ``weights`` (their sha256) on the real dataset are shown and enter ``model-index``
    (:func:`dabnet_zoo.results.evaluations_of`): none for weights that are not published, whatever ``root``
    holds. Benchmarks are kept whatever weights they were measured with (latency does not depend on them).

    Raises:
        ResultsError: a results file under ``root`` does not follow its schema (the message names it).
    """
    entry = get_weights(name, dataset)
    weights = weights or CardWeights.from_entry(entry)
    evaluations = load_evaluation_results(entry.name, root) if evaluations is None else evaluations
    evaluations = evaluations_of(evaluations, weights.sha256, entry.dataset)
    benchmarks = load_benchmark_results(entry.name, root) if benchmarks is None else benchmarks
    benchmarks = sorted(benchmarks, key=lambda b: (b.device, b.precision, BACKENDS.index(b.backend)))
    card_data = build_card_data(entry, evaluations, weights, library_name)
    context = _context(entry, weights, evaluations, benchmarks)
    template = _jinja_environment().get_template(MODEL_CARD_TEMPLATE)
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
    paths = [write_atomic(Path(out_dir) / name / CARD_FILE, text) for name, text in cards.items()]
    logger.info("Wrote %d model cards to %s", len(paths), out_dir)
    return paths


def stale_model_cards(
    out_dir: str | os.PathLike = DEFAULT_CARDS_DIR, root: str | os.PathLike = ".", pattern: str = "*"
) -> list[str]:
    """Names of the registry entries matching ``pattern`` whose card under ``out_dir`` is missing or differs from
    a fresh render."""
    from .registry import list_weights

    stale = []
    for entry in list_weights(pattern):
        path = Path(out_dir) / entry.name / CARD_FILE
        if not path.is_file() or path.read_text(encoding="utf-8") != render_model_card(entry.name, root=root):
            stale.append(entry.name)
    return stale


# --------------------------------------------------------------------------------------------------------------
# Cards of training runs (recipes/train.py)
# --------------------------------------------------------------------------------------------------------------

SYNTHETIC_DATASET_TYPE = "synthetic-cityscapes-layout"
"""``model-index`` dataset type of the synthetic demo data (no Hub dataset: the data are generated locally)."""


def _record_says_synthetic(record: dict[str, Any]) -> bool:
    """Without the data root at hand: the demo's recipe, description and command name the synthetic data."""
    text = " ".join(str(record.get(key) or "") for key in ("recipe", "description", "command")).lower()
    return "synthetic" in text


def render_training_card(
    training_record: dict | str | os.PathLike,
    *,
    synthetic: bool | None = None,
    model_path: str | os.PathLike | None = None,
    repo_id: str | None = None,
    weights_sha256: str | None = None,
    weights_size: int | None = None,
    license: str | None = None,
    library_name: str = "transformers",
) -> str:
    """The model card (README.md text) of a model trained by ``recipes/train.py``, from its ``training.json``.

    Unlike :func:`render_model_card` (a registry entry: planned or published weights, results files), this card
    describes one run: the recipe as it ran (batch plan, optimiser, schedule, hardware, wall time, command), its
    final evaluation (``model-index``, per-class IoU) and its mIoU curve.

    Args:
        training_record: the record (dict) or the path of ``training.json``.
        synthetic: whether the run trained on the synthetic Cityscapes-layout scenes; ``None`` infers it from the
            record (its recipe, description or command naming synthetic data). ``recipes/train.py`` passes what
            :func:`dabnet_zoo.data.synthetic.is_synthetic_root` says of its data root. A synthetic run's card and
            ``model-index`` name the synthetic data, never the real dataset.
        model_path: the folder the card is written into, for the loading snippet (default ``path/to/final``).
        repo_id: the Hub repo the folder is pushed to (``dabnet-zoo push``); the snippets then load from it.
        weights_sha256, weights_size: of the folder's ``model.safetensors``, when known.
        license: licence of the weights (default: the registry entry's, else apache-2.0).
        library_name: front matter ``library_name``.

    Raises:
        ResultsError: the record is not a valid ``dabnet-zoo/training/v1`` record (the message lists why).
    """
    record = load_training_record(training_record)
    if synthetic is None:
        synthetic = _record_says_synthetic(record)
    variant, dataset = VARIANTS[record["variant"]], DATASETS[record["dataset"]]
    entry = WEIGHTS.get(record["model"])
    license = license or (entry.license if entry is not None else "apache-2.0")
    final = record["final_eval"]
    if synthetic:
        data_name = (f"synthetic street scenes in the {dataset.display_name} layout (`dabnet-zoo make-synthetic`; "
                     f"not {dataset.display_name})")
        dataset_type = SYNTHETIC_DATASET_TYPE
        index_name = f"Synthetic street scenes in the {dataset.display_name} layout (not {dataset.display_name})"
    else:
        data_name, dataset_type, index_name = dataset.display_name, dataset.hub_dataset_id, dataset.display_name

    evaluations = []
    if final is not None:
        evaluations.append(EvaluationResult(
            model=record["model"], dataset=record["dataset"], evaluated_on=SYNTHETIC if synthetic else record["dataset"],
            split=final["split"], mode=final["mode"], test_size=tuple(final["eval_size"]),
            keep_ratio=dataset.test_keep_ratio, num_images=final["num_images"],
            metrics={m: final[m] for m in EVAL_METRICS}, per_category_iou=final["per_category_iou"],
            weights=str(model_path or "final"), weights_sha256=weights_sha256, command=record["command"],
            date=record["date"],
        ))
    eval_results = _eval_results(evaluations, dataset_type, index_name)
    title_data = f"synthetic {dataset.display_name}-layout scenes" if synthetic else dataset.display_name
    card_data = _card_data(library_name, license, "synthetic-data" if synthetic else record["dataset"],
                           None if synthetic else [dataset.hub_dataset_id], f"{variant.name} trained on {title_data}",
                           eval_results)

    batch, hardware = record["batch"], record["hardware"]
    eval_size = _size(*final["eval_size"]) if final is not None else "n/a"
    header, per_class_rows = _per_class_table(evaluations, dataset.class_names)
    details = [
        ("Model", f"`{variant.name}` with the {dataset.display_name} label set (`{record['model']}`), trained by "
                  "dabnet-zoo"),
        ("Architecture", f"DABNet: {variant.description}"),
    ]
    if entry is not None:
        details.append(("Parameters", f"{entry.num_params / 1e6:.2f} M (inference path, without the auxiliary "
                                      "training heads)"))
    details += [
        ("Classes", f"{dataset.num_labels} ({dataset.display_name} label set), ignore index {dataset.ignore_index}"),
        ("Training data", data_name),
        ("Evaluation", f"split `{final['split']}`, whole image at {eval_size}, single scale" if final else "none"),
    ]
    if repo_id:
        details.append(("Hub repository", f"`{repo_id}`"))
    if weights_sha256 or weights_size:
        details.append(("Weights", ", ".join(
            ([f"`model.safetensors` sha256 `{weights_sha256}`"] if weights_sha256 else [])
            + ([f"{weights_size / 2**20:.1f} MiB"] if weights_size else []))))
    details += [("Licence", f"`{license}`"), ("Recipe", f"`{record['recipe']}`"), ("Original code", ORIGINAL_REPO_URL)]

    bn = ("frozen (running statistics fixed, affine parameters trained)" if record["freeze_bn"] else
          "SyncBatchNorm over the processes" if record["sync_bn"] else
          f"per process (statistics over {batch['per_device']} image(s) per forward pass)")
    recipe_rows = [
        ("Initialisation", f"`{record['init']}`" if record["init"] else "none (random initialisation)"),
        ("Iterations", f"{record['iterations']:,} of {record['max_iters']:,}"),
        ("Batch", f"{batch['global']} per iteration = {batch['per_device']} per device x {batch['num_processes']} "
                  f"process(es) x {batch['accumulation']} gradient accumulation step(s)"),
        ("Optimiser", _describe_optimizer(record["optimizer"])),
        ("Learning-rate schedule", _describe_schedule(record["lr_schedule"])),
        ("Loss", "cross-entropy, weights {} (decode head) + {} + {} (auxiliary heads)".format(
            *record["loss_weights"])),
        ("Batch norm", bn),
        ("Mixed precision", record["mixed_precision"]),
        ("Seed", str(record["seed"])),
        ("Hardware", f"{hardware['name']}"
                     + ("" if hardware["device"].lower() in hardware["name"].lower() else f" ({hardware['device']})")
                     + f", {hardware['num_processes']} process(es) on {hardware['num_machines']} machine(s)"),
        ("Software", ", ".join(f"{k} {v}" for k, v in record["software"].items()) or "not recorded"),
        ("Wall time", _duration(record["wall_time_s"])),
    ]
    if record["resumed_from"]:
        recipe_rows.append(("Resumed from", ", ".join(f"`{path}`" for path in record["resumed_from"])))
    recipe_rows.append(("Date", record["date"]))

    if synthetic:
        dataset_terms = ("The synthetic scenes are generated by dabnet-zoo (`dabnet-zoo make-synthetic`); no "
                         "third-party images or labels were used for training or evaluation.")
    else:
        dataset_terms = dataset.card.terms
    folder = Path(model_path).as_posix() if model_path is not None else "path/to/final"
    multiple = variant.input_multiple
    padding_note = ""
    if final is not None and any(side % multiple for side in final["eval_size"]):
        padding_note = f" (this run's {eval_size} evaluation size is not a multiple of {multiple}, so it is padded)"
    description = " ".join(record["description"].split()).rstrip(".")
    summary = (f"DABNet (Densely Aggregated Bilateral Network), a real-time two-branch semantic segmentation network "
               f"in the BiSeNet family ({variant.description}), trained by dabnet-zoo's `recipes/train.py` on "
               f"{data_name}, for the {dataset.num_labels} classes of the {dataset.display_name} label set. This card "
               "is generated from the run's `training.json`: every number in it was measured in that run.")
    context = {
        "title": f"{variant.name}: DABNet trained on {title_data}",
        "synthetic": synthetic,
        "dataset": dataset,
        "variant": variant,
        "summary": summary,
        "details": details,
        "hub_repo_id": repo_id,
        "revision_arg": "",
        "model_path": folder,
        "predict_source": repo_id or folder,
        "label_note": _label_note(dataset),
        "training_intro": f"Trained with dabnet-zoo's `recipes/train.py` and the recipe `{record['recipe']}`"
                          + (f": {description}." if description else "."),
        "recipe_rows": recipe_rows,
        "command": record["command"],
        "original_config": record["original_config"],
        "original_repo_url": ORIGINAL_REPO_URL,
        "iterations": record["iterations"],
        "data_name": data_name,
        "final": None if final is None else (
            final["split"], final["mode"], str(final["num_images"]), eval_size,
            *(_percent(final[m]) for m in EVAL_METRICS)),
        "per_class_header": header,
        "per_class_rows": per_class_rows,
        "curve": [(str(e["iteration"]), *(_percent(e[m]) for m in EVAL_METRICS)) for e in record["evaluations"]],
        "val_split": final["split"] if final is not None else "val",
        "domain": dataset.card.domain,
        "seed": record["seed"],
        "eval_size": eval_size,
        "padding_note": padding_note,
        "license": license,
        "dataset_terms": dataset_terms,
        "paper_title": PAPER_TITLE,
        "bibtex": BIBTEX,
    }
    template = _jinja_environment().get_template(TRAINING_CARD_TEMPLATE)
    return template.render(card_data=card_data.to_yaml(), training_card_marker=TRAINING_CARD_MARKER, **context)


def write_training_card(
    training_record: dict | str | os.PathLike,
    model_dir: str | os.PathLike,
    **kwargs: Any,
) -> Path:
    """Write ``<model_dir>/README.md``, the :func:`render_training_card` of a run, atomically; returns its path.

    ``model_dir`` is the run's ``final/`` folder; the sha256 and size of its ``model.safetensors`` go into the
    card. Keyword arguments are passed on to :func:`render_training_card` (``model_path`` defaults to
    ``model_dir``).
    """
    from .registry import WEIGHTS_FILE
    from .weights import sha256_of

    model_dir = Path(model_dir)
    weights = model_dir / WEIGHTS_FILE
    if weights.is_file():
        kwargs.setdefault("weights_sha256", sha256_of(weights))
        kwargs.setdefault("weights_size", weights.stat().st_size)
    kwargs.setdefault("model_path", model_dir)
    path = write_atomic(model_dir / CARD_FILE, render_training_card(training_record, **kwargs))
    logger.debug("Wrote the model card %s", path)  # callers writing into a stage name the published folder
    return path


def is_training_card(text: str) -> bool:
    """Whether a README.md is a training card (:func:`render_training_card`), not a registry card."""
    return TRAINING_CARD_MARKER in text.split("\n# ", 1)[0]


def _describe_optimizer(optimizer: dict[str, Any]) -> str:
    parts = [f"{optimizer['name']}", f"lr {optimizer['lr']:g}"]
    if "momentum" in optimizer:
        parts.append(f"momentum {optimizer['momentum']:g}")
    if optimizer.get("betas"):
        parts.append("betas ({})".format(", ".join(f"{b:g}" for b in optimizer["betas"])))
    if "eps" in optimizer:
        parts.append(f"eps {optimizer['eps']:g}")
    if "weight_decay" in optimizer:
        parts.append(f"weight decay {optimizer['weight_decay']:g}")
    return ", ".join(parts)


def _describe_schedule(schedule: dict[str, Any]) -> str:
    text = f"{schedule.get('policy', 'poly')}"
    if "power" in schedule:
        text += f" (power {schedule['power']:g})"
    if schedule.get("min_lr") is not None:
        text += f" to {schedule['min_lr']:g}"
    text += f", stepped per {schedule.get('by', 'iteration')}"
    if schedule.get("warmup") and schedule.get("warmup_iters"):
        text += (f"; {schedule['warmup']} warm-up over the first {schedule['warmup_iters']:,} iterations (ratio "
                 f"{schedule.get('warmup_ratio', 0):g})")
    else:
        text += "; no warm-up"
    return text


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
    return f"{text} ({seconds:.1f} s: training, periodic evaluation and checkpoints)"


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
        splits = dataset.card.paper_splits
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
        "hub_repo_id": weights.repo_id,
        "revision_arg": f', revision="{weights.revision}"' if weights.revision else "",
        "predict_source": weights.repo_id,
        "label_note": _label_note(dataset),
        "origin_note": origin_note,
        "converted": converted,
        "recipe": entry.recipe,
        "original_recipe": ORIGINAL_RECIPES.get(entry.name),
        "original_repo_url": ORIGINAL_REPO_URL,
        "evaluations": [
            (r.split, r.mode, _size(*r.test_size) + (" (aspect kept)" if r.keep_ratio else ""), str(r.num_images),
             *(_percent(r.metrics[m]) for m in EVAL_METRICS), r.date)
            for r in evaluations
        ],
        "evaluation_commands": [r.command for r in evaluations],
        "per_class_header": header,
        "per_class_rows": per_class_rows,
        "paper_rows": paper_rows,
        "benchmarks": [
            (b.backend, b.precision, b.device, b.hardware, _size(b.height, b.width), str(b.batch_size),
             "yes" if b.includes_resize_argmax else "no", f"{b.latency_ms['median']:.2f}",
             f"{b.latency_ms['p90']:.2f}", f"{b.fps:.1f}" if b.fps >= 10 else f"{b.fps:.2f}")
            for b in benchmarks
        ],
        "benchmark_details": [
            (b.command, ", ".join(f"{k} {v}" for k, v in sorted(b.environment.items())) or "no environment recorded")
            for b in benchmarks
        ],
        "paper_fps": paper_fps,
        "padding_note": padding_note,
        "domain": dataset.card.domain,
        "license": weights.license,
        "dataset_terms": dataset.card.terms,
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
    if dataset.card.label_note:
        return dataset.card.label_note
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
    "SYNTHETIC_DATASET_TYPE",
    "TRAINING_CARD_MARKER",
    "TRAINING_CARD_TEMPLATE",
    "is_training_card",
    "render_model_card",
    "render_training_card",
    "stale_model_cards",
    "write_model_cards",
    "write_training_card",
]
