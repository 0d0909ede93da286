"""Tests of dabnet_zoo.evaluation: the test protocol against independent computations, the sliding-window and
multi-scale + flip modes, bad input, the Cityscapes export and an exact two-process evaluation."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import time
import zipfile
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset, Subset

from dabnet_zoo import create_config, create_model, create_processor
from dabnet_zoo.cityscapes import label_ids_to_train_ids
from dabnet_zoo.data import TestTransform, create_dataset, make_synthetic_cityscapes, normalize
from dabnet_zoo.errors import InputError, OutputExistsError
from dabnet_zoo.evaluation import (
    evaluate_model,
    evaluation_record,
    export_cityscapes_submission,
    format_results_table,
    sliding_windows,
)
from dabnet_zoo.image_processing_dabnet import read_image
from dabnet_zoo.predict import predict
from dabnet_zoo.presets import IMAGENET_MEAN, IMAGENET_STD
from dabnet_zoo.results import validate_evaluation

NUM_LABELS = 19
INPUT_SIZE = (32, 64)  # the "test size": half the label size, so both bilinear resizes of the protocol happen
NUM_VAL = 5  # odd: two processes need a padded last batch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread avoids waiting on descheduled pool threads on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class ColourModel(torch.nn.Module):
    """A stand-in for DABNet with its interface (``config``, ``model(pixel_values).logits`` at 1/8): the nearest
    class colour of each 8×8 cell. Its predictions are partly right, so the metrics are not all zero."""

    def __init__(self, prototypes: torch.Tensor, num_labels: int = NUM_LABELS):
        super().__init__()
        self.config = create_config("dabnet_r18_p1", num_labels=num_labels) if num_labels != NUM_LABELS \
            else create_config("dabnet_r18_p1")
        self.register_buffer("prototypes", prototypes[:num_labels].clone())

    def forward(self, pixel_values):
        cells = F.avg_pool2d(pixel_values, 8, ceil_mode=True)
        logits = 2 * torch.einsum("kc,bchw->bkhw", self.prototypes, cells)
        return SimpleNamespace(logits=logits - (self.prototypes ** 2).sum(1)[None, :, None, None])


def class_colours(dataset) -> torch.Tensor:
    """Mean normalised colour of each class over the dataset; absent classes far away (never predicted)."""
    sums, counts = torch.zeros(NUM_LABELS, 3), torch.zeros(NUM_LABELS)
    for i in range(len(dataset)):
        sample = dataset[i]
        pixels, label = normalize(sample["image"]).flatten(1), sample["label"].flatten()
        keep = label != 255
        sums.index_add_(0, label[keep], pixels[:, keep].t())
        counts.index_add_(0, label[keep], torch.ones(int(keep.sum())))
    prototypes = torch.full((NUM_LABELS, 3), 50.0)
    present = counts > 0
    prototypes[present] = sums[present] / counts[present, None]
    return prototypes


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A synthetic Cityscapes tree (val only), a Cityscapes-style test tree and the colour prototypes."""
    folder = tmp_path_factory.mktemp("evaluation")
    make_synthetic_cityscapes(folder / "data", num_train=0, num_val=NUM_VAL, size=(64, 128))
    raw = create_dataset("cityscapes", folder / "data", "val")
    torch.save(class_colours(raw), folder / "prototypes.pt")
    for i, (image, _) in enumerate(raw.files[:3]):  # the test split has no labels
        name = f"bielefeld_{i:06d}_000019_leftImg8bit.png"
        target = folder / "test_root" / "leftImg8bit" / "test" / "bielefeld" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(image, target)
    return folder


@pytest.fixture(scope="module")
def model(workdir):
    return ColourModel(torch.load(workdir / "prototypes.pt"))


@pytest.fixture(scope="module")
def val(workdir):
    return create_dataset("cityscapes", workdir / "data", "val", transform=TestTransform(size=INPUT_SIZE))


class ListDataset(Dataset):
    """In-memory samples; ``failing`` indices raise the reader's InputError."""

    num_labels = NUM_LABELS
    ignore_index = 255

    def __init__(self, samples, failing=()):
        self.samples, self.failing = samples, set(failing)

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        if index in self.failing:
            raise InputError("label values [40] are outside 0..18")
        return self.samples[index]


# --------------------------------------------------------------------------------------------------------------
# Independent computations
# --------------------------------------------------------------------------------------------------------------


