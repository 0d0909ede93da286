"""Tests of the local `evaluate` metric (dabnet_zoo/evaluate_metric/mean_iou): offline loading by path, the Hub's
published example, agreement with the original's definition, and that it ships in the package."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from dabnet_zoo.errors import InputError
from dabnet_zoo.evaluate_metric import MEAN_IOU_PATH

from .test_metrics import HUB_EXAMPLE_RESULT, assert_results_equal, hub_docstring_example, random_dataset
from .test_metrics import reference_mean_iou

evaluate = pytest.importorskip("evaluate")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def load_metric(tmp_path_factory):
    """Load the metric by path, offline, with evaluate's module and data caches inside a temporary folder."""
    modules = tmp_path_factory.mktemp("hf_modules")
    data = tmp_path_factory.mktemp("hf_metrics")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate.config, "HF_MODULES_CACHE", modules)
        patch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
        patch.setenv("HF_HUB_OFFLINE", "1")

        def load():
            return evaluate.load(MEAN_IOU_PATH, keep_in_memory=True, cache_dir=str(data))

        load()  # the first load copies the script into the modules cache; later ones reuse it
        yield load


@pytest.fixture
def metric(load_metric):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny maps: see tests/test_metrics.py::one_thread
    yield load_metric()
    torch.set_num_threads(threads)


def test_loads_offline_by_path(metric):
    assert isinstance(metric, evaluate.Metric)
    assert Path(MEAN_IOU_PATH, "mean_iou.py").is_file()


def test_hub_docstring_example(metric):
    predicted, actual = hub_docstring_example()
    results = metric.compute(
        predictions=predicted, references=actual, num_labels=10, ignore_index=255, reduce_labels=False
    )
    assert list(results) == list(HUB_EXAMPLE_RESULT)
    assert_results_equal(results, HUB_EXAMPLE_RESULT, rtol=1e-8)


def test_add_and_add_batch_accumulate(metric):
    predictions, labels = random_dataset(20, num_labels=5, sizes=[(9, 8), (13, 4), (6, 6)])
    metric.add(prediction=predictions[0], reference=labels[0])
    metric.add_batch(predictions=predictions[1:], references=labels[1:])
    results = metric.compute(num_labels=5)
    assert_results_equal(results, reference_mean_iou(predictions, labels, 5))


@pytest.mark.parametrize("reduce_labels", [False, True])
def test_agrees_with_the_original_definition(metric, reduce_labels):
    predictions, labels = random_dataset(
        21, num_labels=6, sizes=[(17, 19), (8, 30)], reduce_zero_label=reduce_labels, absent=(4,)
    )
    label_map = {2: 3, 3: 2}
    results = metric.compute(
        predictions=[torch.from_numpy(p) for p in predictions],  # tensors are accepted too
        references=labels,
        num_labels=6,
        ignore_index=255,
        reduce_labels=reduce_labels,
        label_map=label_map,
    )
    expected = reference_mean_iou(predictions, labels, 6, reduce_zero_label=reduce_labels, label_map=label_map)
    assert_results_equal(results, expected)
    assert np.isnan(results["per_category_iou"][4])


def test_nan_to_num(metric):
    results = metric.compute(
        predictions=[np.array([[0, 1]])], references=[np.array([[0, 255]])], num_labels=3, nan_to_num=0
    )
    np.testing.assert_array_equal(results["per_category_iou"], [1.0, 0.0, 0.0])


def test_errors_name_the_sample(metric):
    maps = [np.zeros((3, 3), int)] * 2
    with pytest.raises(InputError, match="Sample 1: the prediction is 3×3 but the label is 2×3"):
        metric.add_batch(predictions=maps, references=[maps[0], np.zeros((2, 3), int)])
    with pytest.raises(InputError, match=r"Sample 1: label values \[5\] are outside \[0, 3\)"):
        metric.compute(predictions=maps, references=[maps[0], np.full((3, 3), 5)], num_labels=3)


def test_empty_input_is_an_error(metric):
    with pytest.raises(InputError, match="no samples"):
        metric.compute(num_labels=3)
    with pytest.raises(InputError, match="no samples"):
        metric.compute(predictions=[], references=[], num_labels=3)


def test_script_is_shipped_as_package_data():
    """The packages setuptools finds with pyproject's settings include the metric's folder (so the wheel has it)."""
    setuptools = pytest.importorskip("setuptools")
    find = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(where=str(REPO_ROOT), include=find["include"])
    assert "dabnet_zoo.evaluate_metric.mean_iou" in packages


def test_script_imports_one_module_per_line():
    """evaluate parses the script's import lines to check dependencies; `import a, b` breaks that parser."""
    script = Path(MEAN_IOU_PATH, "mean_iou.py").read_text().splitlines()
    imports = [line for line in script if line.startswith(("import ", "from "))]
    assert imports and all("," not in line for line in imports)
