"""`dabnet-zoo convert` end to end, and its one-line errors."""

from dabnet_zoo import DabnetForSemanticSegmentation
from dabnet_zoo.cli.main import main


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
