"""`dabnet-zoo make-synthetic` then `dabnet-zoo prepare cityscapes` through the dispatcher."""

from pathlib import Path

import numpy as np
from PIL import Image

from dabnet_zoo.cli.main import main


def test_make_synthetic_then_prepare_cityscapes(tmp_path, capsys):
    root = tmp_path / "synthetic"
    assert main(["make-synthetic", str(root), "--num-train", "2", "--num-val", "1", "--size", "64x128"]) == 0
    for label in root.glob("gtFine/*/*/*_gtFine_labelTrainIds.png"):
        label.unlink()  # prepare must rebuild them from the polygons
    assert main(["prepare", "cityscapes", str(root)]) == 0
    labels = sorted(Path(root).glob("gtFine/*/*/*_gtFine_labelTrainIds.png"))
    assert len(labels) == 3
    values = np.unique(np.asarray(Image.open(labels[0])))
    assert set(values.tolist()) <= set(range(19)) | {255}


def test_prepare_missing_layout_is_one_line(tmp_path, capsys):
    assert main(["prepare", "camvid", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1


def test_every_dataset_the_command_offers_has_a_preparer():
    from dabnet_zoo.data import PREPARERS
    from dabnet_zoo.presets import DATASETS

    assert set(PREPARERS) == set(DATASETS)
