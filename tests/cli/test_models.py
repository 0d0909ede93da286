"""`dabnet-zoo models` prints the registry: one row per variant x dataset."""

from dabnet_zoo.cli.main import main
from dabnet_zoo.registry import VARIANTS, WEIGHTS


def test_models_lists_every_variant_and_dataset_with_its_numbers(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for variant in VARIANTS.values():
        line = next(line for line in out.splitlines() if line.startswith(variant.name + " "))
        assert f"{variant.num_params / 1e6:.2f}" in line and f"{variant.gmacs:.1f}" in line
    rows = [line for line in out.splitlines() if line.startswith("dabnet_")]
    assert len(rows) == len(WEIGHTS)


def test_models_filters_by_pattern_and_dataset(capsys):
    assert main(["models", "*effb1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("dabnet_")]
    assert len(rows) == 4 and all(row.startswith("dabnet_effb1 ") for row in rows)
    assert main(["models", "--dataset", "coco_stuff10k"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("dabnet_")]
    assert len(rows) == len(VARIANTS) and all(row.split()[1] == "coco_stuff10k" for row in rows)


def test_models_rejects_an_unknown_dataset(capsys):
    assert main(["models", "--dataset", "kitti"]) == 2
    assert "Unknown dataset 'kitti'" in capsys.readouterr().err
