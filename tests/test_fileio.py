"""The atomic-write policy under faults: kills, exceptions, full disks, inputs as outputs, permissions.

Kills are real: a child process writes through dabnet_zoo.fileio, says when it is mid-write, and gets SIGKILL.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dabnet_zoo import fileio
from dabnet_zoo.errors import InputError, NoSpaceError, OutputExistsError
from dabnet_zoo.fileio import atomic_file, publish_dir, write_atomic
from tests.conftest import run_until_killed


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield 0o022
    os.umask(previous)


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) with its content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ----------------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------------


def test_write_atomic_writes_text_and_bytes_with_normal_permissions(tmp_path, umask_022):
    text, binary = tmp_path / "a" / "text.json", tmp_path / "bytes.bin"
    assert write_atomic(text, "é\n") == text and text.read_bytes() == "é\n".encode()
    write_atomic(binary, b"\x00\x01")
    assert binary.read_bytes() == b"\x00\x01"
    for path in (text, binary):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask_022  # what open() would give, not mkstemp's 0600
    os.umask(0o002)
    write_atomic(binary, b"again")
    assert binary.stat().st_mode & 0o777 == 0o664
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "bytes.bin"]


def test_private_files_of_a_writer_are_published_with_normal_permissions(tmp_path, umask_022):
    """tempfile and safetensors create 0600 files and 0700 folders; published outputs are readable by others."""
    with atomic_file(tmp_path / "engine.plan") as temporary:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT, 0o600))
    with publish_dir(tmp_path / "out") as stage:
        (stage / "sub").mkdir(mode=0o700)
        os.close(os.open(stage / "sub" / "model.safetensors", os.O_WRONLY | os.O_CREAT, 0o600))
        os.close(os.open(stage / "run.sh", os.O_WRONLY | os.O_CREAT, 0o700))
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in tmp_path.rglob("*")}
    assert modes == {"engine.plan": 0o644, "out": 0o755, "out/sub": 0o755, "out/sub/model.safetensors": 0o644,
                     "out/run.sh": 0o755}


@pytest.mark.parametrize("fault", [RuntimeError("writer crashed"), KeyboardInterrupt()])
def test_a_failing_writer_leaves_the_old_file_and_no_stage(tmp_path, fault):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(type(fault)):
        with atomic_file(target) as temporary:
            assert temporary.parent == tmp_path and temporary.name.startswith(".") and temporary.suffix == ".onnx"
            temporary.write_bytes(b"half a new fi")
            raise fault
    assert _tree(tmp_path) == {"model.onnx": b"old"}


def test_a_failed_write_removes_the_folders_it_created(tmp_path):
    (tmp_path / "exports").mkdir()
    with pytest.raises(OSError):
        with atomic_file(tmp_path / "exports" / "r18" / "p2" / "model.onnx") as temporary:
            temporary.write_bytes(b"partial")
            raise OSError(errno.EIO, "injected")
    with pytest.raises(ValueError):
        with publish_dir(tmp_path / "converted" / "model"):
            raise ValueError
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["exports"]


def test_a_full_disk_while_making_the_output_folders_leaves_none(tmp_path, monkeypatch):
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):  # ext4 refuses a new folder on a full disk (tmpfs would not)
        if self.name == "p2":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(NoSpaceError, match="no space left on"):
        write_atomic(tmp_path / "exports" / "p2" / "model.onnx", b"graph")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_false_never_replaces_a_file(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("mine")
    with pytest.raises(OutputExistsError, match="already exists"):
        write_atomic(target, "theirs", overwrite=False)
    write_atomic(tmp_path / "new.json", "new", overwrite=False)
    assert _tree(tmp_path) == {"result.json": b"mine", "new.json": b"new"}


def test_sigkill_mid_write_keeps_the_old_file_and_the_next_write_removes_the_stage(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    run_until_killed(
        """
        import time
        from dabnet_zoo.fileio import atomic_file
        with atomic_file("result.json") as temporary:
            with open(temporary, "w") as stream:
                stream.write("half of the new")
                stream.flush()
                print("ready", flush=True)
                time.sleep(60)
        """,
        tmp_path,
    )
    assert target.read_text() == "old"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "result.json"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".result.json.stage-")  # the kill did leave one
    write_atomic(target, "new")
    assert _tree(tmp_path) == {"result.json": b"new"}


def test_stages_of_live_processes_other_machines_and_other_hidden_files_are_left_alone(tmp_path):
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from dabnet_zoo.fileio import atomic_file
            with atomic_file(sys.argv[1]) as temporary:
                temporary.write_text("in progress")
                print("ready", flush=True)
                time.sleep(60)
            """), str(tmp_path / "x.json")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        live = [p.name for p in tmp_path.iterdir()]
        other_host = "0" * 6 if fileio._HOST != "0" * 6 else "1" * 6
        remote = tmp_path / f".x.json.stage-{other_host}-{_dead_pid()}-0123abcd.json"  # on a shared file system
        unrelated = tmp_path / ".x.json.stage-notes"
        for path in (remote, unrelated):
            path.write_text("?")
        with publish_dir(tmp_path / "out"):
            pass
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*live, "out", remote.name, unrelated.name])
    finally:
        writer.kill()
        writer.wait()
    with publish_dir(tmp_path / "out2"):  # now the writer is gone: its stage goes
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", "out2", remote.name, unrelated.name])


