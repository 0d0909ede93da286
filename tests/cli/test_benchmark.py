"""``dabnet-zoo benchmark`` through the dispatcher: results are filed under the model that was timed."""

from __future__ import annotations

import json

import pytest

from dabnet_zoo import create_model
from dabnet_zoo.cli.main import main

FAST = ["--size", "64x64", "--warmup", "0", "--iterations", "1", "--threads", "1", "--no-progress"]


def saved_results(root):
    return {path.parent.name: json.loads(path.read_text()) for path in (root / "benchmarks" / "results").glob("*/*.json")}


def test_a_camvid_zoo_name_is_filed_on_the_camvid_card(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["benchmark", "dabnet_r18_p1.camvid", "--save", *FAST]) == 0
    results = saved_results(tmp_path)
    assert list(results) == ["dabnet_r18_p1.camvid"]
    assert (results["dabnet_r18_p1.camvid"]["model"], results["dabnet_r18_p1.camvid"]["dataset"]) == (
        "dabnet_r18_p1", "camvid")
    assert "dabnet_r18_p1" in capsys.readouterr().out


def test_a_folder_is_recorded_as_its_variant_and_dataset_not_its_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    create_model("dabnet_effb1", dataset="camvid").save_pretrained(tmp_path / "converted")
    assert main(["benchmark", "converted", "--save", *FAST]) == 0
    record = saved_results(tmp_path)["dabnet_effb1.camvid"]
    assert (record["model"], record["dataset"]) == ("dabnet_effb1", "camvid")


def test_save_refuses_a_model_that_is_no_zoo_entry(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    create_model("dabnet_r18_p1", num_labels=5).save_pretrained(tmp_path / "custom")
    capsys.readouterr()  # save_pretrained's progress bar
    assert main(["benchmark", "custom", "--save", *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --save files a result under a zoo model's name, but custom is dabnet_r18_p1 with "
                          "5 classes") and "\n" not in err
    assert not (tmp_path / "benchmarks").exists()
    # --json still records it, as what it is
    assert main(["benchmark", "custom", "--json", "custom.json", *FAST]) == 0
    record = json.loads((tmp_path / "custom.json").read_text())
    assert (record["model"], record["dataset"]) == ("dabnet_r18_p1", "custom")


@pytest.mark.parametrize("option", ["--threads", "--batch-size", "--iterations"])
def test_counts_below_one_are_refused(option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "dabnet_r18_p1", option, "0"])
    assert exit_info.value.code == 2 and f"argument {option}: must be at least 1, got 0" in capsys.readouterr().err


def test_every_argument_has_help():
    import argparse

    from dabnet_zoo.cli.main import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    actions = [action for action in commands["benchmark"]._actions if not isinstance(action, argparse._HelpAction)]
    assert len(actions) >= 14
    assert [action.dest for action in actions if not action.help] == []