def scores(confusion: np.ndarray) -> dict:
    """mIoU, mAcc, aAcc and per-class values from a confusion matrix, by the original's definition
    (docs/architecture.md §8.1)."""
    intersection = np.diag(confusion).astype(np.float64)
    label_area, prediction_area = confusion.sum(1), confusion.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = intersection / (label_area + prediction_area - intersection)
        accuracy = intersection / label_area
    return {"mean_iou": np.nanmean(iou), "mean_accuracy": np.nanmean(accuracy),
            "overall_accuracy": intersection.sum() / label_area.sum(), "iou": iou, "accuracy": accuracy}


def reference(samples, predict) -> dict:
    """Scores of ``predict(pixel_values (1,3,h,w), label size) -> (H, W) classes`` over (pixel_values, label) pairs."""
    confusion = np.zeros((NUM_LABELS, NUM_LABELS), dtype=np.int64)
    for pixel_values, label in samples:
        prediction = predict(pixel_values[None].float(), tuple(label.shape)).numpy().ravel()
        label = label.numpy().ravel()
        keep = label != 255
        confusion += np.bincount(label[keep] * NUM_LABELS + prediction[keep],
                                 minlength=NUM_LABELS ** 2).reshape(NUM_LABELS, NUM_LABELS)
    return scores(confusion)


def bilinear(x, size):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def whole_prediction(model):
    def predict(x, size):
        logits = bilinear(bilinear(model(x).logits, x.shape[-2:]), size)
        return logits.argmax(1)[0]
    return predict


def pairs(dataset):
    return [(dataset[i]["image"], dataset[i]["label"]) for i in range(len(dataset))]


def assert_matches(results, expected):
    assert results["mean_iou"] == pytest.approx(expected["mean_iou"], abs=1e-12)
    assert results["mean_accuracy"] == pytest.approx(expected["mean_accuracy"], abs=1e-12)
    assert results["overall_accuracy"] == pytest.approx(expected["overall_accuracy"], abs=1e-12)
    np.testing.assert_allclose(list(results["per_category_iou"].values()), expected["iou"], atol=1e-12)
    np.testing.assert_allclose(list(results["per_category_accuracy"].values()), expected["accuracy"], atol=1e-12)


def same_results(a, b) -> bool:
    def normal(value):
        if isinstance(value, dict):
            return {k: normal(v) for k, v in value.items()}
        return "nan" if isinstance(value, float) and math.isnan(value) else value
    return normal(a) == normal(b)


# --------------------------------------------------------------------------------------------------------------
# The protocol
# --------------------------------------------------------------------------------------------------------------


def test_whole_agrees_with_an_independent_computation(val, model):
    model.train()
    results = evaluate_model(model, val, progress=False)
    assert model.training  # the caller's mode is restored (the training recipe relies on it)
    expected = reference(pairs(val), whole_prediction(model))
    assert_matches(results, expected)
    assert results["num_images"] == NUM_VAL
    assert list(results["per_category_iou"]) == list(model.config.id2label.values())
    assert 0 < results["mean_iou"] < 1  # neither trivial nor perfect: the comparison means something
    nan_classes = [name for name, value in results["per_category_iou"].items() if math.isnan(value)]
    assert nan_classes and len(nan_classes) < NUM_LABELS  # classes in neither map are NaN and skipped


def test_uint8_images_of_different_sizes_in_one_batch(workdir, model):
    """Raw uint8 samples (normalised with the model's mean/std) of two sizes in one batch: the same result."""
    raw = create_dataset("cityscapes", workdir / "data", "val")
    samples = []
    for i in range(4):
        sample = raw[i]
        if i % 2:  # every other sample cropped to another size
            sample = {"image": sample["image"][:, :40, :72], "label": sample["label"][:40, :72]}
        samples.append(sample)
    data = ListDataset(samples)
    batched = evaluate_model(model, data, batch_size=3, progress=False)
    single = evaluate_model(model, data, batch_size=1, progress=False)
    expected = reference([(normalize(s["image"]), s["label"]) for s in samples], whole_prediction(model))
    assert_matches(batched, expected)
    assert same_results(batched, single)
    assert batched["num_images"] == 4


def test_real_dabnet_model(val):
    """The real model through the same protocol (random weights, so only the agreement matters)."""
    torch.manual_seed(0)
    dabnet = create_model("dabnet_r18_p1").eval()
    data = Subset(val, [0, 1])
    results = evaluate_model(dabnet, data, progress=False)
    with torch.no_grad():
        expected = reference(pairs(data), whole_prediction(dabnet))
    assert_matches(results, expected)


