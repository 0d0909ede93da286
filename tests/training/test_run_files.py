"""The files of a run besides checkpoints: ``train_log.jsonl`` after kills, ``training.json`` as the finish marker,
and the batch plans that batch norm cannot train with."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from dabnet_zoo import create_model
from dabnet_zoo.errors import RecipeError, ResultsError
from dabnet_zoo.training import (
    BatchPlan,
    TrainLog,
    check_batch_norm_batch,
    finished_run,
    write_training_results,
)
from tests.conftest import training_record


def write_log(path, lines: list[str]) -> TrainLog:
    path.write_text("".join(lines))
    return TrainLog(path)


def test_a_log_line_cut_by_a_kill_is_dropped_with_a_warning(tmp_path, caplog):
    lines = [json.dumps({"iteration": i, "loss": 1.0 / i}) + "\n" for i in (1, 2, 3)]
    log = write_log(tmp_path / "train_log.jsonl", [*lines, '{"iteration": 4, "lo'])
    with caplog.at_level(logging.WARNING):
        assert [r["iteration"] for r in log.read()] == [1, 2, 3]
    assert "Dropping its last line" in caplog.text
    log.truncate(2)  # resumed at iteration 2: 3 runs again, the cut line goes
    assert log.path.read_text() == "".join(json.dumps({"iteration": i, "loss": 1.0 / i}) + "\n" for i in (1, 2))
    log.append({"iteration": 3, "loss": 0.5})
    assert [r["iteration"] for r in log.read()] == [1, 2, 3]


def test_a_damaged_line_inside_the_log_is_named(tmp_path, caplog):
    log = write_log(tmp_path / "train_log.jsonl", ['{"iteration": 1}\n', "\x00\x00garbage\n", '{"iteration": 3}\n'])
    with caplog.at_level(logging.WARNING):
        assert [r["iteration"] for r in log.read()] == [1, 3]
    assert "line 2" in caplog.text


def test_a_fresh_start_empties_a_log_left_by_an_attempt_without_checkpoint(tmp_path):
    log = write_log(tmp_path / "train_log.jsonl", ['{"iteration": 1}\n', '{"iteration": 2}\n'])
    log.truncate(0)
    assert log.path.read_text() == ""
    TrainLog(tmp_path / "absent.jsonl").truncate(3)  # nothing to cut: nothing written
    assert not (tmp_path / "absent.jsonl").exists()


def test_a_training_record_without_its_final_evaluation_is_never_written(tmp_path):
    path = tmp_path / "training.json"
    with pytest.raises(ResultsError, match="without its final evaluation"):
        write_training_results(path, training_record(final_eval=None))
    assert not path.exists()
    write_training_results(path, training_record())
    assert json.loads(path.read_text())["final_eval"]["mean_iou"] == 0.8123


def test_finished_run_needs_the_record_and_the_final_folder(tmp_path, caplog):
    assert finished_run(tmp_path) is None
    write_training_results(tmp_path / "training.json", training_record())
    assert finished_run(tmp_path) is None  # no final/: the finish was interrupted
    (tmp_path / "final").mkdir()
    assert finished_run(tmp_path)["iterations"] == 200
    stopped = training_record(iterations=100)  # e.g. written by hand for a run stopped early
    (tmp_path / "training.json").write_text(json.dumps(stopped))
    assert finished_run(tmp_path) is None
    (tmp_path / "training.json").write_text('{"schema": "dabnet-zoo/training/v1", "mod')
    with caplog.at_level(logging.WARNING):
        assert finished_run(tmp_path) is None
    assert "damaged" in caplog.text


def test_one_image_per_batch_norm_is_what_fails_in_the_model():
    # The reason for the refusal below: DABNet normalises 1x1 pooled features, which torch refuses for 1 image.
    model = create_model("dabnet_r18_p1").train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        model(pixel_values=torch.randn(1, 3, 64, 64))
    model(pixel_values=torch.randn(2, 3, 64, 64))


@pytest.mark.parametrize(
    "plan, freeze_bn, sync_bn, refused",
    [
        (BatchPlan(1, 1, 8), False, False, "--per-device-batch-size 2 or more"),
        (BatchPlan(1, 2, 1), False, False, "fewer than 2 images per process"),
        (BatchPlan(1, 1, 8), True, False, None),
        (BatchPlan(1, 4, 2), False, True, None),
        (BatchPlan(2, 1, 4), False, False, None),
    ],
)
def test_a_batch_of_one_is_refused_up_front_with_the_fix(plan, freeze_bn, sync_bn, refused):
    if refused is None:
        check_batch_norm_batch(plan, freeze_bn=freeze_bn, sync_bn=sync_bn)
        return
    with pytest.raises(RecipeError, match=refused) as caught:
        check_batch_norm_batch(plan, freeze_bn=freeze_bn, sync_bn=sync_bn)
    assert "\n" not in str(caught.value) and "freeze_bn: true" in str(caught.value)
