"""The one way this package writes its outputs: complete or not at all, never over an input.

Every file and folder that dabnet_zoo writes (converted models, ONNX files and engines, predictions, results,
prepared or synthetic datasets) goes through the three functions here:

* :func:`write_atomic` writes bytes or text to a file;
* :func:`atomic_file` hands a writer that needs a path (``torch.save``, ONNX, PIL) a temporary path;
* :func:`publish_dir` hands a writer of several files (``save_pretrained``) a staging folder.

The policy, and why:

* Work happens in a hidden *stage* beside the target (same folder, hence the same file system), is flushed to
  disk (``fsync``) and then renamed into place, so a reader, a crash or a kill sees the old output or the new
  one, never half of one.
* A folder is replaced by renaming the old one to a hidden *backup* name first, renaming the stage into place and
  only then deleting the backup (if the second rename fails, the backup is renamed back).
* On any failure, ``KeyboardInterrupt`` included, the stage is removed. A ``SIGKILL`` cannot be caught, so stages
  and backups carry the writer's machine and process id in their names (``.NAME.stage-HOST-PID-TOKEN``,
  ``.NAME.old-HOST-PID-TOKEN``): the next write into the same folder on that machine deletes those whose process
  is gone, and restores a backup whose target is missing (a kill between the two renames).
* Files get the permissions of any file the user creates (``0o666 & ~umask``; folders ``0o777 & ~umask``),
  whatever the writing library used (``tempfile`` and safetensors make 0600/0700), so results can be shared.
* A full disk (``ENOSPC``, however the writing library reports it) becomes one :class:`NoSpaceError` line saying
  where and about how much is needed, after the stage has been removed.
* :func:`publish_dir` refuses a target that is, contains or lies inside one of the writer's inputs, so
  ``--overwrite`` can never delete the file being converted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import InputError, NoSpaceError, OutputExistsError

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike

_STAGE, _BACKUP = "stage", "old"
# This machine, in the hidden names: a process id says whether a writer is gone only on the machine that ran it
# (a folder on a network file system is shared by several machines; containers have their own process ids).
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
# Hidden names of our own stages and backups: ".<target name>.<kind>-<host>-<pid>-<token><target suffix>".
_HIDDEN = re.compile(rf"^\.(?P<name>.+)\.(?P<kind>{_STAGE}|{_BACKUP})-(?P<host>[0-9a-f]{{6}})-(?P<pid>\d+)-"
                     rf"(?P<token>[0-9a-f]{{8}})")
# Below this much free space, a write error that does not name its cause is taken to be a full disk.
_FULL_DISK_FREE_BYTES = 4 * 2**20
# Messages of libraries that do not raise OSError for a full disk (safetensors' Rust IO errors, torch's C++ writer).
_NO_SPACE_PHRASES = ("no space left on device", "disk quota exceeded", "os error 28", "os error 122", "storagefull")
_WRITE_FAILED_PHRASES = ("file write failed", "iostream error", "write failed", "failed writing")
# Folders already searched for leftovers by this process (a per-file search would be quadratic in big folders).
_swept: set[Path] = set()


def write_atomic(path: PathLike, data: str | bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path``: the file appears complete or not at all.

    With ``overwrite=False`` an existing file is never replaced, even one that appears while writing
    (:class:`OutputExistsError`). Returns ``path`` as a :class:`Path`.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with atomic_file(path, overwrite=overwrite, expected_bytes=len(payload)) as temporary:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(payload)
    return Path(path)


@contextlib.contextmanager
def atomic_file(path: PathLike, *, overwrite: bool = True, expected_bytes: int | None = None) -> Iterator[Path]:
    """Yield a hidden path beside ``path`` for a writer to create; move it onto ``path`` when the block succeeds.

    The yielded path does not exist yet and keeps ``path``'s suffix (writers that pick a format from it work).
    On any failure it is removed and ``path`` is left as it was. ``expected_bytes`` (the approximate size of the
    file) only improves the full-disk message.
    """
    target = _named(path)
    temporary = _hidden_path(target, _STAGE)
    created: list[Path] = []
    try:
        _make_parents(target.parent, created)
        _sweep_once(target.parent)
        yield temporary
        if not temporary.exists():
            raise FileNotFoundError(f"The writer did not create {temporary} (for {target}).")
        _normal_permissions(temporary)
        _fsync_file(temporary)
        _move_file(temporary, target, overwrite)
        _fsync_dir(target.parent)
    except BaseException as error:
        _undo(error, temporary, created, target, expected_bytes)
        raise


@contextlib.contextmanager
def publish_dir(
    target: PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[PathLike] = (),
    expected_bytes: int | None = None,
) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; when the block succeeds, it becomes ``target``.

    Refused before anything is written: a ``target`` that is a file, or a non-empty folder without ``overwrite``
    (:class:`OutputExistsError`); a ``target`` that is one of ``inputs``, holds one, or lies inside one
    (:class:`InputError`: replacing it would delete the input). An existing ``target`` is kept until the new one
    is in place. On any failure the stage is removed and ``target`` is untouched. ``expected_bytes`` (the
    approximate size of the result) only improves the full-disk message.
    """
    target = _named(target)
    check_not_an_input(target, inputs)
    _check_replaceable(target, overwrite)
    stage = _hidden_path(target, _STAGE)
    created: list[Path] = []
    try:
        _make_parents(target.parent, created)
        _sweep(target.parent)
        _check_replaceable(target, overwrite)  # a swept backup may have been restored
        stage.mkdir(mode=0o777)
        yield stage
        _finish_tree(stage)
        _check_replaceable(target, overwrite)  # it may have appeared while the writer was busy
        _move_dir(stage, target)
        _fsync_dir(target.parent)
    except BaseException as error:
        _undo(error, stage, created, target, expected_bytes)
        raise