@pytest.mark.parametrize("size", [(48, 96), (96, 192)])  # the 64x128 images shrunk and enlarged
def test_evaluation_predict_and_the_processor_agree_pixel_for_pixel(workdir, tmp_path, size):
    """One test protocol: an image file through the evaluation (reader, TestTransform, runner; the Cityscapes
    export writes its predictions), through predict() and through processor + model + post-processing gives the
    same label map; the network input is the original's: OpenCV bilinear on the uint8 image, then
    (x - mean) / std in float32."""
    torch.manual_seed(0)
    dabnet = create_model("dabnet_r18_p1").eval()
    processor = create_processor("cityscapes", size={"height": size[0], "width": size[1]})
    root = workdir / "test_root"
    export_cityscapes_submission(dabnet, root, tmp_path / "png", None,
                                 transform=TestTransform.from_processor(processor), progress=False)
    images = sorted((root / "leftImg8bit" / "test").glob("*/*.png"))
    predict(dabnet, images, tmp_path / "predict", processor=processor, batch_size=1, save_color=False,
            save_overlay=False, progress=False)
    mean, std = np.float32(IMAGENET_MEAN), np.float32(IMAGENET_STD)
    for path in images:
        rgb = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]
        resized = cv2.resize(np.ascontiguousarray(rgb), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        network_input = torch.from_numpy(((resized.astype(np.float32) - mean) / std).transpose(2, 0, 1).copy())
        image = read_image(path)
        np.testing.assert_array_equal(processor(image)["pixel_values"][0], network_input.numpy())
        assert torch.equal(TestTransform.from_processor(processor)(torch.from_numpy(image).permute(2, 0, 1))[0],
                           network_input)
        with torch.no_grad():
            expected = whole_prediction(dabnet)(network_input[None], rgb.shape[:2]).numpy()
            inputs = processor(image, return_tensors="pt")
            from_processor = processor.post_process_semantic_segmentation(
                dabnet(**inputs), target_sizes=inputs["original_sizes"])[0].numpy()
        np.testing.assert_array_equal(from_processor, expected)
        exported = label_ids_to_train_ids(np.asarray(Image.open(tmp_path / "png" / f"{path.stem}.png")))
        np.testing.assert_array_equal(exported, expected)
        predicted = np.asarray(Image.open(tmp_path / "predict" / "labels" / f"{path.stem}.png"))
        np.testing.assert_array_equal(predicted, expected)


def test_slide_with_a_crop_the_size_of_the_input_is_whole(val, model):
    whole = evaluate_model(model, val, progress=False)
    slide = evaluate_model(model, val, mode="slide", crop_size=INPUT_SIZE, stride=(16, 16), progress=False)
    assert same_results(slide, whole)


def test_slide_averages_the_logits_of_overlapping_windows(val, model):
    """32×64 input, 32×32 windows every 16 columns: windows at x = 0, 16, 32, counted 1, 2, 2, 1 times."""
    assert sliding_windows(32, 64, (32, 32), (16, 16)) == [(0, 32, 0, 32), (0, 32, 16, 48), (0, 32, 32, 64)]

    def predict(x, size):
        total = torch.zeros(1, NUM_LABELS, 32, 64)
        for x1 in (0, 16, 32):
            total[..., x1 : x1 + 32] += bilinear(model(x[..., x1 : x1 + 32]).logits, (32, 32))
        count = torch.tensor([1.0, 2.0, 2.0, 1.0]).repeat_interleave(16)
        return bilinear(total / count, size).argmax(1)[0]

    data = Subset(val, [0, 1])
    results = evaluate_model(model, data, mode="slide", crop_size=32, stride=16, progress=False)
    assert_matches(results, reference(pairs(data), predict))


def test_ms_flip_with_one_scale_and_no_flip_is_whole(val, model):
    whole = evaluate_model(model, val, progress=False)
    single = evaluate_model(model, val, mode="ms+flip", scales=(1.0,), flip=False, progress=False)
    assert same_results(single, whole)


def test_ms_flip_averages_softmax_over_scales_and_flips(val, model):
    def predict(x, size):
        total = 0
        for scale in (0.5, 1.0):
            scaled = bilinear(x, (int(32 * scale + 0.5), int(64 * scale + 0.5)))
            for flipped in (False, True):
                inputs = scaled.flip(-1) if flipped else scaled
                probabilities = torch.softmax(whole_prediction_logits(model, inputs, size), dim=1)
                total = total + (probabilities.flip(-1) if flipped else probabilities)
        return (total / 4).argmax(1)[0]

    data = Subset(val, [0, 1])
    results = evaluate_model(model, data, mode="ms+flip", scales=(0.5, 1.0), progress=False)
    assert_matches(results, reference(pairs(data), predict))


def whole_prediction_logits(model, x, size):
    return bilinear(bilinear(model(x).logits, x.shape[-2:]), size)


# --------------------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------------------


def test_class_count_mismatch_names_both(val, workdir):
    five = ColourModel(torch.load(workdir / "prototypes.pt"), num_labels=5)
    with pytest.raises(InputError, match=r"5 classes.*CityscapesDataset.*19"):
        evaluate_model(five, val, progress=False)


def test_empty_dataset(val, model):
    with pytest.raises(InputError, match="empty"):
        evaluate_model(model, Subset(val, []), progress=False)


def test_out_of_range_label_names_the_sample(val, model):
    samples = [{"image": val[i]["image"], "label": val[i]["label"].clone()} for i in range(3)]
    samples[2]["label"][0, 0] = 40
    with pytest.raises(InputError, match=r"sample 2\b.*\[40\]"):
        evaluate_model(model, ListDataset(samples), progress=False)


def test_reader_error_names_the_sample_and_its_file(val, model):
    """A reader error (here: a label file with a value out of range) names the sample and its file."""
    reader = ListDataset([val[0], val[1]], failing={1})
    reader.files = val.files[:2]
    with pytest.raises(InputError, match=r"sample 1 \(.*_leftImg8bit\.png\).*\[40\]"):
        evaluate_model(model, reader, progress=False)


def test_bad_labels_and_images(val, model):
    image = val[0]["image"]
    with pytest.raises(InputError, match=r"sample 0.*\(H, W\)"):
        evaluate_model(model, ListDataset([{"image": image, "label": torch.zeros(2, 64, 128)}]), progress=False)
    with pytest.raises(InputError, match=r"sample 0.*\(3, H, W\)"):
        evaluate_model(model, ListDataset([{"image": image[0], "label": val[0]["label"]}]), progress=False)
    with pytest.raises(InputError, match="labelled samples"):
        evaluate_model(model, ListDataset([{"image": image}]), progress=False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(mode="sliding"), "Unknown evaluation mode"),
        (dict(mode="slide"), "needs crop_size"),
        (dict(mode="slide", crop_size=16, stride=32), "larger than crop_size"),
        (dict(mode="ms+flip", scales=()), "scales"),
        (dict(batch_size=0), "batch_size"),
    ],
)
def test_bad_settings(val, model, settings, message):
    with pytest.raises(InputError, match=message):
        evaluate_model(model, val, progress=False, **settings)


