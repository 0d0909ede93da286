"""Model cards: the committed ones are current, state the registry's and the paper's numbers, parse back, and
carry only results measured on the weights they describe."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from dabnet_zoo.cards import (
    SYNTHETIC_DATASET_TYPE,
    CardWeights,
    generate_model_card,
    is_training_card,
    render_model_card,
    render_training_card,
    stale_model_cards,
    write_model_cards,
    write_training_card,
)
from dabnet_zoo.presets import DATASETS
from dabnet_zoo.registry import VARIANTS, WEIGHTS, get_weights
from dabnet_zoo.results import (
    BENCHMARK_SCHEMA,
    EVAL_SCHEMA,
    ResultsError,
    benchmark_results_dir,
    evaluation_results_dir,
    write_benchmark_result,
    write_evaluation_result,
)
from tests.conftest import training_record

REPO = Path(__file__).parents[1]
COMMITTED = REPO / "model_cards"


# The original README's results, typed from it (not read from the registry): (val mIoU, test mIoU, FPS) per
# variant.dataset, and what each FPS was measured on.
PAPER = {
    "dabnet_r18_p1.cityscapes": ("77.4", None, "33.5"),
    "dabnet_r18_p2.cityscapes": ("77.8", "76.1", "34.9"),
    "dabnet_r18_p4.cityscapes": ("78.1", None, "34.7"),
    "dabnet_r18_p8.cityscapes": ("78.8", "77.3", "31.1"),
    "dabnet_r18_p16.cityscapes": ("78.4", None, "21.0"),
    "dabnet_effb1.cityscapes": ("78.7", "77.5", "20.3"),
    "dabnet_r18_p2.coco_stuff10k": ("29.5", None, "104.6"),
    "dabnet_effb1.coco_stuff10k": ("32.4", None, "70.8"),
    "dabnet_r18_p2.camvid": ("74.3", None, "92.2"),
    "dabnet_effb1.camvid": ("76.5", None, "56.5"),
}
PAPER_FPS_SIZE = {"cityscapes": "2048x1024", "coco_stuff10k": "640x640", "camvid": "960x768"}
# Inference parameters with Cityscapes' 19 classes, as the original code counts them (typed, not computed).
ORIGINAL_PARAMS = {"dabnet_r18_p1": "16.03", "dabnet_r18_p2": "17.63", "dabnet_r18_p4": "24.05",
                   "dabnet_r18_p8": "49.71", "dabnet_r18_p16": "152.33", "dabnet_effb1": "8.85"}


def _rows(section: str) -> list[list[str]]:
    """The cells of every markdown table row in ``section``, without the separator rows."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("|") and not line.startswith("|---")]


def _section(text: str, heading: str) -> str:
    return text.split(heading + "\n", 1)[1].split("\n#", 1)[0]


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_committed_cards_state_the_registry_and_the_paper_numbers(name):
    """Read from the committed card's own tables, compared with numbers stated here: a renderer that puts a wrong
    number in a card fails this test even after the cards are regenerated."""
    text = (COMMITTED / name / "README.md").read_text()
    entry = get_weights(name)
    variant = name.partition(".")[0]
    details = {row[0]: row[1] for row in _rows(_section(text, "## Model details")) if len(row) == 2}
    assert details["Parameters"].startswith(f"{entry.num_params / 1e6:.2f} M ")
    if entry.dataset == "cityscapes":
        assert details["Parameters"].startswith(ORIGINAL_PARAMS[variant] + " M ")
        assert details["GMACs"].startswith(f"{entry.gmacs:.1f} for one 1024x2048 image,")
    height, width = entry.gmacs_input_size
    assert details["GMACs"].startswith(f"{entry.gmacs:.1f} for one ")
    assert (f"(run at {height}x{width} after padding)" in details["GMACs"]) == (
        (height, width) != DATASETS[entry.dataset].test_size)
    assert details["Hub repository"] == f"`dabnet-zoo/{name}`"
    assert details["Recipe"] == f"`recipes/configs/{name}.yaml`"
    assert details["Weights"].startswith("not published yet")
    paper = _section(text, "### Reported by the original paper")
    speed = text.split("## Speed", 1)[1]
    if name not in PAPER:
        assert _rows(paper) == [] and "reports no speed" in speed
        return
    val, test, fps = PAPER[name]
    assert _rows(paper)[1:] == [[split, value] for split, value in
                                zip(DATASETS[entry.dataset].card.paper_splits, (val, test)) if value is not None]
    assert f"not measured by dabnet-zoo: {fps} FPS (GTX 1080Ti, TensorRT 7.2.1.6, FP32, " \
           f"{PAPER_FPS_SIZE[entry.dataset]}, batch 1" in speed


