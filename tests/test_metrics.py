"""Tests of dabnet_zoo.metrics: the original's mIoU definition, the Hub's published example, label rules, NaN
handling, bad input and distributed de-duplication."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest
import torch
from PIL import Image

from dabnet_zoo.errors import InputError
from dabnet_zoo.metrics import (
    RESULT_KEYS,
    ConfusionMatrixMeter,
    format_table,
    joint_histogram,
    mean_iou,
    scores_from_confusion_matrix,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Run these small-tensor tests on one intra-op thread: on a busy two-core machine, torch's thread pool makes
    each tiny op wait for a descheduled worker (milliseconds instead of microseconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------------------------
# An independent reference: the original's per-image histograms (mmseg 0.x pre_eval path, docs/architecture.md
# §8.1), literally.
# --------------------------------------------------------------------------------------------------------------


def reference_mean_iou(predictions, labels, num_labels, ignore_index=255, reduce_zero_label=False, label_map=None):
    """mIoU as the original computes it: per image, remap, mask, torch.histc of intersection/prediction/label."""
    c = num_labels
    total_intersect = torch.zeros(c, dtype=torch.float64)
    total_pred = torch.zeros(c, dtype=torch.float64)
    total_label = torch.zeros(c, dtype=torch.float64)
    for pred, label in zip(predictions, labels):
        pred = torch.from_numpy(np.array(pred, dtype=np.int64))
        label = torch.from_numpy(np.array(label, dtype=np.int64))
        if label_map:
            original = label.clone()
            for old, new in label_map.items():
                label[original == old] = new
        if reduce_zero_label:
            label[label == 0] = 255
            label = label - 1
            label[label == 254] = 255
        mask = label != ignore_index
        pred, label = pred[mask], label[mask]
        intersect = pred[pred == label]
        total_intersect += torch.histc(intersect.float(), bins=c, min=0, max=c - 1).double()
        total_pred += torch.histc(pred.float(), bins=c, min=0, max=c - 1).double()
        total_label += torch.histc(label.float(), bins=c, min=0, max=c - 1).double()
    union = total_pred + total_label - total_intersect
    iou = (total_intersect / union).numpy()
    accuracy = (total_intersect / total_label).numpy()
    return {
        "mean_iou": float(np.nanmean(iou)),
        "mean_accuracy": float(np.nanmean(accuracy)),
        "overall_accuracy": float(total_intersect.sum() / total_label.sum()),
        "per_category_iou": iou,
        "per_category_accuracy": accuracy,
    }


def assert_results_equal(actual, expected, rtol=1e-12):
    assert set(actual) == set(RESULT_KEYS)
    for key in RESULT_KEYS:
        np.testing.assert_allclose(actual[key], expected[key], rtol=rtol, atol=0, equal_nan=True, err_msg=key)


def random_dataset(seed, num_labels, sizes, reduce_zero_label=False, absent=(), predicted_only=()):
    """Label/prediction maps that agree on about half the pixels, with ignored pixels and chosen absent classes.

    ``absent`` classes occur nowhere; ``predicted_only`` classes occur only in predictions (at labelled pixels).
    """
    rng = np.random.default_rng(seed)
    present = [k for k in range(num_labels) if k not in absent]
    in_labels = [k for k in present if k not in predicted_only]
    predictions, labels = [], []
    for height, width in sizes:
        label = rng.choice(in_labels, size=(height, width))
        noise = rng.choice(present, size=(height, width))
        pred = np.where(rng.random((height, width)) < 0.5, label, noise)
        ignored = rng.random((height, width)) < 0.1
        if reduce_zero_label:
            label = label + 1  # class k is stored as k + 1; 0 is "unlabelled"
            label[ignored] = 0
        else:
            label[ignored] = 255
        pred[ignored & (rng.random((height, width)) < 0.5)] = 255  # predictions at ignored pixels do not matter
        predictions.append(pred)
        labels.append(label.astype(np.uint8))
    return predictions, labels


# --------------------------------------------------------------------------------------------------------------
# Published numbers and the original's definition (docs/architecture.md §8.1)
# --------------------------------------------------------------------------------------------------------------


def hub_docstring_example():
    """The three maps of the example in the docstring of the Hub's ``evaluate-metric/mean_iou``."""
    predicted = [
        np.array([[1, 2], [3, 4], [5, 255]]),
        np.array([[2, 7], [9, 2], [3, 6]]),
        np.array([[2, 2, 3], [8, 2, 4], [3, 255, 2]]),
    ]
    actual = [
        np.array([[0, 3], [5, 4], [6, 255]]),
        np.array([[1, 7], [9, 2], [3, 6]]),
        np.array([[1, 2, 2], [8, 2, 1], [3, 255, 1]]),
    ]
    return predicted, actual


