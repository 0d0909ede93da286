"""`dabnet-zoo convert` end to end, and its one-line errors."""

import errno
import re
from pathlib import Path

from transformers import modeling_utils

from dabnet_zoo import DabnetForSemanticSegmentation
from dabnet_zoo.cli.main import main
from tests.conftest import run_until_killed


def test_convert_writes_a_from_pretrained_folder(original_checkpoint, tmp_path, capsys):
    checkpoint = original_checkpoint("dabnet_effb1")
    out = tmp_path / "converted"
    assert main(["convert", str(checkpoint), str(out), "--variant", "dabnet_effb1", "--dataset", "cityscapes"]) == 0
    assert "from_pretrained" in capsys.readouterr().out
    assert DabnetForSemanticSegmentation.from_pretrained(out).config.context_path == "efficientnet_b1"


def test_mismatched_checkpoint_exits_2_with_one_line(original_checkpoint, tmp_path, capsys):
    checkpoint = original_checkpoint("dabnet_effb1")
    assert main(["convert", str(checkpoint), str(tmp_path / "out"), "--variant", "dabnet_r18_p2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The checkpoint is dabnet_effb1 with 19 classes") and err.count("\n") == 1


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_overwrite_refuses_a_folder_holding_the_checkpoint_in_one_line(original_checkpoint, tmp_path, capsys):
    (tmp_path / "ck").mkdir()
    checkpoint = original_checkpoint("dabnet_r18_p2", name="ck/p2.pth")
    (tmp_path / "ck" / "p4.pth").write_bytes(b"another original checkpoint")
    before = _files(tmp_path)
    code = main(["convert", str(checkpoint), str(tmp_path / "ck"), "--variant", "dabnet_r18_p2", "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: Refusing to write {tmp_path / 'ck'}: it holds the input {checkpoint}")
    assert _files(tmp_path) == before


def test_overwrite_refuses_the_checkpoint_itself_in_one_line(original_checkpoint, tmp_path, capsys):
    checkpoint = original_checkpoint("dabnet_r18_p2", name="self.pth")
    before = _files(tmp_path)
    code = main(["convert", str(checkpoint), str(checkpoint), "--variant", "dabnet_r18_p2", "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "it is the input itself" in err
    assert _files(tmp_path) == before and checkpoint.is_file()


def test_full_disk_is_one_line_and_leaves_nothing(original_checkpoint, tmp_path, capsys, monkeypatch):
    checkpoint = original_checkpoint("dabnet_effb1")

    def save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(bytes(4096))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(modeling_utils, "safe_save_file", save_file)
    code = main(["convert", str(checkpoint), str(tmp_path / "out"), "--variant", "dabnet_effb1"])
    stderr = capsys.readouterr().err
    err = stderr.splitlines()[-1]  # after transformers' "Writing model shards" progress bar
    assert code == 2 and "Traceback" not in stderr and stderr.count("error:") == 1
    assert re.fullmatch(rf"error: no space left on /\S* writing {re.escape(str(tmp_path / 'out'))} "
                        r"\(needs about \d+ MB\); free some space or choose another output location\.", err)
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.name]


def test_a_killed_convert_leaves_the_old_folder_and_the_next_run_removes_its_stage(original_checkpoint, tmp_path):
    checkpoint = original_checkpoint("dabnet_effb1")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    run_until_killed(
        f"""
        import time
        from dabnet_zoo import DabnetImageProcessor
        from dabnet_zoo.cli.main import main

        save = DabnetImageProcessor.save_pretrained

        def save_then_hang(self, *args, **kwargs):  # the weights are written: hang before the move into place
            result = save(self, *args, **kwargs)
            print("ready", flush=True)
            time.sleep(600)
            return result

        DabnetImageProcessor.save_pretrained = save_then_hang
        main(["convert", {str(checkpoint)!r}, "out", "--variant", "dabnet_effb1", "--overwrite"])
        """,
        tmp_path,
    )
    stages = [p for p in tmp_path.iterdir() if p.name.startswith(".out.stage-")]
    assert len(stages) == 1 and (stages[0] / "model.safetensors").is_file()  # what the kill left behind
    assert _files(out) == {out / "old.txt": b"old"}
    assert main(["convert", str(checkpoint), str(out), "--variant", "dabnet_effb1", "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint.name, "out"]
    assert (out / "model.safetensors").is_file() and not (out / "old.txt").exists()


def test_variant_may_carry_its_dataset_and_names_are_checked_first(tmp_path, capsys):
    missing = tmp_path / "never-read.pth"  # names are checked before the checkpoint is opened
    for variant, dataset, expected in (
        ("dabnet_effb1.camvid", "cityscapes", "error: Model name 'dabnet_effb1.camvid' names dataset 'camvid' but "
                                              "dataset='cityscapes' was passed; drop one."),
        ("dabnet_r18_p3", None, "error: Unknown model 'dabnet_r18_p3'. Known models: dabnet_r18_p1, dabnet_r18_p2"),
        ("dabnet_effb1", "kitti", "error: Unknown dataset 'kitti'. Known datasets: cityscapes, camvid"),
    ):
        argv = ["convert", str(missing), str(tmp_path / "out"), "--variant", variant]
        assert main(argv + (["--dataset", dataset] if dataset else [])) == 2
        err = capsys.readouterr().err
        assert err.startswith(expected) and err.count("\n") == 1, err


def test_variant_with_its_dataset_converts(original_checkpoint, tmp_path, capsys):
    checkpoint = original_checkpoint("dabnet_effb1")
    assert main(["convert", str(checkpoint), str(tmp_path / "out"), "--variant", "dabnet_effb1.cityscapes"]) == 0
    assert "(dabnet_effb1.cityscapes)" in capsys.readouterr().out