# --------------------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------------------


def _undo(error: BaseException, staged: Path, created: list[Path], target: Path, expected_bytes: int | None) -> None:
    """After a failed write: remove what was staged and the folders made for it; a full disk becomes
    :class:`NoSpaceError` (sized by what was written before it stopped)."""
    written = _size_of(staged)
    _remove(staged)
    _remove_empty(created)
    _raise_if_no_space(error, target, max(expected_bytes or 0, written))


def check_not_an_input(target: Path, inputs: Iterable[PathLike]) -> None:
    """Refuse a target whose replacement would delete or write into an input (symlinks and ``..`` resolved)."""
    resolved = Path(os.path.realpath(target))
    for given in inputs:
        source = Path(os.path.realpath(given))
        if source == resolved:
            why = "it is the input itself, which would be replaced"
        elif source.is_relative_to(resolved):
            why = f"it holds the input {given}, which would be deleted with it"
        elif resolved.is_relative_to(source):
            why = f"it lies inside the input folder {given}"
        else:
            continue
        raise InputError(f"Refusing to write {target}: {why}. Choose an output path that neither is, holds nor "
                         "lies inside an input; nothing was changed.")


def _check_replaceable(target: Path, overwrite: bool) -> None:
    if target.is_symlink() or target.exists():
        if not target.is_dir():
            raise OutputExistsError(f"{target} exists and is not a folder; choose another output folder.")
        if not overwrite and any(target.iterdir()):
            raise OutputExistsError(f"{target} already exists and is not empty; choose another folder or pass "
                                    "overwrite=True (--overwrite).")


# --------------------------------------------------------------------------------------------------------------
# Moves
# --------------------------------------------------------------------------------------------------------------


def _move_file(temporary: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)  # atomic, and fails if the target exists, even one that appeared just now
    except FileExistsError:
        raise OutputExistsError(f"{target} already exists; choose another name or pass overwrite=True.") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if target.exists():  # a file system without hard links: check, then rename
            raise OutputExistsError(f"{target} already exists; choose another name or pass overwrite=True.") from None
        os.replace(temporary, target)
    else:
        temporary.unlink()


def _move_dir(stage: Path, target: Path) -> None:
    """Rename ``stage`` to ``target``; an existing ``target`` is renamed aside first and deleted only afterwards."""
    if not (target.is_symlink() or target.exists()):
        os.rename(stage, target)
        return
    backup = _hidden_path(target, _BACKUP)
    os.rename(target, backup)
    try:
        os.rename(stage, target)
    except BaseException:
        os.rename(backup, target)
        raise
    _remove(backup)


# --------------------------------------------------------------------------------------------------------------
# Hidden names and leftovers
# --------------------------------------------------------------------------------------------------------------


def _named(path: PathLike) -> Path:
    """``path`` as a Path with a real last component (``.`` and ``..`` have no name to stage beside)."""
    path = Path(path)
    return Path(os.path.abspath(path)) if path.name in ("", "..") else path


