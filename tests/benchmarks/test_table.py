"""benchmarks/table.py: the README's latency tables come from the result files and stay in sync with them."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from dabnet_zoo import create_model
from dabnet_zoo.benchmark import run_benchmark
from dabnet_zoo.results import benchmark_file_name, benchmark_results_dir, write_benchmark_result

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("benchmarks_table", REPO / "benchmarks" / "table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save(root: Path, model: str, backend: str, **kwargs) -> dict:
    result = run_benchmark(create_model(model), backend, 64, 128, warmup=0, iterations=3, progress=False,
                           model_name=model, dataset="cityscapes", **kwargs)
    result["command"] = f"dabnet-zoo benchmark {model} --backend {backend}"  # the CLI records its own
    folder = benchmark_results_dir(f"{model}.cityscapes", root)
    write_benchmark_result(folder / benchmark_file_name(result), result)
    return result


def test_one_table_per_setting_with_a_row_per_model_and_a_column_per_backend(table, tmp_path):
    eager = _save(tmp_path, "dabnet_r18_p1", "eager")
    optimized = _save(tmp_path, "dabnet_effb1", "optimized")
    with_postprocess = _save(tmp_path, "dabnet_effb1", "eager", include_postprocess=True)
    text = table.render(table.collect(tmp_path))
    sections = text.split("### ")[1:]
    assert len(sections) == 2 and "resize + argmax excluded" in sections[0] and "included" in sections[1]
    rows = {line.split("|")[1].strip(): line for line in sections[0].splitlines() if line.startswith("| `")}
    assert f"{eager['latency_ms']['median']:.0f} / {eager['latency_ms']['p90']:.0f}" in rows["`dabnet_r18_p1`"]
    assert rows["`dabnet_r18_p1`"].endswith("| not run |")  # p1 has no optimized run
    assert f"{optimized['latency_ms']['median']:.0f} / " in rows["`dabnet_effb1`"]
    assert f"{with_postprocess['latency_ms']['median']:.0f} / " in sections[1]


def test_check_fails_on_a_stale_readme_until_written(table, tmp_path):
    (tmp_path / "benchmarks").mkdir()
    readme = tmp_path / "benchmarks" / "README.md"
    readme.write_text(f"# Benchmarks\n\n{table.START}\nold figures\n{table.END}\n\nmore text\n")
    _save(tmp_path, "dabnet_r18_p2", "eager")
    assert table.main(["--check", "--root", str(tmp_path)]) == 1
    assert table.main(["--write", "--root", str(tmp_path)]) == 0
    assert table.main(["--check", "--root", str(tmp_path)]) == 0
    text = readme.read_text()
    assert "old figures" not in text and "`dabnet_r18_p2`" in text and text.endswith("more text\n")


def test_a_readme_without_markers_is_refused(table, tmp_path):
    shutil.copytree(REPO / "benchmarks" / "results", tmp_path / "benchmarks" / "results")
    (tmp_path / "benchmarks" / "README.md").write_text("# Benchmarks\n")
    with pytest.raises(SystemExit, match="lacks the markers"):
        table.main(["--write", "--root", str(tmp_path)])


def test_the_committed_tables_match_the_committed_results(table):
    assert table.main(["--check"]) == 0, "run python benchmarks/table.py --write"
