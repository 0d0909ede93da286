"""`dabnet-zoo cards`: writes one card per registry entry; --check reports stale ones."""

import shutil
from pathlib import Path

from dabnet_zoo.cli.main import main
from dabnet_zoo.registry import WEIGHTS
from dabnet_zoo.results import EVAL_SCHEMA, evaluation_results_dir, write_evaluation_result

REPO = Path(__file__).resolve().parents[2]


def test_cards_writes_every_card_and_check_finds_stale_ones(tmp_path, capsys):
    out, root = tmp_path / "cards", tmp_path / "repo"  # root without results: nothing measured
    assert main(["cards", "--out", str(out), "--root", str(root)]) == 0
    assert f"Wrote {len(WEIGHTS)} model cards" in capsys.readouterr().out
    assert sorted(p.parent.name for p in out.glob("*/README.md")) == sorted(WEIGHTS)
    assert main(["cards", "--out", str(out), "--root", str(root), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
    card = out / "dabnet_r18_p4.camvid" / "README.md"
    card.write_text(card.read_text() + "hand edit\n")
    assert main(["cards", "--out", str(out), "--root", str(root), "--check"]) == 1
    assert f"stale: {out}/dabnet_r18_p4.camvid/README.md" in capsys.readouterr().out
    assert main(["cards", "--out", str(out), "--root", str(root), "--check", "--pattern", "dabnet_effb1*"]) == 0
    assert main(["cards", "--out", str(out), "--root", str(root), "--check", "--pattern", "*.camvid"]) == 1
    capsys.readouterr()
    assert main(["cards", "--out", str(out), "--root", str(root), "--pattern", "dabnet_r18_p4*"]) == 0
    assert "Wrote 4 model cards" in capsys.readouterr().out
    assert main(["cards", "--out", str(out), "--root", str(root), "--check"]) == 0


def test_check_stays_green_with_an_evaluation_of_other_weights_on_synthetic_data(tmp_path, capsys):
    """The issue's scenario: `recipes/evaluate.py runs/demo/final --data-root data/synthetic` filed a synthetic
    result of the demo's weights under dabnet_r18_p2.cityscapes; the committed cards must not change."""
    root = tmp_path / "clone"
    write_evaluation_result(evaluation_results_dir("dabnet_r18_p2.cityscapes", root) / "val_whole.json", {
        "schema": EVAL_SCHEMA, "model": "dabnet_r18_p2", "dataset": "cityscapes", "evaluated_on": "synthetic",
        "split": "val", "mode": "whole", "test_size": [1024, 2048], "keep_ratio": True, "num_images": 50,
        "metrics": {"mean_iou": 0.4512, "mean_accuracy": 0.55, "overall_accuracy": 0.8},
        "per_category_iou": {"road": 0.9}, "weights": "runs/demo/final", "weights_sha256": "0f" * 32,
        "command": "python recipes/evaluate.py runs/demo/final --data-root data/synthetic", "date": "2026-11-24",
    })
    shutil.copytree(REPO / "benchmarks" / "results", root / "benchmarks" / "results")
    assert main(["cards", "--out", str(REPO / "model_cards"), "--root", str(root), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