def test_a_backup_another_machine_left_in_place_of_its_output_is_pointed_out(tmp_path, caplog):
    """Between publish_dir's two renames the output exists only as its backup. A writer on another machine or
    container cannot be checked from here, so its backup is left alone, but the missing output is explained."""
    other_host = "0" * 6 if fileio._HOST != "0" * 6 else "1" * 6
    backup = tmp_path / f".model.old-{other_host}-{_dead_pid()}-0123abcd"
    backup.mkdir()
    (backup / "config.json").write_text("{}")
    with caplog.at_level(logging.WARNING, logger="dabnet_zoo.fileio"), publish_dir(tmp_path / "other"):
        pass
    assert backup.is_dir() and not (tmp_path / "model").exists()  # not restored: its writer may be alive
    assert f"{tmp_path / 'model'} is missing; {backup.name} holds its previous version" in caplog.text


# ----------------------------------------------------------------------------------------------------------------
# Folders
# ----------------------------------------------------------------------------------------------------------------


def test_publish_dir_replaces_a_folder_only_with_overwrite(tmp_path, umask_022):
    target = tmp_path / "converted"
    with publish_dir(target) as stage:
        assert stage.parent == tmp_path and stage.name.startswith(".converted.stage-")
        (stage / "weights").write_text("v1")
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask_022  # not tempfile.mkdtemp's 0700
    with pytest.raises(OutputExistsError, match="not empty.*overwrite"):
        with publish_dir(target):
            pytest.fail("a used folder must be refused before the writer runs")
    with publish_dir(target, overwrite=True) as stage:
        (stage / "weights").write_text("v2")
        assert (target / "weights").read_text() == "v1"  # the old folder stays usable while the new one is built
    assert _tree(tmp_path) == {"converted/weights": b"v2"}


def test_publish_dir_accepts_an_empty_folder_and_refuses_a_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with publish_dir(tmp_path / "empty") as stage:
        (stage / "a").write_text("a")
    assert (tmp_path / "empty" / "a").read_text() == "a"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        with publish_dir(tmp_path / "file", overwrite=True):
            pass
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("fault", [ValueError("conversion failed"), KeyboardInterrupt()])
def test_a_failing_folder_writer_leaves_the_old_folder_and_no_stage(tmp_path, fault):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(type(fault)):
        with publish_dir(target, overwrite=True) as stage:
            (stage / "new.txt").write_text("new")
            raise fault
    assert _tree(tmp_path) == {"out/old.txt": b"old"}


