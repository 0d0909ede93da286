"""Exceptions raised by dabnet_zoo.

Every error subclasses both :class:`DabnetZooError` (so the CLI can turn it into one clear line) and the
built-in exception a Python user would expect (``KeyError`` for an unknown name, ``ValueError`` for bad input),
so ``except ValueError`` keeps working for callers that do not know this package.
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable


class DabnetZooError(Exception):
    """Base class of every error this package raises on purpose."""


class UnknownModelError(DabnetZooError, KeyError):
    """A model or dataset name that the registry does not know."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class CheckpointError(DabnetZooError, ValueError):
    """A checkpoint that cannot be read or does not fit the requested variant."""


class InputError(DabnetZooError, ValueError):
    """An image, tensor or label map that the model cannot take as it is."""


class OutputExistsError(DabnetZooError, FileExistsError):
    """An output file already exists and overwriting was not requested."""


class RegistryError(DabnetZooError, ValueError):
    """A registry entry whose fields contradict each other (a bug in this file, caught at import)."""


class ResultsError(DabnetZooError, ValueError):
    """A results file (or dict) that does not follow its schema, or sits in the wrong model's folder."""


class RecipeError(DabnetZooError, ValueError):
    """A recipe file or option that cannot describe a run (unknown keys, wrong types, impossible batch plan)."""


class WeightsNotPublishedError(DabnetZooError, LookupError):
    """No trained weights are published for a variant x dataset."""


class WeightsDownloadError(DabnetZooError, OSError):
    """Published weights could not be fetched (offline, no network, or the Hub refused)."""


class WeightsIntegrityError(CheckpointError):
    """A downloaded weights file does not match the sha256 or size recorded in the registry."""


class PublishError(DabnetZooError, OSError):
    """The Hub refused or could not be reached while pushing."""


class NoSpaceError(DabnetZooError, OSError):
    """The disk (or quota) filled up while writing an output; nothing was left behind (see dabnet_zoo.fileio)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errno = errno.ENOSPC  # so `except OSError as e: e.errno == ENOSPC` callers still recognise it


class UnsupportedPrecisionError(DabnetZooError, ValueError):
    """A precision that this backend, CPU or setup cannot run as asked: an unknown name, a CPU without the
    instructions that make it fast, or INT8 without calibration images."""


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    """Build the message for an unknown name: the name, the closest match and every valid choice (in the
    order given).

    A name is suggested only when it is close (case aside) and closer than every other: ``dabnet_r18_p3`` is
    as far from p2 as from p4 or p8, and naming one of them would be a guess, so only the list is shown.
    """
    known = list(known)
    scores = sorted(
        ((difflib.SequenceMatcher(None, name.lower(), candidate.lower()).ratio(), candidate) for candidate in known),
        key=lambda pair: pair[0], reverse=True,
    )
    clear = scores and scores[0][0] >= 0.8 and (len(scores) == 1 or scores[0][0] > scores[1][0])
    hint = f" Did you mean {scores[0][1]!r}?" if clear else ""
    return f"Unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known)}."


__all__ = [
    "CheckpointError",
    "DabnetZooError",
    "InputError",
    "NoSpaceError",
    "OutputExistsError",
    "PublishError",
    "RecipeError",
    "RegistryError",
    "ResultsError",
    "UnknownModelError",
    "UnsupportedPrecisionError",
    "WeightsDownloadError",
    "WeightsIntegrityError",
    "WeightsNotPublishedError",
    "unknown_name_message",
]
