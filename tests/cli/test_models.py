"""`dabnet-zoo models` prints the registry."""

from dabnet_zoo.cli.main import main
from dabnet_zoo.registry import VARIANTS


def test_models_lists_every_variant_with_its_numbers(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for variant in VARIANTS.values():
        line = next(line for line in out.splitlines() if line.startswith(variant.name + " "))
        assert f"{variant.num_params / 1e6:.2f}" in line and f"{variant.gmacs:.1f}" in line


def test_models_filters_by_pattern(capsys):
    assert main(["models", "*effb1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("dabnet_effb1")
