"""`dabnet-zoo push`: the dry run prints every file with its exact size; offline pushes fail with one line."""

import re

import pytest

from dabnet_zoo import create_model
from dabnet_zoo.cli.main import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("push") / "dabnet_effb1.camvid"
    create_model("dabnet_effb1.camvid").save_pretrained(folder)
    (folder / "notes.txt").write_text("not uploaded")
    return folder


def _snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_dry_run_prints_each_file_and_its_size(model_dir, tmp_path, capsys):
    before = _snapshot(model_dir)
    argv = ["push", str(model_dir), "--repo-id", "org/dabnet_effb1.camvid", "--dry-run", "--root", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    weights = (model_dir / "model.safetensors").stat().st_size
    assert re.search(rf"\n  model\.safetensors +{weights:,} bytes  ", out)
    for name in ("README.md", "config.json", "preprocessor_config.json", "modeling_dabnet.py"):
        assert f"  {name} " in out
    assert "Skipped (not uploaded): notes.txt" in out and "Nothing was uploaded (dry run)." in out
    assert "org/dabnet_effb1.camvid (public, branch main)" in out
    assert _snapshot(model_dir) == before  # the dry run leaves DIR exactly as it was


def test_a_real_push_while_offline_fails_with_one_line(model_dir, tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(["push", str(model_dir), "--repo-id", "org/dabnet_effb1.camvid", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot push to org/dabnet_effb1.camvid: offline mode is on") and err.count("\n") == 1