def test_a_failed_second_rename_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real_rename = os.rename

    def rename(source, destination):
        if ".stage-" in str(source):  # the stage -> target move, after the old one was renamed aside
            raise PermissionError(errno.EACCES, "injected")
        real_rename(source, destination)

    monkeypatch.setattr(fileio.os, "rename", rename)
    with pytest.raises(PermissionError, match="injected"):
        with publish_dir(target, overwrite=True) as stage:
            (stage / "new.txt").write_text("new")
    assert _tree(tmp_path) == {"out/old.txt": b"old"}


def test_sigkill_while_staging_keeps_the_old_folder_and_the_next_run_removes_the_stage(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    run_until_killed(
        """
        import time
        from dabnet_zoo.fileio import publish_dir
        with publish_dir("out", overwrite=True) as stage:
            (stage / "new.txt").write_text("new")
            print("ready", flush=True)
            time.sleep(60)
        """,
        tmp_path,
    )
    assert (tmp_path / "out" / "old.txt").read_text() == "old"
    assert any(p.name.startswith(".out.stage-") for p in tmp_path.iterdir())
    with publish_dir(tmp_path / "out", overwrite=True) as stage:
        (stage / "new.txt").write_text("new")
    assert _tree(tmp_path) == {"out/new.txt": b"new"}


def test_sigkill_between_the_two_renames_restores_the_old_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    run_until_killed(
        """
        import os, time
        from dabnet_zoo import fileio
        real_rename = os.rename

        def rename(source, destination):  # pause right after the old folder was moved aside
            real_rename(source, destination)
            if ".old-" in str(destination):
                print("ready", flush=True)
                time.sleep(60)

        fileio.os.rename = rename
        with fileio.publish_dir("out", overwrite=True) as stage:
            (stage / "new.txt").write_text("new")
        """,
        tmp_path,
    )
    assert not (tmp_path / "out").exists()  # the kill landed between the renames
    with pytest.raises(OutputExistsError):  # the next run finds the old folder back in place ...
        with publish_dir(tmp_path / "out"):
            pass
    assert _tree(tmp_path) == {"out/old.txt": b"old"}  # ... and nothing else


# ----------------------------------------------------------------------------------------------------------------
# Inputs are never outputs
# ----------------------------------------------------------------------------------------------------------------


def test_an_output_that_is_holds_or_lies_inside_an_input_is_refused(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    checkpoint = folder / "p2.pth"
    checkpoint.write_bytes(b"weights")
    (folder / "other.pth").write_bytes(b"more")
    (tmp_path / "link").symlink_to(folder)
    before = _tree(tmp_path)
    cases = [
        (checkpoint, [checkpoint], "is the input itself"),
        (folder, [checkpoint], "holds the input"),
        (tmp_path / "link", [checkpoint], "holds the input"),  # through a symlink
        (tmp_path, [tmp_path / "ck" / ".." / "ck" / "p2.pth"], "holds the input"),
        (folder / "out", [folder], "inside the input folder"),
    ]
    for target, inputs, why in cases:
        with pytest.raises(InputError, match=why):
            with publish_dir(target, overwrite=True, inputs=inputs):
                pytest.fail("refused before the writer runs")
    assert _tree(tmp_path) == before
    with publish_dir(tmp_path / "elsewhere", inputs=[checkpoint]) as stage:  # a sibling is fine
        (stage / "x").write_text("x")


# ----------------------------------------------------------------------------------------------------------------
# Full disks
# ----------------------------------------------------------------------------------------------------------------


class _FullDiskStream(io.BytesIO):
    """A file object that fails as a full disk does."""

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_enospc_in_write_atomic_is_one_line_and_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    target.write_text("old")
    real_fdopen = os.fdopen

    def fdopen(descriptor, *args, **kwargs):
        real_fdopen(descriptor, *args, **kwargs).close()
        return _FullDiskStream()

    monkeypatch.setattr(fileio.os, "fdopen", fdopen)
    with pytest.raises(NoSpaceError) as raised:
        write_atomic(target, b"x" * (3 * 2**20 + 1))
    message = str(raised.value)
    assert message.startswith("no space left on /") and "(needs about 4 MB)" in message and "\n" not in message
    assert str(target) in message and raised.value.errno == errno.ENOSPC
    assert _tree(tmp_path) == {"result.json": b"old"}


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        # how safetensors (Rust) reports it from save_pretrained
        Exception('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                  'message: "No space left on device" })'),
    ],
)
def test_full_disk_errors_of_any_writer_become_no_space_error(tmp_path, error):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(NoSpaceError, match=r"^no space left on .*\(needs about 2 MB\)"):
        with publish_dir(target, overwrite=True, expected_bytes=2 * 2**20) as stage:
            (stage / "model.safetensors").write_bytes(b"\0" * 1000)
            raise error
    assert _tree(tmp_path) == {"out/old.txt": b"old"}


