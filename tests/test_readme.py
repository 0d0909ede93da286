"""The README's promises: its variant table matches the registry, and its quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from dabnet_zoo.registry import VARIANTS

README = (Path(__file__).parents[1] / "README.md").read_text()


def _section(name: str) -> str:
    return README.split(f"<!-- {name}:start -->")[1].split(f"<!-- {name}:end -->")[0]


def test_variant_table_matches_the_registry():
    rows = [line for line in _section("variant-table").splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(VARIANTS)
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        variant = VARIANTS[cells[0].strip("`")]
        paper = variant.paper["cityscapes"]
        assert cells[1:5] == [variant.context_path, str(variant.patch_size), f"{variant.num_params / 1e6:.2f}",
                              f"{variant.gmacs:.1f}"]
        assert cells[5:] == [f"{v:.1f}" if v is not None else "-" for v in (paper.miou_val, paper.miou_test, paper.fps)]


def test_quickstart_runs_and_writes_a_colour_map(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", _section("quickstart"), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)).save("street.jpg")
    exec(compile(code, "README quickstart", "exec"), {})
    colour = Image.open("street_colour.png")
    assert colour.size == (500, 300) and colour.mode == "RGB"
