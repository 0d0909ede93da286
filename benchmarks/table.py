"""The latency tables of benchmarks/README.md, rendered from the result files so no figure is copied by hand.

One table per setting (device and hardware, precision, input size, batch, resize + argmax included or not), a row
per model, a column per backend with the median / p90 latency in ms.

Usage::

    python benchmarks/table.py            # print the tables
    python benchmarks/table.py --write    # replace the tables between the markers in benchmarks/README.md
    python benchmarks/table.py --check    # exit 1 if README.md's tables differ from the result files
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from dabnet_zoo.fileio import write_atomic
from dabnet_zoo.registry import list_models
from dabnet_zoo.results import BACKENDS, BenchmarkResult, load_benchmark_results

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- tables: start (python benchmarks/table.py --write) -->", "<!-- tables: end -->"


def collect(root: Path = ROOT, dataset: str = "cityscapes") -> list[BenchmarkResult]:
    """Every benchmark result of every variant on ``dataset``, in registry order."""
    return [result for name in list_models() for result in load_benchmark_results(f"{name}.{dataset}", root)]


def render(results: list[BenchmarkResult]) -> str:
    """Markdown tables, one per setting; settings in order of first appearance, backends in protocol order."""
    groups: dict[tuple, dict[str, dict[str, BenchmarkResult]]] = defaultdict(lambda: defaultdict(dict))
    for result in results:
        setting = (result.device, result.hardware, result.precision.upper(), result.height, result.width,
                   result.batch_size, result.includes_resize_argmax, result.environment.get("threads", "?"))
        groups[setting][result.model][result.backend] = result
    sections = []
    for (device, hardware, precision, height, width, batch, post, threads), rows in groups.items():
        backends = [b for b in BACKENDS if any(b in by_backend for by_backend in rows.values())]
        threads_text = f", {threads} threads" if device == "cpu" else ""
        lines = [
            f"### {device.upper()}: {hardware}{threads_text}, {precision}, {height}x{width}, batch {batch}, "
            f"resize + argmax {'included' if post else 'excluded'}",
            "",
            "| model | " + " | ".join(f"{b} median / p90 ms" for b in backends) + " |",
            "|---|" + "---|" * len(backends),
        ]
        for model, by_backend in rows.items():
            cells = [_cell(by_backend.get(b)) for b in backends]
            lines.append(f"| `{model}` | " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) if sections else "No results yet."


def _cell(result: BenchmarkResult | None) -> str:
    if result is None:
        return "not run"
    return f"{result.latency_ms['median']:.0f} / {result.latency_ms['p90']:.0f}"


def splice(readme: str, tables: str) -> str:
    """``readme`` with the text between the markers replaced by ``tables``."""
    head, found_start, rest = readme.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found_start and found_end):
        raise SystemExit(f"benchmarks/README.md lacks the markers {START!r} ... {END!r}; add them where the tables go.")
    return f"{head}{START}\n{tables}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="update the tables in benchmarks/README.md")
    action.add_argument("--check", action="store_true", help="exit 1 if benchmarks/README.md is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    tables = render(collect(args.root))
    readme_path = args.root / "benchmarks" / "README.md"
    if not (args.write or args.check):
        print(tables)
        return 0
    readme = readme_path.read_text(encoding="utf-8")
    updated = splice(readme, tables)
    if args.check:
        if updated != readme:
            print(f"{readme_path} is stale: run python benchmarks/table.py --write", file=sys.stderr)
            return 1
        return 0
    write_atomic(readme_path, updated)
    print(f"Wrote {readme_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