# --------------------------------------------------------------------------------------------------------------
# Results record and table
# --------------------------------------------------------------------------------------------------------------


def test_record_follows_the_results_schema_and_table_lists_classes(val, model):
    results = evaluate_model(model, Subset(val, [0]), progress=False)
    record = evaluation_record(results, model="dabnet_r18_p1", dataset="cityscapes", split="val", mode="whole",
                               test_size=INPUT_SIZE, keep_ratio=True, weights="converted/p1",
                               weights_sha256="0" * 64, command="python recipes/evaluate.py x")
    validated = validate_evaluation(record)
    assert validated.num_images == 1
    nan_classes = {name for name, value in results["per_category_iou"].items() if math.isnan(value)}
    assert {name for name, value in validated.per_category_iou.items() if value is None} == nan_classes
    table = format_results_table(results)
    assert all(name in table for name in results["per_category_iou"])
    assert f"mIoU {100 * results['mean_iou']:.2f}" in table


# --------------------------------------------------------------------------------------------------------------
# Cityscapes export
# --------------------------------------------------------------------------------------------------------------


def test_export_writes_label_ids_of_the_predictions(workdir, model, tmp_path):
    transform = TestTransform(size=INPUT_SIZE)
    root = workdir / "test_root"
    submission = export_cityscapes_submission(model, root, tmp_path / "png", tmp_path / "submission.zip",
                                              transform=transform, progress=False)
    images = sorted((root / "leftImg8bit" / "test").glob("*/*.png"))
    assert submission.num_images == len(images) == 3
    with zipfile.ZipFile(submission.zip_path) as archive:
        assert sorted(archive.namelist()) == sorted(f"{p.stem}.png" for p in images)
    for path in images:
        image = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1).copy())
        pixel_values, _ = transform(image)
        with torch.no_grad():
            expected = whole_prediction(model)(pixel_values[None], tuple(image.shape[1:]))
        written = Image.open(tmp_path / "png" / f"{path.stem}.png")
        assert written.mode == "P"
        np.testing.assert_array_equal(label_ids_to_train_ids(np.asarray(written)), expected.numpy())


