"""End-to-end runs of ``recipes/evaluate.py`` in a subprocess, on a tiny synthetic Cityscapes tree with a saved
model folder: the printed table, the results JSON, and the ``--format-only`` test-server zip."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dabnet_zoo import InputError, create_model, create_processor, get_dataset_preset
from dabnet_zoo.data import make_synthetic_cityscapes
from dabnet_zoo.registry import resolve_model
from dabnet_zoo.results import read_result

SCRIPT = Path(__file__).resolve().parents[2] / "recipes" / "evaluate.py"
NUM_VAL = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A synthetic Cityscapes root (val split), a test-image tree without labels, and a saved model folder."""
    folder = tmp_path_factory.mktemp("recipe")
    data = make_synthetic_cityscapes(folder / "data", num_train=0, num_val=NUM_VAL, size=(64, 128))
    images = sorted((data / "leftImg8bit" / "val").glob("*/*_leftImg8bit.png"))
    for i, image in enumerate(images):
        target = folder / "test" / "leftImg8bit" / "test" / "berlin" / f"berlin_{i:06d}_000019_leftImg8bit.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(image, target)
    create_model("dabnet_r18_p1").save_pretrained(folder / "model")
    return folder


def run_recipe(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def test_evaluate_prints_the_table_and_writes_the_results_json(setup, tmp_path):
    results_dir = tmp_path / "results"
    result = run_recipe(str(setup / "model"), "--dataset", "cityscapes", "--data-root", str(setup / "data"),
                        "--split", "val", "--test-size", "32", "64", "--results-dir", str(results_dir),
                        "--num-workers", "0", "--cpu", cwd=tmp_path)

    # Synthetic data at a test size of its own: never filed under the name of a Cityscapes result.
    path = results_dir / "dabnet_r18_p1.cityscapes" / "synthetic_val_whole_32x64.json"
    record = read_result(path)  # validates the dabnet-zoo/eval/v2 schema
    assert (record.model, record.dataset, record.split, record.mode) == ("dabnet_r18_p1", "cityscapes", "val",
                                                                         "whole")
    assert (record.evaluated_on, record.test_size, record.keep_ratio) == ("synthetic", (32, 64), True)
    assert record.num_images == NUM_VAL
    weights = hashlib.sha256((setup / "model" / "model.safetensors").read_bytes()).hexdigest()
    assert record.weights_sha256 == weights and record.weights == (setup / "model").as_posix()
    assert "recipes/evaluate.py" in record.command and "--test-size 32 64" in record.command
    classes = get_dataset_preset("cityscapes").class_names
    assert list(record.per_category_iou) == list(classes)

    # The printed table shows the numbers the file holds.
    rows = {cells[0].strip(): cells[1].strip() for cells in (line.split("|") for line in result.stdout.splitlines())
            if len(cells) == 3}
    for name, iou in record.per_category_iou.items():
        assert rows[name] == ("nan" if iou is None else f"{100 * iou:.2f}")
    assert f"mIoU {100 * record.mean_iou:.2f}" in result.stdout
    assert "synthetic data in the cityscapes layout, val split" in result.stdout  # never called Cityscapes
    assert (result.stdout + result.stderr).count(f"Wrote {path}") == 1  # said once


def test_format_only_writes_a_zip_that_matches_the_test_images(setup, tmp_path):
    out = tmp_path / "submission"
    run_recipe(str(setup / "model"), "--dataset", "cityscapes", "--data-root", str(setup / "test"), "--format-only",
               "--out", str(out), "--test-size", "32", "64", "--num-workers", "0", "--cpu", cwd=tmp_path)

    from cityscapesscripts.helpers.labels import labels

    evaluated_ids = {label.id for label in labels if 0 <= label.trainId < 19}
    images = sorted((setup / "test" / "leftImg8bit" / "test").glob("*/*_leftImg8bit.png"))
    with zipfile.ZipFile(tmp_path / "submission.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f"{image.stem}.png" for image in images)
        for image in images:
            with archive.open(f"{image.stem}.png") as stream:
                png = Image.open(stream)
                png.load()
            assert png.mode == "P"
            assert png.size == Image.open(image).size
            assert set(np.unique(np.asarray(png)).tolist()) <= evaluated_ids


def test_the_model_folders_processor_defines_the_test_protocol(setup, tmp_path):
    # A demo-like model: trained at 128x256 and saved with that processor. Evaluation follows it (not Cityscapes'
    # 1024x2048), as predict does, unless --test-size says otherwise.
    folder = tmp_path / "demo"
    shutil.copytree(setup / "model", folder)
    create_processor("cityscapes", size={"height": 128, "width": 256}).save_pretrained(folder)
    results_dir = tmp_path / "results"
    result = run_recipe(str(folder), "--dataset", "cityscapes", "--data-root", str(setup / "data"), "--split", "val",
                        "--results-dir", str(results_dir), "--num-workers", "0", "--cpu", cwd=tmp_path)
    record = read_result(results_dir / "dabnet_r18_p1.cityscapes" / "synthetic_val_whole_128x256.json")
    assert (record.test_size, record.keep_ratio) == ((128, 256), True)
    assert "preprocessor_config.json" in result.stderr

    recipe = load_recipe()
    model = create_model("dabnet_r18_p1")
    for argv, expected in (([str(folder)], (128, 256)), ([str(folder), "--test-size", "32", "64"], (32, 64)),
                           ([str(setup / "model")], (1024, 2048)), (["dabnet_r18_p1"], (1024, 2048))):
        args = recipe.parse_args([*argv, "--data-root", str(setup / "data")])
        transform = recipe.test_transform(args, resolve_model(args.model), model, "cityscapes", main_process=False)
        assert transform.size == expected, argv
    # without a saved processor the preset runs with the model's own normalisation, as predict does
    model.config.image_mean, model.config.image_std = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    args = recipe.parse_args([str(setup / "model"), "--data-root", str(setup / "data")])
    transform = recipe.test_transform(args, resolve_model(args.model), model, "cityscapes", main_process=False)
    processor = transform.processor
    assert (processor.image_mean, processor.image_std) == ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    # a processor without a fixed test size is refused before evaluating (the record needs one), saying what to do
    create_processor("cityscapes", size={"shortest_edge": 128}).save_pretrained(folder)
    args = recipe.parse_args([str(folder), "--data-root", str(setup / "data")])
    with pytest.raises(InputError, match="--test-size"):
        recipe.test_transform(args, resolve_model(args.model), model, "cityscapes", main_process=False)


def load_recipe():
    spec = importlib.util.spec_from_file_location("evaluate_recipe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
