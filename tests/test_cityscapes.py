"""Tests of dabnet_zoo.cityscapes: label-id tables, agreement with the official pixel-level evaluation, and the
test-server export (PNG naming and content, atomic no-clobber writes, the completeness check, the zip)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from PIL import Image

from dabnet_zoo import cityscapes
from dabnet_zoo.cityscapes import (
    OutputExistsError,
    check_submission,
    find_test_images,
    label_ids_to_train_ids,
    submission_file_name,
    train_ids_to_label_ids,
    write_submission_png,
    zip_submission,
)
from dabnet_zoo.errors import InputError
from dabnet_zoo.metrics import mean_iou
from dabnet_zoo.presets import DATASETS

pytest.importorskip("cityscapesscripts")

# docs/architecture.md §8.2: the labelId of each trainId (road 7 … bicycle 33).
ORIGINAL_LABEL_IDS = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
# Cityscapes labelIds whose class is ignored in evaluation (trainId 255).
IGNORED_LABEL_IDS = [0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30]


def test_train_id_to_label_id_table_matches_the_original():
    train_ids = np.arange(19, dtype=np.uint8).reshape(1, 19)
    assert train_ids_to_label_ids(train_ids).tolist() == [ORIGINAL_LABEL_IDS]
    assert train_ids_to_label_ids(np.array([[255]])).tolist() == [[0]]  # "unlabeled", as the original writes it


def test_label_ids_to_train_ids():
    assert label_ids_to_train_ids(np.array([ORIGINAL_LABEL_IDS])).tolist() == [list(range(19))]
    assert label_ids_to_train_ids(np.array([IGNORED_LABEL_IDS])).tolist() == [[255] * len(IGNORED_LABEL_IDS)]


@pytest.mark.parametrize(
    "convert, values, message",
    [
        (train_ids_to_label_ids, [[19, 0]], r"Unknown Cityscapes trainIds \[19\]"),
        (label_ids_to_train_ids, [[34, 7]], r"Unknown Cityscapes labelIds \[34\]"),
        (train_ids_to_label_ids, [[-1, 0]], "0..255"),
        (train_ids_to_label_ids, [[0.0, 1.0]], "argmax"),
    ],
)
def test_conversion_errors(convert, values, message):
    with pytest.raises(InputError, match=message):
        convert(np.array(values))


# --------------------------------------------------------------------------------------------------------------
# Agreement with cityscapesscripts' evalPixelLevelSemanticLabeling
# --------------------------------------------------------------------------------------------------------------

CITIES = {"aachen": 2, "zurich": 1}  # city → number of frames
HEIGHT, WIDTH = 48, 96


def _blobby_label_ids(rng: np.random.Generator, absent_label_ids: set[int]) -> np.ndarray:
    """A labelId image of rectangles (so IoUs are not all alike), using every valid id except ``absent``."""
    ids = [i for i in range(34) if i not in absent_label_ids]
    image = rng.choice(ids, size=(HEIGHT, WIDTH)).astype(np.uint8)
    for _ in range(12):
        top, left = rng.integers(0, HEIGHT - 8), rng.integers(0, WIDTH - 8)
        image[top : top + rng.integers(4, 24), left : left + rng.integers(4, 48)] = rng.choice(ids)
    return image


def _build_cityscapes_tree(root, seed=0):
    """gtFine/val/<city>/<city>_000000_<frame>_gtFine_labelIds.png and matching trainId predictions.

    Class 'train' (labelId 31) is absent from both, to compare the NaN handling too.
    """
    rng = np.random.default_rng(seed)
    ground_truths, predictions, image_names = [], [], []
    for city, frames in CITIES.items():
        folder = root / "gtFine" / "val" / city
        folder.mkdir(parents=True)
        for frame in range(frames):
            stem = f"{city}_000000_{frame:06d}"
            label_ids = _blobby_label_ids(rng, absent_label_ids={31})
            Image.fromarray(label_ids).save(folder / f"{stem}_gtFine_labelIds.png")
            train_ids = label_ids_to_train_ids(label_ids)
            noise = rng.choice([t for t in range(19) if t != 16], size=train_ids.shape)
            keep = (rng.random(train_ids.shape) < 0.6) & (train_ids != 255)
            ground_truths.append(train_ids)
            predictions.append(np.where(keep, train_ids, noise).astype(np.int64))
            image_names.append(f"leftImg8bit/val/{city}/{stem}_leftImg8bit.png")
    return ground_truths, predictions, image_names


def test_miou_agrees_with_cityscapesscripts(tmp_path, monkeypatch, capsys):
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official

    root, results_dir = tmp_path / "cityscapes", tmp_path / "results"
    ground_truths, predictions, image_names = _build_cityscapes_tree(root)
    for prediction, image_name in zip(predictions, image_names):
        write_submission_png(prediction, image_name, results_dir)  # what the official tool will read back

    monkeypatch.setenv("CITYSCAPES_DATASET", str(root))
    monkeypatch.setenv("CITYSCAPES_RESULTS", str(results_dir))
    args = official.args
    for name, value in {
        "cityscapesPath": str(root),
        "predictionPath": None,
        "predictionWalk": None,
        "evalInstLevelScore": False,  # instance-level iIoU needs instanceIds images; not part of mIoU
        "evalPixelAccuracy": False,
        "JSONOutput": False,
        "quiet": True,
        "colorized": False,
    }.items():
        monkeypatch.setattr(args, name, value)
    gt_files = sorted(str(path) for path in (root / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))
    prediction_files = [official.getPrediction(args, gt) for gt in gt_files]
    theirs = official.evaluateImgLists(prediction_files, gt_files, args)
    assert capsys.readouterr().out == ""  # ran quietly

    # Ours: trainId predictions against the labelId ground truth converted to trainIds. Same file order.
    order = sorted(range(len(image_names)), key=lambda i: image_names[i].split("/")[-1])
    ours = mean_iou([predictions[i] for i in order], [ground_truths[i] for i in order], num_labels=19)

    assert abs(ours["mean_iou"] - theirs["averageScoreClasses"]) <= 1e-6
    for train_id, name in enumerate(DATASETS["cityscapes"].class_names):
        theirs_iou, ours_iou = theirs["classScores"][name], ours["per_category_iou"][train_id]
        if np.isnan(theirs_iou):
            assert np.isnan(ours_iou), name
        else:
            assert abs(ours_iou - theirs_iou) <= 1e-6, name
    assert np.isnan(theirs["classScores"]["train"])  # the NaN case really was compared


# --------------------------------------------------------------------------------------------------------------
# Test-server export
# --------------------------------------------------------------------------------------------------------------


def test_submission_png_name_mode_and_content(tmp_path):
    train_ids = np.array([[0, 1, 2], [13, 18, 255]])
    path = write_submission_png(train_ids, "leftImg8bit/test/berlin/berlin_000000_000019_leftImg8bit.png", tmp_path)
    assert path == tmp_path / "berlin_000000_000019_leftImg8bit.png"
    assert submission_file_name("x/bonn_000004_000019_leftImg8bit.jpg") == "bonn_000004_000019_leftImg8bit.png"
    with Image.open(path) as image:
        assert image.mode == "P"
        np.testing.assert_array_equal(np.asarray(image), [[7, 8, 11], [26, 33, 0]])
        assert tuple(image.getpalette()[7 * 3 : 7 * 3 + 3]) == (128, 64, 128)  # road's official colour
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left behind


def test_submission_png_accepts_tensors(tmp_path):
    torch = pytest.importorskip("torch")
    path = write_submission_png(torch.tensor([[0, 18]]), "a_leftImg8bit.png", tmp_path)
    with Image.open(path) as image:
        assert np.asarray(image).tolist() == [[7, 33]]


def test_existing_files_are_not_overwritten_silently(tmp_path):
    path = write_submission_png(np.zeros((2, 2), int), "a_leftImg8bit.png", tmp_path)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        write_submission_png(np.ones((2, 2), int), "a_leftImg8bit.png", tmp_path)
    assert path.read_bytes() == before
    write_submission_png(np.ones((2, 2), int), "a_leftImg8bit.png", tmp_path, overwrite=True)
    with Image.open(path) as image:
        assert np.asarray(image).tolist() == [[8, 8], [8, 8]]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_submission_png(np.zeros((2, 2), int), "a_leftImg8bit.png", tmp_path)
    assert list(tmp_path.iterdir()) == []


def _test_images(root, names):
    paths = []
    for city, stem in names:
        path = root / "leftImg8bit" / "test" / city / f"{stem}_leftImg8bit.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 2)).save(path)
        paths.append(path)
    return paths


def test_find_test_images(tmp_path):
    made = _test_images(tmp_path, [("bonn", "bonn_000001_000019"), ("berlin", "berlin_000000_000019")])
    assert find_test_images(tmp_path) == sorted(made, key=lambda p: p.name)
    with pytest.raises(InputError, match="No Cityscapes images"):
        find_test_images(tmp_path, split="val")


def test_check_submission_lists_missing_and_extra(tmp_path):
    images = _test_images(tmp_path / "cs", [("bonn", f"bonn_000000_{i:06d}") for i in range(3)])
    out = tmp_path / "out"
    for image in images[:2]:
        write_submission_png(np.zeros((2, 4), int), image, out)
    Image.new("L", (4, 2)).save(out / "stray.png")
    with pytest.raises(InputError) as error:
        check_submission(out, images)
    assert "1 missing: bonn_000000_000002_leftImg8bit.png" in str(error.value)
    assert "1 unexpected: stray.png" in str(error.value)
    (out / "stray.png").unlink()
    write_submission_png(np.zeros((2, 4), int), images[2], out)
    assert check_submission(out, images) == [out / submission_file_name(image) for image in images]


def test_zip_submission(tmp_path):
    images = _test_images(tmp_path / "cs", [("bonn", "bonn_000000_000019"), ("berlin", "berlin_000001_000019")])
    out = tmp_path / "out"
    for value, image in enumerate(images):
        write_submission_png(np.full((2, 4), value), image, out)
    archive = zip_submission(out, tmp_path / "submission.zip", image_paths=images)
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.testzip() is None
        assert sorted(zipped.namelist()) == sorted(submission_file_name(image) for image in images)  # flat
        with zipped.open("berlin_000001_000019_leftImg8bit.png") as member, Image.open(member) as png:
            assert np.asarray(png).tolist() == [[8] * 4] * 2
    with pytest.raises(OutputExistsError):
        zip_submission(out, archive, image_paths=images)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cs", "out", "submission.zip"]


def test_incomplete_submission_is_not_zipped(tmp_path):
    images = _test_images(tmp_path / "cs", [("bonn", "bonn_000000_000019"), ("bonn", "bonn_000000_000020")])
    write_submission_png(np.zeros((2, 4), int), images[0], tmp_path / "out")
    with pytest.raises(InputError, match="1 missing"):
        zip_submission(tmp_path / "out", tmp_path / "submission.zip", image_paths=images)
    assert not (tmp_path / "submission.zip").exists()


def test_cityscapes_module_exports():
    assert set(cityscapes.__all__) >= {"write_submission_png", "zip_submission", "check_submission"}
