"""The dispatcher: --version, help without a command, ``python -m dabnet_zoo``, and no torch for parsing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dabnet_zoo import __version__
from dabnet_zoo.cli.main import main

HEAVY = ("torch", "transformers", "timm", "numpy")


def run_in_fresh_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("argv", [["--help"], ["models"], ["models", "--dataset", "camvid"], [], ["predict", "--help"],
                                  ["benchmark", "--help"]])
def test_help_and_models_import_no_torch(argv):
    code = f"""
import contextlib, io, sys
from dabnet_zoo.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main({argv!r})
    except SystemExit:
        pass
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    assert run_in_fresh_python(code).strip() == "[]"


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"dabnet-zoo {__version__}"


def test_no_command_prints_the_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: dabnet-zoo") and "benchmark" in out and "predict" in out


def test_python_dash_m_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "dabnet_zoo", "models", "dabnet_effb1", "--dataset", "camvid"],
                            capture_output=True, text=True)
    assert result.returncode == 0
    assert [line.split()[:2] for line in result.stdout.splitlines() if line.startswith("dabnet_")] == [
        ["dabnet_effb1", "camvid"]]
    result = subprocess.run([sys.executable, "-m", "dabnet_zoo", "models", "--dataset", "kitti"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: Unknown dataset 'kitti'")