def test_committed_cards_match_a_fresh_render(tmp_path):
    """`dabnet-zoo cards --check`: the committed cards are what the code renders (their numbers are checked by
    the test above, independently of the renderer)."""
    written = write_model_cards(tmp_path, root=REPO)
    assert sorted(p.parent.name for p in written) == sorted(WEIGHTS)
    assert sorted(p.name for p in COMMITTED.iterdir()) == sorted(WEIGHTS)
    for path in written:
        committed = COMMITTED / path.parent.name / "README.md"
        assert committed.read_text() == path.read_text(), f"{committed} is stale: run `dabnet-zoo cards`"
    assert stale_model_cards(COMMITTED, root=REPO) == []


def test_edited_or_missing_cards_are_reported_stale(tmp_path):
    write_model_cards(tmp_path, root=REPO, pattern="dabnet_effb1")
    assert stale_model_cards(tmp_path, root=REPO, pattern="dabnet_effb1") == []
    edited = tmp_path / "dabnet_effb1.camvid" / "README.md"
    edited.write_text(edited.read_text() + "edited by hand\n")
    (tmp_path / "dabnet_effb1.cityscapes" / "README.md").unlink()
    assert sorted(stale_model_cards(tmp_path, root=REPO, pattern="dabnet_effb1")) == [
        "dabnet_effb1.camvid", "dabnet_effb1.cityscapes"]


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_committed_cards_parse_back(name):
    text = (COMMITTED / name / "README.md").read_text()
    card = ModelCard(text)
    entry, preset = get_weights(name), DATASETS[get_weights(name).dataset]
    data = card.data
    assert (data.pipeline_tag, data.license, data.library_name) == ("image-segmentation", entry.license, "transformers")
    assert data.datasets == [preset.hub_dataset_id] and entry.dataset in data.tags
    # Nothing is measured yet: no model-index, and the paper's numbers are never presented as ours.
    assert data.eval_results is None and "model-index" not in text
    assert "No trained weights are published for this model yet" in text and "not published yet" in text
    assert f"`{entry.hub_repo_id}`" in text and f"`{entry.recipe}`" in text
    paper = VARIANTS[entry.variant].paper.get(entry.dataset)
    if paper is not None:
        section = text.split("### Reported by the original paper")[1]
        assert "Reported by the original paper" in section and f"| {paper.miou_val:.1f} |" in section
        if paper.fps is not None:
            assert f"{paper.fps:.1f} FPS ({paper.fps_setup})" in text
    assert "Measured by dabnet-zoo" in text and "Nothing measured yet" in text
    for heading in ("## How to use", "## Training", "## Evaluation", "## Speed", "## Limitations", "## Licence",
                    "## Citation"):
        assert heading in text


SHA = "ab" * 32  # the sha256 of the weights the card describes


def _published(name: str = "dabnet_r18_p2.cityscapes", sha256: str = SHA) -> CardWeights:
    entry = get_weights(name)
    return CardWeights(entry.hub_repo_id, True, entry.origin, entry.license, revision="cd" * 20, sha256=sha256,
                       file_size=2**20)


def _evaluation(name: str, **changes) -> dict:
    record = {
        "schema": EVAL_SCHEMA, "model": name, "dataset": "cityscapes", "evaluated_on": "cityscapes", "split": "val",
        "mode": "whole", "test_size": [1024, 2048], "keep_ratio": True, "num_images": 500,
        "metrics": {"mean_iou": 0.61234, "mean_accuracy": 0.7, "overall_accuracy": 0.91},
        "per_category_iou": {"road": 0.97531, "sidewalk": None}, "weights": "converted/p2", "weights_sha256": SHA,
        "command": "python recipes/evaluate.py converted/p2", "date": "2026-11-24",
    }
    record.update(changes)
    return record


