"""End-to-end evaluation parity with the original: what its ``tools/test.py`` reported on a small Cityscapes-layout
val set, reproduced through the commands a user runs.

The fixture (``tests/fixtures/eval_e2e``, see its README) holds the original's results for DABNet-R-P2 with
weight-rule weights on six generated images, four at 1024x2048 and two at 512x1024 (which the test protocol
upscales x2 with OpenCV's bilinear resize). The test generates the dataset and the original-format checkpoint,
then runs ``dabnet-zoo convert``, ``dabnet-zoo prepare cityscapes`` (from the polygons) and
``recipes/evaluate.py`` (metrics, then ``--format-only``), and compares with the original: the converted labels,
the network inputs, the per-class IoU and accuracy, aAcc, mIoU and mAcc, and the test-server PNGs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import id2label
from PIL import Image

from dabnet_zoo import create_processor
from dabnet_zoo.cli.main import main as dabnet_zoo_cli
from dabnet_zoo.image_processing_dabnet import read_image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
E2E = FIXTURES / "eval_e2e"
SCRIPT = Path(__file__).resolve().parents[2] / "recipes" / "evaluate.py"
REFERENCE = json.loads((E2E / "results.json").read_text())
ORIGINAL = REFERENCE["variants"]["dabnet_r18_p2"]
CLASSES = list(ORIGINAL["per_class_printed"])
# Pixels whose top-2 logits differ by less than this in the original may take the other class here: the
# re-implementation's float32 logits equal the original's to about 1e-6 relative (different summation orders).
NEAR_TIE = "n_below_1e-5"
EXPORTED = ("frankfurt_000000_000101_leftImg8bit.png", "lindau_000000_000104_leftImg8bit.png")  # 1024x2048, 512x1024


def sha256_of_array(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def load_recipe():
    spec = importlib.util.spec_from_file_location("evaluate_recipe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The user's commands on the generated data; returns the folders and what evaluate_model returned."""
    work = tmp_path_factory.mktemp("eval_e2e")
    root, checkpoint, model = work / "cityscapes", work / "dabnet_r18_p2_rule.pth", work / "converted"
    subprocess.run([sys.executable, str(E2E / "make_dataset.py"), str(root), "--check", str(E2E / "results.json")],
                   check=True, capture_output=True)
    parity = FIXTURES / "parity"
    subprocess.run([sys.executable, str(E2E / "make_checkpoint.py"), str(parity / "r18_p2_cityscapes.keys.json"),
                    str(checkpoint), "--weights-rule", str(parity / "weights_rule.py")], check=True, capture_output=True)
    assert dabnet_zoo_cli(["convert", str(checkpoint), str(model), "--variant", "dabnet_r18_p2"]) == 0
    assert dabnet_zoo_cli(["prepare", "cityscapes", str(root)]) == 0

    recipe = load_recipe()
    returned = []

    def evaluate_model(*args, **kwargs):  # the recipe's own call, recorded at full precision
        returned.append(real_evaluate_model(*args, **kwargs))
        return returned[-1]

    real_evaluate_model, recipe.evaluate_model = recipe.evaluate_model, evaluate_model
    common = [str(model), "--dataset", "cityscapes", "--num-workers", "0", "--cpu", "--no-progress"]
    assert recipe.main([*common, "--data-root", str(root), "--split", "val", "--no-results"]) == 0
    # The export runs on one image of each size (as a test split), which covers its code paths in less time.
    for name in EXPORTED:
        city = name.split("_")[0]
        (work / "export" / "leftImg8bit" / "test" / city).mkdir(parents=True, exist_ok=True)
        (work / "export" / "leftImg8bit" / "test" / city / name).hardlink_to(root / "leftImg8bit" / "val" / city / name)
    assert recipe.main([*common, "--data-root", str(work / "export"), "--format-only",
                        "--out", str(work / "submission")]) == 0
    return {"root": root, "results": returned[0], "submission": work / "submission"}


def test_prepare_converts_the_polygons_as_the_original(run):
    pngs = {name: facts for name, facts in REFERENCE["conversion"]["outputs"].items() if name.endswith(".png")}
    assert len(pngs) == REFERENCE["dataset"]["n_images"]
    for name, facts in pngs.items():
        labels = np.asarray(Image.open(run["root"] / name))
        assert labels.shape == tuple(facts["decoded_shape"])
        assert sha256_of_array(labels) == facts["decoded_sha256"], name