# The output printed in that docstring.
HUB_EXAMPLE_RESULT = {
    "mean_iou": 0.47750000000000004,
    "mean_accuracy": 0.5916666666666666,
    "overall_accuracy": 0.5263157894736842,
    "per_category_iou": np.array([0.0, 0.0, 0.375, 0.4, 0.5, 0.0, 0.5, 1.0, 1.0, 1.0]),
    "per_category_accuracy": np.array(
        [0.0, 0.0, 0.75, 0.66666667, 1.0, 0.0, 0.5, 1.0, 1.0, 1.0]
    ),
}


def test_hub_docstring_example():
    predicted, actual = hub_docstring_example()
    results = mean_iou(predicted, actual, num_labels=10, ignore_index=255, reduce_labels=False)
    assert list(results) == list(RESULT_KEYS)
    assert_results_equal(results, HUB_EXAMPLE_RESULT, rtol=1e-8)  # the docstring prints 8 significant digits
    assert results["mean_iou"] == pytest.approx(0.4775, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_the_original_definition(seed):
    predictions, labels = random_dataset(
        seed, num_labels=7, sizes=[(31, 47), (16, 16), (40, 23)], absent=(6,), predicted_only=(5,)
    )
    results = mean_iou(predictions, labels, num_labels=7)
    expected = reference_mean_iou(predictions, labels, num_labels=7)
    assert_results_equal(results, expected)
    # The data really exercises both NaN rules: class 6 is nowhere, class 5 is predicted but never labelled.
    assert np.isnan(results["per_category_iou"][6]) and np.isnan(results["per_category_accuracy"][6])
    assert results["per_category_iou"][5] == 0.0 and np.isnan(results["per_category_accuracy"][5])


def test_reduce_zero_label_agrees_with_the_original_definition():
    predictions, labels = random_dataset(3, num_labels=6, sizes=[(20, 30), (25, 11)], reduce_zero_label=True)
    results = mean_iou(predictions, labels, num_labels=6, reduce_labels=True)
    assert_results_equal(results, reference_mean_iou(predictions, labels, 6, reduce_zero_label=True))


def test_reduce_zero_label_semantics():
    # 0 → ignored, v → v − 1, 255 stays ignored; predictions at ignored pixels are not looked at (even 9 or 255).
    labels = np.array([[0, 1, 2, 255]], dtype=np.uint8)
    predictions = np.array([[9, 0, 1, 255]])
    meter = ConfusionMatrixMeter(2, reduce_zero_label=True)
    meter.update(predictions, labels)
    assert meter.confusion_matrix.tolist() == [[1, 0], [0, 1]]
    assert meter.compute()["mean_iou"] == 1.0


def test_label_map_uses_original_values_then_reduce_zero_label():
    labels = np.array([[1, 2, 3, 0]], dtype=np.uint8)
    predictions = np.array([[1, 0, 2, 7]])
    label_map = {1: 2, 2: 1}  # a swap: each lookup must use the original value
    meter = ConfusionMatrixMeter(3, label_map=label_map, reduce_zero_label=True)
    meter.update(predictions, labels)
    # 1→2→class 1, 2→1→class 0, 3→class 2, 0→ignored.
    assert meter.confusion_matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert_results_equal(
        meter.compute(),
        reference_mean_iou([predictions], [labels], 3, reduce_zero_label=True, label_map=label_map),
    )


def test_nan_handling_by_hand():
    # 4 classes: 0 correct, 1 half right, 2 predicted but never labelled, 3 nowhere.
    predictions = np.array([[0, 1, 2, 2]])
    labels = np.array([[0, 1, 1, 255]])
    results = mean_iou([predictions], [labels], num_labels=4)
    np.testing.assert_array_equal(results["per_category_iou"], [1.0, 0.5, 0.0, np.nan])
    np.testing.assert_array_equal(results["per_category_accuracy"], [1.0, 0.5, np.nan, np.nan])
    assert results["mean_iou"] == pytest.approx(0.5)  # (1 + 0.5 + 0) / 3: class 3 is skipped, not counted as 0
    assert results["mean_accuracy"] == pytest.approx(0.75)
    assert results["overall_accuracy"] == pytest.approx(2 / 3)
    filled = mean_iou([predictions], [labels], num_labels=4, nan_to_num=-1)
    np.testing.assert_array_equal(filled["per_category_iou"], [1.0, 0.5, 0.0, -1])


def test_everything_ignored_gives_nan_not_an_error():
    results = mean_iou([np.zeros((2, 2), int)], [np.full((2, 2), 255, np.uint8)], num_labels=3)
    assert np.isnan(results["mean_iou"]) and np.isnan(results["overall_accuracy"])
    assert np.isnan(results["per_category_iou"]).all()


@pytest.mark.parametrize(
    "ignore_index, ignored_value", [(-1, -1), (10**9, 10**9)], ids=["negative", "huge-sorted-fallback"]
)
def test_unusual_ignore_index(ignore_index, ignored_value):
    predictions, labels = random_dataset(4, num_labels=5, sizes=[(12, 9), (7, 13)])
    labels = [np.where(label == 255, ignored_value, label.astype(np.int64)) for label in labels]
    predictions = [np.where(pred == 255, 0, pred) for pred in predictions]
    results = mean_iou(predictions, labels, num_labels=5, ignore_index=ignore_index)
    assert_results_equal(results, reference_mean_iou(predictions, labels, 5, ignore_index=ignore_index))


# --------------------------------------------------------------------------------------------------------------
# Input layouts
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label_dtype", [np.uint8, np.int32, np.int64, np.uint16])
@pytest.mark.parametrize("pred_dtype", [np.uint8, np.int64])
def test_batch_list_and_single_updates_agree(label_dtype, pred_dtype):
    predictions, labels = random_dataset(5, num_labels=4, sizes=[(10, 12)] * 4)
    predictions = [p.astype(pred_dtype) for p in predictions]
    labels = [label.astype(label_dtype) for label in labels]
    expected = reference_mean_iou(predictions, labels, 4)

    batched = ConfusionMatrixMeter(4)
    batched.update(torch.from_numpy(np.stack(predictions)), torch.from_numpy(np.stack(labels).astype(np.int64)))
    one_by_one = ConfusionMatrixMeter(4)
    for pred, label in zip(predictions, labels):
        one_by_one.update(pred, label)
    as_list = ConfusionMatrixMeter(4)
    as_list.update(predictions, labels)

    for meter in (batched, one_by_one, as_list):
        assert meter.num_samples == 4
        assert_results_equal(meter.compute(), expected)
    assert torch.equal(batched.confusion_matrix, as_list.confusion_matrix)


def test_pil_images_and_nested_lists():
    predictions, labels = random_dataset(6, num_labels=3, sizes=[(8, 5)])
    expected = reference_mean_iou(predictions, labels, 3)
    pil = mean_iou([Image.fromarray(predictions[0].astype(np.uint8))], [Image.fromarray(labels[0])], num_labels=3)
    nested = mean_iou([predictions[0].tolist()], [labels[0].tolist()], num_labels=3)
    assert_results_equal(pil, expected)
    assert_results_equal(nested, expected)


def test_inputs_are_not_modified():
    predictions, labels = random_dataset(7, num_labels=3, sizes=[(6, 6)] * 2)
    pred = torch.from_numpy(np.stack(predictions)).to(torch.int32)
    label = torch.from_numpy(np.stack(labels)).to(torch.int32)
    pred_copy, label_copy = pred.clone(), label.clone()
    meter = ConfusionMatrixMeter(3, reduce_zero_label=True, label_map={1: 2})
    meter.update(pred, label)
    meter.confusion_matrices(pred, label)
    assert torch.equal(pred, pred_copy) and torch.equal(label, label_copy)


def test_joint_histogram_round_trip():
    predictions, labels = random_dataset(8, num_labels=5, sizes=[(9, 14), (11, 3)])
    meter = ConfusionMatrixMeter(5)
    for pred, label in zip(predictions, labels):
        rows = joint_histogram(pred, label)
        assert rows.shape[1] == 3 and rows[:, 2].sum() == pred.size
        meter.update_from_joint_histogram(rows)
    assert_results_equal(meter.compute(), reference_mean_iou(predictions, labels, 5))


def test_reset_and_scores_from_confusion_matrix():
    meter = ConfusionMatrixMeter(2)
    meter.update(np.array([[0, 1]]), np.array([[0, 0]]))
    matrix = meter.confusion_matrix.clone()
    assert_results_equal(scores_from_confusion_matrix(matrix), meter.compute())
    meter.reset()
    assert meter.num_samples == 0
    with pytest.raises(InputError, match="No samples"):
        meter.compute()


def test_format_table_reports_percentages_with_two_decimals():
    results = mean_iou([np.array([[0, 1, 2, 2]])], [np.array([[0, 1, 1, 255]])], num_labels=4)
    table = format_table(results, ["a", "b", "c", "d"])
    assert "b     |   50.00 |   50.00" in table
    assert "d     |     nan |     nan" in table
    assert "mIoU 50.00  mAcc 75.00  aAcc 66.67" in table


# --------------------------------------------------------------------------------------------------------------
# Bad input: clear errors naming the sample
# --------------------------------------------------------------------------------------------------------------


def test_size_mismatch_names_the_sample():
    maps = [np.zeros((4, 4), int)] * 3
    with pytest.raises(InputError, match=r"Sample 2: the prediction is 4×4 but the label is 4×5"):
        mean_iou(maps, maps[:2] + [np.zeros((4, 5), int)], num_labels=2)


def test_label_out_of_range_names_the_sample_in_a_batch():
    labels = torch.zeros(3, 4, 4, dtype=torch.uint8)
    labels[1, 0, 0] = 7
    meter = ConfusionMatrixMeter(5)
    meter.update(torch.zeros(4, 4, 4, dtype=torch.long)[:4], torch.zeros(4, 4, 4, dtype=torch.uint8))
    with pytest.raises(InputError, match=r"Sample 5: label values \[7\] are outside \[0, 5\)"):
        meter.update(torch.zeros(3, 4, 4, dtype=torch.long), labels)  # counted from reset: 4 earlier samples
    # A failed update adds nothing.
    assert meter.num_samples == 4 and int(meter.confusion_matrix.sum()) == 4 * 16
    with pytest.raises(InputError, match=r"Sample 1: label values \[7\]"):
        meter.confusion_matrices(torch.zeros(3, 4, 4, dtype=torch.long), labels)  # positions within the call


def test_label_error_mentions_reduce_zero_label():
    with pytest.raises(InputError, match=r"label values \[9\] \(after reduce_zero_label: \[8\]\)"):
        mean_iou([np.zeros((1, 2), int)], [np.array([[9, 1]])], num_labels=3, reduce_labels=True)


def test_prediction_out_of_range_at_labelled_pixels_only():
    labels = np.array([[0, 255]])
    mean_iou([np.array([[0, 40]])], [labels], num_labels=3)  # 40 sits on an ignored pixel: fine
    with pytest.raises(InputError, match=r"Sample 1: predicted values \[40\] at labelled pixels .* number of classes"):
        mean_iou([np.array([[0, 0]]), np.array([[40, 0]])], [labels, labels], num_labels=3)


@pytest.mark.parametrize(
    "predictions, references, message",
    [
        ([], [], "no samples"),
        ([np.zeros((2, 2))], [np.zeros((2, 2), int)], "argmax"),
        ([np.zeros((2, 2), int)] * 2, [np.zeros((2, 2), int)], "2 predictions but 1 labels"),
        (np.zeros((2, 2, 3), int), np.zeros((2, 2), int), "shape"),
    ],
    ids=["empty", "float-logits", "count-mismatch", "ndim-mismatch"],
)
def test_bad_input(predictions, references, message):
    with pytest.raises(InputError, match=message):
        mean_iou(predictions, references, num_labels=3)


def test_bad_confusion_matrices():
    meter = ConfusionMatrixMeter(3)
    with pytest.raises(InputError, match=r"\(B, 3, 3\)"):
        meter.update_from_confusion_matrices(torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(InputError, match="integer"):
        meter.update_from_confusion_matrices(torch.zeros(3, 3))
    with pytest.raises(InputError, match="num_labels"):
        ConfusionMatrixMeter(0)


# --------------------------------------------------------------------------------------------------------------
# Distributed evaluation: per-sample matrices through gather_for_metrics
# --------------------------------------------------------------------------------------------------------------


def test_per_sample_matrices_sum_to_the_running_matrix():
    predictions, labels = random_dataset(9, num_labels=4, sizes=[(6, 7)] * 5)
    meter = ConfusionMatrixMeter(4)
    matrices = meter.confusion_matrices(torch.from_numpy(np.stack(predictions)), torch.from_numpy(np.stack(labels)))
    assert matrices.shape == (5, 4, 4) and matrices.dtype == torch.int64
    for index, (pred, label) in enumerate(zip(predictions, labels)):
        single = ConfusionMatrixMeter(4)
        single.update(pred, label)
        assert torch.equal(matrices[index], single.confusion_matrix)
    assert torch.equal(ConfusionMatrixMeter(4).confusion_matrices(predictions, labels), matrices)  # list input
    meter.update_from_confusion_matrices(matrices)
    assert meter.num_samples == 5
    assert_results_equal(meter.compute(), reference_mean_iou(predictions, labels, 4))


NUM_SAMPLES, BATCH_SIZE, WORLD_SIZE = 9, 2, 2  # 9 samples in batches of 2 over 2 processes: the tail is padded


def _distributed_worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE), LOCAL_WORLD_SIZE=str(WORLD_SIZE),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), ACCELERATE_USE_CPU="1", GLOO_SOCKET_IFNAME="lo",
    )
    torch.set_num_threads(1)
    import torch.distributed as dist
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    predictions, labels = random_dataset(10, num_labels=4, sizes=[(5, 6)] * NUM_SAMPLES)
    dataset = [(torch.from_numpy(p), torch.from_numpy(label)) for p, label in zip(predictions, labels)]
    loader = accelerator.prepare(torch.utils.data.DataLoader(dataset, batch_size=BATCH_SIZE))
    gathered = ConfusionMatrixMeter(4)
    local = ConfusionMatrixMeter(4)  # the wrong way: sum each process's matrix, then all-reduce
    for pred, label in loader:
        matrices = gathered.confusion_matrices(pred, label)
        gathered.update_from_confusion_matrices(accelerator.gather_for_metrics(matrices))
        local.update(pred, label)
    reduced = local.confusion_matrix.clone()
    dist.all_reduce(reduced)
    samples = torch.tensor([local.num_samples])
    dist.all_reduce(samples)
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(
            {
                "world_size": accelerator.num_processes,
                "gathered": gathered.confusion_matrix.tolist(),
                "gathered_samples": gathered.num_samples,
                "all_reduced": reduced.tolist(),
                "all_reduced_samples": int(samples),
            },
            f,
        )
    if dist.is_initialized():
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gather_for_metrics_counts_every_sample_once(tmp_path):
    """Two real gloo processes: per-sample matrices through gather_for_metrics give the single-process result,
    while all-reducing each process's running matrix counts the padded tail twice."""
    pytest.importorskip("accelerate")
    import torch.multiprocessing as mp

    mp.start_processes(
        _distributed_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE, start_method="fork", join=True
    )
    predictions, labels = random_dataset(10, num_labels=4, sizes=[(5, 6)] * NUM_SAMPLES)
    single = ConfusionMatrixMeter(4)
    single.update(predictions, labels)
    for rank in range(WORLD_SIZE):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert report["world_size"] == WORLD_SIZE
        assert report["gathered_samples"] == NUM_SAMPLES
        assert report["gathered"] == single.confusion_matrix.tolist()
        assert report["all_reduced_samples"] > NUM_SAMPLES  # the trap this design avoids is real here
        assert report["all_reduced"] != single.confusion_matrix.tolist()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    predictions, labels = random_dataset(11, num_labels=19, sizes=[(64, 128)] * 3)
    pred = torch.from_numpy(np.stack(predictions))
    label = torch.from_numpy(np.stack(labels))
    cpu, cuda = ConfusionMatrixMeter(19), ConfusionMatrixMeter(19)
    cpu.update(pred, label)
    cuda.update(pred.cuda(), label)  # labels follow the predictions' device
    assert cuda.confusion_matrix.device.type == "cuda"
    assert torch.equal(cuda.confusion_matrix.cpu(), cpu.confusion_matrix)
    assert torch.equal(cuda.confusion_matrices(pred.cuda(), label.cuda()).sum(0).cpu(), cpu.confusion_matrix)