def _write_results(root: Path, name: str) -> tuple[dict, dict]:
    evaluation = _evaluation(name)
    benchmark = {
        "schema": BENCHMARK_SCHEMA, "model": name, "dataset": "cityscapes", "weights_sha256": None,
        "backend": "onnxruntime", "precision": "fp32", "device": "cpu", "hardware": "Test CPU", "batch_size": 2,
        "height": 512, "width": 1024, "includes_resize_argmax": False, "warmup": 3, "iterations": 10,
        "latency_ms": {"median": 812.5, "p90": 901.5, "mean": 820.0}, "fps": 2000 / 812.5,
        "environment": {"onnxruntime": "1.31"}, "command": "dabnet-zoo benchmark dabnet_r18_p2 --backend onnxruntime",
        "date": "2026-11-24T10:00:00Z",
    }
    write_evaluation_result(evaluation_results_dir(name, root) / "val_whole.json", evaluation)
    write_benchmark_result(benchmark_results_dir(name, root) / "ort.json", benchmark)
    return evaluation, benchmark


def test_measured_results_fill_model_index_and_the_tables(tmp_path):
    evaluation, benchmark = _write_results(tmp_path, "dabnet_r18_p2.cityscapes")
    card = generate_model_card("dabnet_r18_p2.cityscapes", root=tmp_path, weights=_published())
    results = {(r.metric_type, r.dataset_split, r.metric_config): r.metric_value for r in card.data.eval_results}
    assert results == {(metric, "val", "whole"): pytest.approx(value, abs=5e-5)
                       for metric, value in evaluation["metrics"].items()}
    assert {r.dataset_name for r in card.data.eval_results} == {"Cityscapes"}
    text = str(card)
    assert f"with the weights this card describes (`model.safetensors` sha256 `{SHA}`)" in text
    assert "| val | whole | 1024x2048 (aspect kept) | 500 | 61.23 | 70.00 | 91.00 | 2026-11-24 |" in text
    assert "| road | 97.53 |" in text and "| sidewalk | n/a |" in text
    # FPS from the median: 2 images / 812.5 ms = 2.46 per second.
    assert "| onnxruntime | fp32 | cpu | Test CPU | 512x1024 | 2 | no | 812.50 | 901.50 | 2.46 |" in text
    assert evaluation["command"] in text and benchmark["command"] in text
    assert "Nothing measured yet" not in text
    # The paper's 77.8 stays in the body, labelled, and out of model-index.
    paper = VARIANTS["dabnet_r18_p2"].paper["cityscapes"].miou_val
    assert all(r.metric_value != paper and r.metric_value != paper / 100 for r in card.data.eval_results)


def test_only_evaluations_of_the_cards_weights_on_the_real_dataset_reach_it(tmp_path):
    """The issue's scenario: the demo model evaluated on the synthetic scenes (another sha256) is filed under
    dabnet_r18_p2.cityscapes; neither it nor any evaluation of other weights may reach a card."""
    name = "dabnet_r18_p2.cityscapes"
    folder = evaluation_results_dir(name, tmp_path)
    write_evaluation_result(folder / "val_whole.json", _evaluation(
        name, evaluated_on="synthetic", weights_sha256="ee" * 32, test_size=[128, 256], weights="runs/demo/final",
        metrics={"mean_iou": 0.4512, "mean_accuracy": 0.5, "overall_accuracy": 0.6}))
    write_evaluation_result(folder / "other.json", _evaluation(name, weights_sha256="ee" * 32))
    write_evaluation_result(folder / "ours_on_synthetic.json", _evaluation(name, evaluated_on="synthetic"))
    write_evaluation_result(folder / "unknown.json", _evaluation(name, weights_sha256=None))
    for weights in (None, _published(sha256="ee" * 31 + "ef")):  # the registry's (unpublished), other weights
        text = render_model_card(name, root=tmp_path, weights=weights)
        assert ModelCard(text).data.eval_results is None and "model-index" not in text
        assert "45.12" not in text and "0.4512" not in text and "61.23" not in text and "Nothing measured yet" in text
    assert render_model_card(name, root=tmp_path) == render_model_card(name, root=tmp_path / "empty")
    # The card of the weights that were measured gets exactly their evaluation on Cityscapes.
    card = generate_model_card(name, root=tmp_path, weights=_published(sha256="ee" * 32))
    assert {(r.metric_type, r.metric_value) for r in card.data.eval_results} == {
        ("mean_iou", 0.6123), ("mean_accuracy", 0.7), ("overall_accuracy", 0.91)}


