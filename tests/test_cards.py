"""Model cards: the committed ones are current, parse back, label quoted numbers, and carry measured results."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from dabnet_zoo.cards import CardWeights, generate_model_card, render_model_card, stale_model_cards, write_model_cards
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
    assert "| onnxruntime | fp32 | cpu | Test CPU | 512x1024 | 2 | no | 812.35 | 901.50 | 2.4 |" in text
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