def test_torch_write_failures_count_as_full_disk_only_when_the_disk_is_full(tmp_path, monkeypatch):
    """torch.save's C++ writer says only 'file write failed': the free space decides."""
    error = RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter failed writing file "
                         "data/0: file write failed")
    usage = type("usage", (), {"free": 10 * 2**30})
    monkeypatch.setattr(fileio.shutil, "disk_usage", lambda path: usage)
    with pytest.raises(RuntimeError, match="file write failed"):
        with atomic_file(tmp_path / "checkpoint.pt"):
            raise error
    usage.free = 0
    with pytest.raises(NoSpaceError, match="no space left on"):
        with atomic_file(tmp_path / "checkpoint.pt"):
            raise error
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------------------------
# A real full disk (a 1 MB tmpfs in a private mount namespace, where the machine allows it: root on Linux)
# ----------------------------------------------------------------------------------------------------------------

_FULL_DISK_SCRIPT = """
import contextlib, io, json, os, sys
from dabnet_zoo.cli.main import main

disk, checkpoint, image = sys.argv[1:4]
filler = os.open(os.path.join(disk, "filler"), os.O_WRONLY | os.O_CREAT)
with contextlib.suppress(OSError):  # fill the disk to the last byte
    while True:
        os.write(filler, bytes(4096))
os.close(filler)
report = {}
for name, argv in {
    "convert": ["convert", checkpoint, os.path.join(disk, "converted", "r18"), "--variant", "dabnet_r18_p2"],
    "predict": ["predict", "dabnet_r18_p1", image, "--out", os.path.join(disk, "predictions"), "--no-progress",
                "--device", "cpu"],
}.items():
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(argv)
    files = sorted(os.path.relpath(os.path.join(folder, entry), disk)
                   for folder, folders, names in os.walk(disk) for entry in folders + names)
    report[name] = {"code": code, "stderr": stderr.getvalue(), "files": files}
print(json.dumps(report))
"""


def _private_tmpfs_available() -> bool:
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


def test_convert_and_predict_on_a_really_full_disk_say_one_line_and_leave_nothing(original_checkpoint, tmp_path):
    if not _private_tmpfs_available():
        pytest.skip("needs root on Linux to mount a small tmpfs in a private mount namespace")
    import numpy as np
    from PIL import Image

    checkpoint = original_checkpoint("dabnet_r18_p2")
    image = tmp_path / "street.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 256, 3), dtype=np.uint8)).save(image)
    disk = tmp_path / "disk"
    disk.mkdir()
    mount_then_run = 'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$@"'
    child = subprocess.run(
        ["unshare", "--mount", "sh", "-c", mount_then_run, str(disk), sys.executable, "-c", _FULL_DISK_SCRIPT,
         str(disk), str(checkpoint), str(image)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        timeout=600,
    )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.splitlines()[-1])
    for name, outcome in report.items():
        errors = [line for line in outcome["stderr"].splitlines() if line.startswith("error:")]
        assert outcome["code"] == 2 and len(errors) == 1 and "Traceback" not in outcome["stderr"], (name, outcome)
        assert re.fullmatch(rf"error: no space left on {re.escape(str(disk))} writing {re.escape(str(disk))}/\S+ "
                            r"\(needs about \d+ MB\); free some space or choose another output location\.",
                            errors[0]), (name, errors[0])
        assert outcome["files"] == ["filler"], (name, outcome["files"])  # not even an empty folder