def test_network_inputs_are_the_originals_bit_for_bit(run):
    # OpenCV bilinear on the uint8 image (x2 for the 512x1024 images), then (x - mean) / std in float32
    processor = create_processor("cityscapes")
    for facts in ORIGINAL["replay"]["per_image"]:
        image = read_image(run["root"] / "leftImg8bit" / "val" / facts["filename"])
        assert list(image.shape) == facts["ori_shape"]
        pixel_values = processor(image)["pixel_values"]
        assert list(pixel_values.shape) == facts["network_input_shape"]
        assert sha256_of_array(pixel_values) == facts["input_sha256"], facts["filename"]


def test_metrics_equal_the_originals(run):
    # The original's totals (float32 pixel counts) give its exact percentages; ours may differ only through the
    # pixels where its two best logits nearly tie (each such pixel moves one count between two classes).
    results = run["results"]
    areas = ORIGINAL["total_areas_float32"]
    allowed = ORIGINAL["replay"]["summary"]["logit_top2_margin_all_images"][NEAR_TIE]
    assert results["num_images"] == REFERENCE["dataset"]["n_images"]
    ious, accuracies, iou_bounds, accuracy_bounds = [], [], [], []
    for index, name in enumerate(CLASSES):
        label, intersect, union = areas["label"][index], areas["intersect"][index], areas["union"][index]
        iou, accuracy = results["per_category_iou"][name], results["per_category_accuracy"][name]
        if union == 0:  # absent from predictions and ground truth: NaN, skipped by the means
            assert math.isnan(iou) and math.isnan(ORIGINAL["returned_metric_dict"][f"IoU.{name}"])
            assert math.isnan(accuracy)
            continue
        ious.append(100 * intersect / union)
        iou_bounds.append(1e-4 + 100 * 2 * allowed / union)
        assert abs(iou * 100 - ious[-1]) <= iou_bounds[-1], name
        if label:
            accuracies.append(100 * intersect / label)
            accuracy_bounds.append(1e-4 + 100 * allowed / label)
            assert abs(accuracy * 100 - accuracies[-1]) <= accuracy_bounds[-1], name
        # and the rounded percentages the original printed
        assert f"{iou * 100:.2f}" == f"{ORIGINAL['per_class_printed'][name]['IoU']:.2f}", name
    assert abs(results["mean_iou"] * 100 - np.mean(ious)) <= np.mean(iou_bounds)
    assert abs(results["mean_accuracy"] * 100 - np.mean(accuracies)) <= np.mean(accuracy_bounds)
    overall = 100 * sum(areas["intersect"]) / sum(areas["label"])
    assert abs(results["overall_accuracy"] * 100 - overall) <= 1e-4 + 100 * allowed / sum(areas["label"])
    for key, printed in (("mean_iou", "mIoU"), ("mean_accuracy", "mAcc"), ("overall_accuracy", "aAcc")):
        assert f"{results[key] * 100:.2f}" == f"{ORIGINAL['summary_printed'][printed]:.2f}", key


def test_cityscapes_export_writes_the_originals_pngs(run):
    # Label-id PNGs named after the images, coloured with the Cityscapes id palette, holding the original's label
    # ids: the same array, or one that differs only where the original's top-2 logits nearly tie.
    near_ties = {facts["filename"].split("/")[-1]: facts["logit_top2_margin"][NEAR_TIE]
                 for facts in ORIGINAL["replay"]["per_image"]}
    assert sorted(path.name for path in run["submission"].glob("*.png")) == sorted(EXPORTED)
    for name in EXPORTED:
        facts = ORIGINAL["format_only"]["files"][name]
        png = Image.open(run["submission"] / name)
        assert png.mode == facts["mode"] and [png.height, png.width] == facts["shape"]
        label_ids = np.asarray(png)
        palette = np.asarray(png.getpalette()[: 3 * 256], np.uint8).reshape(-1, 3)
        for label_id in np.unique(label_ids):
            assert tuple(palette[label_id]) == tuple(id2label[int(label_id)].color)
        if sha256_of_array(label_ids) == facts["decoded_index_sha256"]:
            continue
        ids, counts = np.unique(label_ids, return_counts=True)
        ours = dict(zip(ids.tolist(), counts.tolist()))
        changed = sum(abs(ours.get(int(i), 0) - n) for i, n in facts["label_id_pixels"].items())
        assert set(ours) <= {int(i) for i in facts["label_id_pixels"]} and changed <= 2 * near_ties[name], name