def test_a_result_at_another_test_size_says_so_in_model_index(tmp_path):
    name = "dabnet_r18_p2.cityscapes"
    write_evaluation_result(evaluation_results_dir(name, tmp_path) / "val_whole_512x1024.json",
                            _evaluation(name, test_size=[512, 1024]))
    card = generate_model_card(name, root=tmp_path, weights=_published())
    assert {r.metric_config for r in card.data.eval_results} == {"whole, test size 512x1024"}
    assert "| val | whole | 512x1024 (aspect kept) | 500 |" in str(card)


def test_a_results_file_of_unknown_schema_stops_the_cards_before_writing(tmp_path):
    folder = evaluation_results_dir("dabnet_effb1.camvid", tmp_path)
    folder.mkdir(parents=True)
    (folder / "old.json").write_text('{"schema": "mmseg/eval", "mIoU": 70.1}')
    with pytest.raises(ResultsError, match=r"old.json: unknown schema 'mmseg/eval'"):
        write_model_cards(tmp_path / "cards", root=tmp_path)
    assert not (tmp_path / "cards").exists()


def test_cards_for_published_weights_pin_the_revision_and_drop_the_warning():
    entry = get_weights("dabnet_r18_p8.cityscapes")
    weights = CardWeights(entry.hub_repo_id, True, entry.origin, entry.license, revision="ab" * 20,
                          sha256="cd" * 32, file_size=3 * 2**20)
    text = render_model_card(entry.name, weights=weights, evaluations=[], benchmarks=[])
    assert f'revision="{"ab" * 20}"' in text and "cd" * 32 in text and "3.0 MiB" in text
    assert "No trained weights are published" not in text and "pretrained=True" in text
    other = render_model_card(entry.name, evaluations=[], benchmarks=[],
                              weights=CardWeights("me/mine", True, entry.origin, entry.license, sha256="cd" * 32))
    assert '"me/mine"' in other and "create_model(" not in other  # create_model serves the registry's repo only


def test_original_recipes_appear_only_where_the_original_has_one():
    e_city = render_model_card("dabnet_effb1.cityscapes", evaluations=[], benchmarks=[])
    assert "Adam, lr 1e-3" in e_city and "dabnet_eb_in1k-pre_4x8_1024x1024_80k_cityscapes.py" in e_city
    p8_camvid = render_model_card("dabnet_r18_p8.camvid", evaluations=[], benchmarks=[])
    assert "did not train dabnet_r18_p8 on CamVid" in p8_camvid
    assert "768x1022" in p8_camvid  # the padding this variant needs is stated


# ---- Cards of training runs (recipes/train.py) ------------------------------------------------------------------

def test_training_card_of_the_synthetic_demo_names_the_synthetic_data_and_parses_back():
    record = training_record()
    text = render_training_card(record, model_path="runs/demo/final")  # synthetic: inferred from the record
    card = ModelCard(text)
    data = card.data
    assert (data.pipeline_tag, data.license, data.library_name) == ("image-segmentation", "apache-2.0", "transformers")
    assert "synthetic-data" in data.tags and "cityscapes" not in data.tags and not data.datasets
    # model-index: the final mIoU, measured, on the synthetic data; never on Cityscapes.
    results = {r.metric_type: r for r in data.eval_results}
    assert results["mean_iou"].metric_value == record["final_eval"]["mean_iou"]
    assert {r.dataset_type for r in data.eval_results} == {SYNTHETIC_DATASET_TYPE}
    assert {r.dataset_name for r in data.eval_results} == {
        "Synthetic street scenes in the Cityscapes layout (not Cityscapes)"}
    assert {(r.dataset_split, r.metric_config) for r in data.eval_results} == {("val", "whole, test size 128x256")}
    assert is_training_card(text) and "not on Cityscapes" in text and "not Cityscapes results" in text
    # The per-class table and the curve are the record's numbers.
    table = text.split("Per-class IoU (%):")[1].split("###")[0]
    for name, value in record["final_eval"]["per_category_iou"].items():
        assert f"| {name} | {'n/a' if value is None else f'{100 * value:.2f}'} |" in table
    assert "| val | whole | 50 | 128x256 | 81.23 | 87.00 | 93.00 |" in text
    curve = text.split("### mIoU during training")[1].split("## Limitations")[0]
    for row in record["evaluations"]:
        assert f"| {row['iteration']} | {100 * row['mean_iou']:.2f} |" in curve
    # The recipe as it ran, and how to load the folder.
    assert "8 per iteration = 2 per device x 2 process(es) x 2 gradient accumulation step(s)" in text
    assert "adam, lr 0.001, betas (0.9, 0.999)" in text and "no warm-up" in text and "3 min 51 s" in text
    assert record["command"] in text and "CPU: x86_64 (2 logical cores)" in text
    assert 'DabnetForSemanticSegmentation.from_pretrained("runs/demo/final")' in text
    assert 'DabnetImageProcessor.from_pretrained("runs/demo/final")' in text
    # The citation holds the title and the repository only, as the registry cards do.
    assert text.split("## Citation")[1] == render_model_card(
        "dabnet_r18_p2.cityscapes", evaluations=[], benchmarks=[]).split("## Citation")[1]
    for heading in ("## How to use", "## Training", "## Evaluation", "## Limitations", "## Licence"):
        assert heading in text


