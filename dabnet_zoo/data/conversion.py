"""The file-conversion loop every ``dabnet-zoo prepare`` dataset shares: parallel, resumable, never destructive.

A dataset converter only says *what* to convert: a list of :class:`ConversionTask` (source file, output file,
and a module-level function that writes the output). This module does the rest, once for all datasets:

* **idempotent**: an output that already exists is trusted as finished and skipped, so a re-run (after a
  crash, Ctrl-C, or just twice) only does the missing work;
* **atomic**: each output is written through :func:`dabnet_zoo.fileio.atomic_file` (a hidden temporary file in
  the same folder, renamed into place), so a half-written file never carries the final name (and so is never
  mistaken for a finished one), and a killed run's temporaries are removed by the next run;
* **non-destructive**: an existing file is never opened for writing nor replaced, even one that appears while
  converting, so the user's originals cannot be overwritten, whatever the converter's naming rule produces;
* **parallel** over a ``multiprocessing`` pool (``nproc``) with a tqdm progress bar;
* **loud**: a file that fails is reported with its path and reason after the loop (the others are kept, so
  the fix-and-re-run cycle is cheap), never silently dropped; a full disk stops the run at once, in one line.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DabnetZooError, InputError, NoSpaceError, OutputExistsError
from ..fileio import atomic_file

logger = logging.getLogger(__name__)

# A converter: writes the converted ``source`` to ``temporary_output`` (whose suffix equals the final output's,
# so format-from-extension writers work) and may return one line worth logging (e.g. "3 unknown ids -> 255").
ConvertFunction = Callable[[Path, Path], "str | None"]


@dataclass(frozen=True)
class ConversionTask:
    """One output file to produce.

    Attributes:
        source: the input file (never modified).
        output: the final path of the converted file.
        convert: a module-level function (it must pickle for the process pool) that writes ``source``'s
            conversion to the path it is given.
    """

    source: Path
    output: Path
    convert: ConvertFunction


@dataclass
class ConversionSummary:
    """What a conversion run did. ``notes`` are per-file remarks from the converters (already logged)."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.written)} written, {len(self.skipped)} already done"


def require_directory(path: Path, layout: str) -> Path:
    """Return ``path`` if it is a folder; otherwise raise an error that names it and shows the expected layout."""
    if not path.is_dir():
        raise InputError(f"Expected folder {path} does not exist. The dataset root must look like:\n{layout}")
    return path


def visible_files(folder: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` in ``folder``, sorted, without hidden files (our temporaries start with a dot)."""
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith(".") and p.is_file())


def split_label_files(root: Path, splits: Sequence[str], layout: str, what: str,
                      exclude_suffix: str | None = None) -> dict[str, list[Path]]:
    """The ``*.png`` label files in ``ROOT/annotations/<split>``, for every split folder of ``splits`` present.

    Raises :class:`InputError` naming the folder and showing ``layout`` when ``ROOT/annotations`` or every split
    folder is missing, or when a split folder has no label file (``what`` names them in the message). Warns when
    a split has no ``ROOT/images/<split>``. Files ending in ``exclude_suffix`` (a converter's own outputs, when
    they are written beside the inputs) are not inputs.
    """
    annotations = require_directory(root / "annotations", layout)
    present = [split for split in splits if (annotations / split).is_dir()]
    if not present:
        raise InputError(f"No split folder ({', '.join(splits)}) in {annotations}. The dataset root must look "
                         f"like:\n{layout}")
    files = {}
    for split in present:
        labels = [p for p in visible_files(annotations / split, "*.png")
                  if exclude_suffix is None or not p.name.endswith(exclude_suffix)]
        if not labels:
            raise InputError(f"No {what} in {annotations / split}. Expected:\n{layout}")
        if not (root / "images" / split).is_dir():
            logger.warning("%s is missing: labels will be prepared, but training also needs the images.",
                           root / "images" / split)
        files[split] = labels
    return files


def _convert_one(task: ConversionTask) -> tuple[Path, str | None, str | None]:
    """Run one task in a worker; return (output, note, error) instead of raising, so one bad file is reported
    with its path and the pool keeps going. A full disk is raised: every later file would fail the same way."""
    try:
        with atomic_file(task.output, overwrite=False) as temporary:
            note = task.convert(task.source, temporary)
        return task.output, note, None
    except OutputExistsError:
        return task.output, f"{task.output} appeared while converting; kept the existing file", None
    except NoSpaceError:
        raise
    except (Exception, SystemExit) as error:  # SystemExit: a library sys.exit would kill a pool worker
        message = str(error) or type(error).__name__
        return task.output, None, f"{task.source}: {message}"


def run_conversions(
    tasks: Sequence[ConversionTask], nproc: int = 1, description: str = "converting", progress: bool = True
) -> ConversionSummary:
    """Produce every task's output that does not exist yet.

    Args:
        tasks: the outputs to produce; a task whose output exists is skipped without being opened.
        nproc: worker processes; 1 converts in this process (no pool start-up cost).
        description: the progress bar's label.
        progress: show a tqdm progress bar.

    Raises:
        InputError: a task's output path equals its source (a converter bug that would overwrite an original).
        DabnetZooError: some files failed; the message lists them (the successful outputs are kept).
    """
    from tqdm.auto import tqdm

    if nproc < 1:
        raise InputError(f"nproc must be at least 1, got {nproc}.")
    for task in tasks:
        if task.output.resolve() == task.source.resolve():
            raise InputError(f"Refusing to convert {task.source} onto itself; the output needs a different name.")
    summary = ConversionSummary()
    todo = []
    for task in tasks:
        if task.output.exists():
            summary.skipped.append(task.output)
        else:
            todo.append(task)
    logger.info("%s: %d to write, %d already done", description, len(todo), len(summary.skipped))

    failures: list[str] = []
    bar = tqdm(total=len(todo), desc=description, unit="file", disable=not progress or not todo)
    with bar:
        if nproc == 1 or len(todo) <= 1:
            results = map(_convert_one, todo)
            _collect(results, summary, failures, bar)
        else:
            with _process_pool(min(nproc, len(todo))) as pool:
                results = pool.imap_unordered(_convert_one, todo, chunksize=max(1, len(todo) // (nproc * 8)))
                _collect(results, summary, failures, bar)
    if failures:
        shown = "\n  ".join(failures[:10])
        more = f"\n  ... and {len(failures) - 10} more" if len(failures) > 10 else ""
        raise DabnetZooError(
            f"{len(failures)} of {len(todo)} files could not be converted ({len(summary.written)} written and kept; "
            f"re-run after fixing them, finished files are skipped):\n  {shown}{more}"
        )
    return summary


def _process_pool(processes: int):
    """A pool whose workers do not inherit this process's threads (torch, tqdm's monitor): ``forkserver``
    where available (the default from Python 3.14 on), with this module preloaded so that workers start fast;
    ``spawn`` elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload([__name__])
    return context.Pool(processes)


def _collect(results, summary: ConversionSummary, failures: list[str], bar) -> None:
    for output, note, error in results:
        if error is not None:
            failures.append(error)
        else:
            summary.written.append(output)
            if note:
                summary.notes.append(note)
                logger.warning("%s", note)
        bar.update(1)


__all__ = [
    "ConversionSummary",
    "ConversionTask",
    "ConvertFunction",
    "require_directory",
    "run_conversions",
    "split_label_files",
    "visible_files",
]
