"""Model cards: the committed ones are current, parse back, label quoted numbers, and carry measured results."""

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


def test_committed_cards_match_a_fresh_render(tmp_path):
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


def _write_results(root: Path, name: str) -> tuple[dict, dict]:
    evaluation = {
        "schema": EVAL_SCHEMA, "model": name, "dataset": "cityscapes", "split": "val", "mode": "whole",
        "num_images": 500, "metrics": {"mean_iou": 0.61234, "mean_accuracy": 0.7, "overall_accuracy": 0.91},
        "per_category_iou": {"road": 0.97531, "sidewalk": None}, "weights": "converted/p2",
        "command": "python recipes/evaluate.py converted/p2", "date": "2026-11-24",
    }
    benchmark = {
        "schema": BENCHMARK_SCHEMA, "model": name, "dataset": "cityscapes", "backend": "onnxruntime",
        "precision": "fp32", "device": "cpu", "hardware": "Test CPU", "batch_size": 2, "height": 512, "width": 1024,
        "includes_resize_argmax": False, "warmup": 3, "iterations": 10,
        "latency_ms": {"median": 812.345, "p90": 901.5, "mean": 820.0}, "fps": 2.44,
        "environment": {"onnxruntime": "1.31"}, "command": "dabnet-zoo benchmark dabnet_r18_p2 --backend onnxruntime",
        "date": "2026-11-24T10:00:00Z",
    }
    write_evaluation_result(evaluation_results_dir(name, root) / "val_whole.json", evaluation)
    write_benchmark_result(benchmark_results_dir(name, root) / "ort.json", benchmark)
    return evaluation, benchmark


def test_measured_results_fill_model_index_and_the_tables(tmp_path):
    evaluation, benchmark = _write_results(tmp_path, "dabnet_r18_p2.cityscapes")
    card = generate_model_card("dabnet_r18_p2.cityscapes", root=tmp_path)
    results = {(r.metric_type, r.dataset_split, r.metric_config): r.metric_value for r in card.data.eval_results}
    assert results == {(metric, "val", "whole"): pytest.approx(value, abs=5e-5)
                       for metric, value in evaluation["metrics"].items()}
    assert {r.dataset_name for r in card.data.eval_results} == {"Cityscapes"}
    text = str(card)
    assert "| val | whole | 500 | 61.23 | 70.00 | 91.00 |" in text
    assert "| road | 97.53 |" in text and "| sidewalk | n/a |" in text
    assert "| onnxruntime | fp32 | cpu | Test CPU | 512x1024 | 2 | no | 812.35 | 901.50 | 2.44 |" in text
    assert evaluation["command"] in text and benchmark["command"] in text
    assert "Nothing measured yet" not in text
    # The paper's 77.8 stays in the body, labelled, and out of model-index.
    paper = VARIANTS["dabnet_r18_p2"].paper["cityscapes"].miou_val
    assert all(r.metric_value != paper and r.metric_value != paper / 100 for r in card.data.eval_results)


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
    assert {(r.dataset_split, r.metric_config) for r in data.eval_results} == {("val", "whole")}
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
