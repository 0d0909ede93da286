"""The README's promises: its variant table matches the registry, and its code blocks run as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from dabnet_zoo.registry import VARIANTS

REPO = Path(__file__).parents[1]
README = (REPO / "README.md").read_text()


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


def test_other_doors_run_as_written_from_a_clone_with_a_converted_folder(tmp_path):
    """The block, copied as it stands into a fresh Python: `torch.hub` from the clone's root, the Auto classes on a
    converted folder (here: a saved random model in the layout `dabnet-zoo convert` writes)."""
    from dabnet_zoo import create_model, create_processor

    code = re.search(r"```python\n(.*?)```", _section("other-doors"), re.S).group(1)
    shutil.copy(REPO / "hubconf.py", tmp_path / "hubconf.py")  # the clone's root
    folder = tmp_path / "converted" / "dabnet_r18_p2.cityscapes"
    create_model("dabnet_r18_p2", dataset="cityscapes").save_pretrained(folder)
    create_processor("cityscapes").save_pretrained(folder)
    check = "\nprint(type(model).__name__, type(processor).__name__)\n"
    result = subprocess.run([sys.executable, "-c", code + check], cwd=tmp_path, capture_output=True, text=True,
                            env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "DabnetForSemanticSegmentation DabnetImageProcessor"
    assert "backend" not in result.stderr  # no "falling back to pil" notice on a processor load


def test_install_section_installs_the_cpu_build_as_pytorch_documents_it():
    install = README.split("## Install", 1)[1].split("\n## ", 1)[0]
    commands = re.search(r"```bash\n(.*?)```", install, re.S).group(1).splitlines()
    assert commands[1].startswith("pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu")
    assert commands[2] == 'pip install -e ".[dev]"'