def _hidden_path(target: Path, kind: str) -> Path:
    suffix = target.suffix if kind == _STAGE else ""
    return target.with_name(f".{target.name}.{kind}-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _sweep_once(folder: Path) -> None:
    key = Path(os.path.realpath(folder))
    if key not in _swept:
        _sweep(folder)
        _swept.add(key)


def _sweep(folder: Path) -> None:
    """Remove the stages and backups in ``folder`` whose writer process is gone (a SIGKILL leaves them).

    A backup whose target is missing was left between the two renames of :func:`publish_dir`: it is the old
    output, so it is renamed back rather than deleted. One left by another machine or container (whose writer
    cannot be checked from here) is only pointed out, so that the missing output is not a mystery.
    """
    try:
        with os.scandir(folder) as listing:
            entries = [entry for entry in listing if entry.name.startswith(".")]
    except OSError:
        return
    for entry in entries:
        match = _HIDDEN.match(entry.name)
        if match is None:
            continue
        leftover = Path(entry.path)
        target = leftover.with_name(match["name"])
        orphaned = match["kind"] == _BACKUP and not (target.is_symlink() or target.exists())
        if match["host"] != _HOST:
            if orphaned:
                logger.warning("%s is missing; %s holds its previous version, left by an interrupted write on another "
                               "machine or container. If no write to it is running, rename it back.", target,
                               leftover.name)
            continue
        if _process_alive(int(match["pid"])):
            continue
        if orphaned:
            logger.warning("Restoring %s from %s, left by an interrupted write.", target, leftover.name)
            with contextlib.suppress(OSError):
                os.rename(leftover, target)
            continue
        logger.info("Removing %s, left by an interrupted write.", leftover)
        _remove(leftover)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows: assume it is alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _make_parents(folder: Path, created: list[Path]) -> None:
    """Create ``folder`` and its missing parents, recording each one made in ``created``, deepest first (so
    that a failed write, even one failing here, can remove them)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for parent in reversed(missing):
        try:
            parent.mkdir(mode=0o777)
        except FileExistsError:  # another process made it meanwhile: not ours to remove
            continue
        created.insert(0, parent)


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders this write created, deepest first, as long as nothing else was put in them."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            path.unlink()


# --------------------------------------------------------------------------------------------------------------
# Durability
# --------------------------------------------------------------------------------------------------------------


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_dir(folder: Path) -> None:
    """Persist a rename: on POSIX the folder entry is only durable once the folder itself is synced."""
    if os.name == "nt":
        return
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems refuse fsync on a folder; the data itself is already synced
        pass
    finally:
        os.close(descriptor)


def _finish_tree(root: Path) -> None:
    """Give every file and folder of a stage the usual permissions and flush it to disk."""
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                _normal_permissions(path)
                _fsync_file(path)
        _normal_permissions(Path(folder))
        _fsync_dir(Path(folder))


def _normal_permissions(path: Path) -> None:
    """``0o666 & ~umask`` for a file (``0o777`` if it was executable) and ``0o777 & ~umask`` for a folder: what
    ``open``/``mkdir`` give, whatever the writer used (``tempfile`` and safetensors create 0600 files)."""
    mode = path.stat().st_mode
    full = 0o777 if path.is_dir() or mode & 0o111 else 0o666
    os.chmod(path, full & ~_umask())


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask can only be read by setting it, racing other threads)
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def _size_of(path: Path) -> int:
    try:
        if path.is_dir() and not path.is_symlink():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        return path.stat().st_size
    except OSError:
        return 0


# --------------------------------------------------------------------------------------------------------------
# Full disks
# --------------------------------------------------------------------------------------------------------------


def is_no_space_error(error: BaseException, folder: PathLike | None = None) -> bool:
    """Whether ``error`` (or an exception it was raised from) means the disk or quota is full.

    Besides ``OSError(ENOSPC/EDQUOT)`` this recognises the messages of writers that wrap the OS error
    (safetensors, ONNX) and, when ``folder`` is given and nearly full, torch's unspecific "file write failed".
    """
    if isinstance(error, NoSpaceError):
        return True
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(current).lower()
        if any(phrase in text for phrase in _NO_SPACE_PHRASES):
            return True
        if folder is not None and any(phrase in text for phrase in _WRITE_FAILED_PHRASES):
            with contextlib.suppress(OSError):
                if shutil.disk_usage(folder).free < _FULL_DISK_FREE_BYTES:
                    return True
        current = current.__cause__ or current.__context__
    return False


def no_space_error(path: PathLike, needed_bytes: int) -> NoSpaceError:
    """The one-line error for a full disk: the mount point, the path and about how much is needed."""
    path = Path(os.path.abspath(path))
    mount = path
    while not mount.exists() and mount != mount.parent:
        mount = mount.parent
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    megabytes = max(1, -(-needed_bytes // 2**20))
    where = f"{mount}" if mount == path else f"{mount} writing {path}"
    return NoSpaceError(f"no space left on {where} (needs about {megabytes} MB); free some space or choose "
                        "another output location.")


def _raise_if_no_space(error: BaseException, target: Path, needed_bytes: int) -> None:
    if isinstance(error, NoSpaceError):
        return
    if is_no_space_error(error, target.parent if target.parent.exists() else None):
        raise no_space_error(target, needed_bytes) from error


__all__ = [
    "atomic_file",
    "check_not_an_input",
    "is_no_space_error",
    "no_space_error",
    "publish_dir",
    "write_atomic",
]
