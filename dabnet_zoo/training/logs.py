"""The run's iteration log, ``logs/train_log.jsonl``: one JSON object per logged iteration.

Each line holds ``iteration`` (iterations done, 1-based), ``epoch``, ``loss`` (mean over the iterations since the
previous line), ``lr`` and ``seconds_per_iteration``. ``lr`` follows the original's convention: the line of
iteration ``k`` shows the rate that iteration used, which is ``poly_lr(k - 1, ...)`` (mmcv logs the rate of
0-based iteration ``k - 1`` at ``Iter [k]``), so the two logs can be compared line by line.

A run that is killed may leave a half-written last line, and iterations logged after its last checkpoint that the
resumed run will log again. :meth:`TrainLog.truncate` (called at every start) drops both, so the log of a resumed
run equals the log of an uninterrupted one; TensorBoard's events are purged the same way (``purge_step``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..fileio import write_atomic

logger = logging.getLogger(__name__)

TRAIN_LOG_FILE = "train_log.jsonl"


class TrainLog:
    """``train_log.jsonl`` at ``path``: read (tolerating damage), cut back to a checkpoint, appended to."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def read(self) -> list[dict[str, Any]]:
        """The records, oldest first; a line that does not parse (a kill mid-write) is dropped with a warning."""
        if not self.path.is_file():
            return []
        records = []
        lines = self.path.read_bytes().split(b"\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("iteration"), int):
                    raise ValueError("not an iteration record")
            except (UnicodeDecodeError, ValueError):
                where = "its last line" if number >= len(lines) - 1 else f"line {number}"
                logger.warning("Dropping %s of %s, which is damaged (cut short by a kill?): %r", where, self.path,
                               line[:80])
                continue
            records.append(record)
        return records

    def truncate(self, step: int) -> None:
        """Keep only the records of iterations ``<= step`` (those a run resumed at ``step`` will not log again)."""
        if not self.path.is_file():
            return
        kept = [record for record in self.read() if record["iteration"] <= step]
        write_atomic(self.path, "".join(json.dumps(record) + "\n" for record in kept))

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one record as a line (flushed, so a kill loses at most the line being written)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(dict(record)) + "\n")
            handle.flush()


__all__ = ["TRAIN_LOG_FILE", "TrainLog"]