def test_export_into_a_used_folder_is_refused_before_writing(workdir, model, tmp_path):
    """PNGs of an earlier (here: interrupted) export in the folder: refused before any inference, so the folder
    and the zip stay as they were; overwrite=True redoes it."""
    root, png, archive = workdir / "test_root", tmp_path / "png", tmp_path / "submission.zip"
    options = dict(transform=TestTransform(size=INPUT_SIZE), progress=False)
    export_cityscapes_submission(model, root, png, None, **options)
    missing = sorted(png.iterdir())[0]
    missing.unlink()
    with pytest.raises(OutputExistsError, match=r"holds 2 of the submission PNGs.*overwrite=True"):
        export_cityscapes_submission(model, root, png, archive, **options)
    assert not missing.exists() and not archive.exists()
    export_cityscapes_submission(model, root, png, archive, overwrite=True, **options)
    assert missing.exists() and archive.exists()


def test_export_refuses_a_model_that_is_not_cityscapes(workdir, tmp_path):
    five = ColourModel(torch.load(workdir / "prototypes.pt"), num_labels=5)
    with pytest.raises(InputError, match="19"):
        export_cityscapes_submission(five, workdir / "test_root", tmp_path / "png", None, progress=False)


# --------------------------------------------------------------------------------------------------------------
# Two processes
# --------------------------------------------------------------------------------------------------------------

WORLD_SIZE = 2


def _distributed_worker(rank: int, port: int, folder: str) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE), LOCAL_WORLD_SIZE=str(WORLD_SIZE),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), ACCELERATE_USE_CPU="1", GLOO_SOCKET_IFNAME="lo",
    )
    torch.set_num_threads(1)
    from pathlib import Path

    from accelerate import Accelerator

    folder = Path(folder)
    accelerator = Accelerator(cpu=True)
    model = ColourModel(torch.load(folder / "prototypes.pt"))
    val = create_dataset("cityscapes", folder / "data", "val", transform=TestTransform(size=INPUT_SIZE))
    results = evaluate_model(model, val, accelerator=accelerator, progress=False)
    submission = export_cityscapes_submission(
        model, folder / "test_root", folder / "png", folder / "submission.zip", accelerator=accelerator,
        transform=TestTransform(size=INPUT_SIZE), progress=False,
    )
    failing = ListDataset([val[i] for i in range(4)], failing={3})  # index 3 is read by the second process
    try:
        evaluate_model(model, failing, accelerator=accelerator, progress=False)
        error = None
    except InputError as caught:
        error = str(caught)
    report = {"num_processes": accelerator.num_processes, "results": results, "zip": str(submission.zip_path),
              "error": error}
    (folder / f"rank{rank}.json").write_text(json.dumps(report))
    accelerator.end_training()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_give_exactly_the_one_process_result(workdir, val, model, tmp_path):
    """Two gloo processes over 5 images (the last batch padded with a repeated image): the same numbers, an
    export that writes every image once, and a bad sample on one process stopping both (no hang)."""
    import torch.multiprocessing as mp

    for name in ("data", "test_root", "prototypes.pt"):
        (tmp_path / name).symlink_to(workdir / name)
    context = mp.start_processes(_distributed_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE,
                                 start_method="fork", join=False)
    deadline = time.monotonic() + 120
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the two-process evaluation did not finish within 120 s")

    single = evaluate_model(model, val, progress=False)
    for rank in range(WORLD_SIZE):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert report["num_processes"] == WORLD_SIZE
        assert report["results"]["num_images"] == NUM_VAL
        assert same_results(report["results"], single)
        assert report["error"] is not None
    assert "sample 3" in json.loads((tmp_path / "rank1.json").read_text())["error"]
    assert "Another process" in json.loads((tmp_path / "rank0.json").read_text())["error"]
    images = sorted((workdir / "test_root" / "leftImg8bit" / "test").glob("*/*.png"))
    with zipfile.ZipFile(tmp_path / "submission.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f"{p.stem}.png" for p in images)