def test_training_card_of_a_real_dataset_run_and_for_a_hub_repo(tmp_path):
    record = training_record(recipe="recipes/configs/dabnet_r18_p2.cityscapes.yaml", description="",
                              command="accelerate launch recipes/train.py --data-root data/cityscapes",
                              original_config="configs/dabnet/dabnet_r18.py", evaluations=[])
    path = tmp_path / "run" / "training.json"
    path.parent.mkdir()
    path.write_text(json.dumps(record))
    text = render_training_card(path, repo_id="me/p2", weights_sha256="ab" * 32, weights_size=2**20)
    data = ModelCard(text).data
    assert {r.dataset_name for r in data.eval_results} == {"Cityscapes"}
    assert data.datasets == [DATASETS["cityscapes"].hub_dataset_id] and "synthetic-data" not in data.tags
    assert "synthetic" not in text.lower() and "mIoU during training" not in text
    assert 'from_pretrained("me/p2", trust_remote_code=True)' in text and "ab" * 32 in text
    assert "`configs/dabnet/dabnet_r18.py`" in text
    assert not is_training_card(render_model_card("dabnet_r18_p2.cityscapes", evaluations=[], benchmarks=[]))
    # Explicitly synthetic (recipes/train.py passes what the data root's README.txt says).
    assert "synthetic-data" in ModelCard(render_training_card(record, synthetic=True)).data.tags


def test_write_training_card_is_atomic_and_records_the_weights(tmp_path):
    folder = tmp_path / "final"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    path = write_training_card(training_record(), folder)
    assert path == folder / "README.md"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "model.safetensors"]  # no temporary left
    text = path.read_text()
    assert hashlib.sha256(b"weights").hexdigest() in text and f'from_pretrained("{folder.as_posix()}")' in text


@pytest.mark.parametrize("change, message", [
    ({"schema": "dabnet-zoo/eval/v1"}, r"unknown schema 'dabnet-zoo/eval/v1'.*dabnet-zoo/training/v1"),
    ({"mIoU": 70.1}, r"unknown keys \['mIoU'\]"),
    ({"final_eval": {"split": "val", "mean_iou": 81.2}}, r"final_eval=.* is not null or an object"),
    ({"evaluations": [{"iteration": 1, "mean_iou": 1.5}]}, r"evaluations=.* is not a list"),
    ({"model": "dabnet_r18_p4.cityscapes"}, r"model='dabnet_r18_p4.cityscapes' is not variant.dataset"),
    ({"batch": {"per_device": 8}}, r"batch must have exactly the keys"),
])
def test_a_training_record_of_another_schema_is_refused(change, message):
    with pytest.raises(ResultsError, match=message):
        render_training_card(training_record(**change))


def test_a_training_record_that_is_not_a_record_is_refused(tmp_path):
    record = training_record()
    del record["command"]
    with pytest.raises(ResultsError, match=r"missing keys \['command'\]"):
        render_training_card(record)
    (tmp_path / "training.json").write_text("{not json")
    with pytest.raises(ResultsError, match="training.json: not a readable JSON file"):
        render_training_card(tmp_path / "training.json")
    with pytest.raises(ResultsError, match="expected a JSON object"):
        render_training_card([record])
