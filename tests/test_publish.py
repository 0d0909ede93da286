"""push_folder: what is staged, the dry run (no network), and the Hub calls (HfApi monkeypatched)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, ModelCard, constants

from dabnet_zoo import InputError, create_model, create_processor
from dabnet_zoo.publish import PublishError, push_folder, stage_folder
from dabnet_zoo.remote_code import CONFIG_AUTO_MAP, REMOTE_CODE_FILES
from dabnet_zoo.results import (
    EVAL_SCHEMA,
    evaluation_results_dir,
    write_evaluation_result,
)
from dabnet_zoo.weights import sha256_of

NAME = "dabnet_effb1.camvid"
UPLOADED = sorted(["README.md", "config.json", "preprocessor_config.json", "model.safetensors", "conversion.json",
                   "results/val_whole.json", *REMOTE_CODE_FILES])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A converted-like folder: weights, config, processor, conversion.json and a stray training file."""
    folder = tmp_path_factory.mktemp("converted") / NAME
    torch.manual_seed(0)
    create_model(NAME).save_pretrained(folder)
    create_processor("camvid").save_pretrained(folder)
    (folder / "conversion.json").write_text(json.dumps({"variant": "dabnet_effb1", "dataset": "camvid"}))
    (folder / "optimizer.pt").write_bytes(b"not uploaded")
    return folder


@pytest.fixture
def model_dir(saved, tmp_path):
    """A private copy of the folder, so a test can change it."""
    return Path(shutil.copytree(saved, tmp_path / NAME))


def _evaluation(weights_sha256: str, **changes) -> dict:
    record = {
        "schema": EVAL_SCHEMA, "model": NAME, "dataset": "camvid", "evaluated_on": "camvid", "split": "test",
        "mode": "whole", "test_size": [768, 960], "keep_ratio": False, "num_images": 233,
        "metrics": {"mean_iou": 0.5, "mean_accuracy": 0.6, "overall_accuracy": 0.8}, "per_category_iou": {"Sky": 0.9},
        "weights": f"converted/{NAME}", "weights_sha256": weights_sha256, "command": "python recipes/evaluate.py",
        "date": "2026-11-24",
    }
    record.update(changes)
    return record


@pytest.fixture
def root(tmp_path, saved):
    """A repository root with one evaluation of the folder's weights for NAME."""
    root = tmp_path / "repo"
    write_evaluation_result(evaluation_results_dir(NAME, root) / "val_whole.json",
                            _evaluation(sha256_of(saved / "model.safetensors")))
    return root


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")

    for method in ("create_repo", "create_branch", "upload_folder"):
        monkeypatch.setattr(HfApi, method, refuse)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_dry_run_lists_exactly_what_would_be_uploaded_and_uses_no_network(model_dir, root, no_network, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    before = _snapshot(model_dir)
    report = push_folder(model_dir, "someone/dabnet_effb1.camvid", root=root, dry_run=True)
    assert report.dry_run and report.model == NAME and report.commit_oid is None
    assert [f.path_in_repo for f in report.files] == UPLOADED
    sizes = {f.path_in_repo: f.size for f in report.files}
    assert sizes["model.safetensors"] == (model_dir / "model.safetensors").stat().st_size
    assert sizes["conversion.json"] == (model_dir / "conversion.json").stat().st_size
    assert sizes["results/val_whole.json"] == (evaluation_results_dir(NAME, root) / "val_whole.json").stat().st_size
    assert report.total_size == sum(sizes.values())
    assert report.skipped == ("optimizer.pt",)
    assert report.weights_sha256 == sha256_of(model_dir / "model.safetensors")
    assert _snapshot(model_dir) == before  # the user's folder is only read
    assert list((tmp_path / "tmp").iterdir()) == []  # the staging folder is gone


def test_only_evaluations_of_the_uploaded_weights_on_the_real_dataset_are_uploaded(model_dir, root, no_network):
    folder = evaluation_results_dir(NAME, root)
    ours = sha256_of(model_dir / "model.safetensors")
    write_evaluation_result(folder / "other_weights.json", _evaluation("0e" * 32, metrics={
        "mean_iou": 0.4512, "mean_accuracy": 0.6, "overall_accuracy": 0.8}))
    write_evaluation_result(folder / "synthetic_test_whole.json", _evaluation(ours, evaluated_on="synthetic"))
    write_evaluation_result(folder / "unknown.json", _evaluation(None))
    report = push_folder(model_dir, "someone/dabnet_effb1.camvid", root=root, dry_run=True)
    assert [f.path_in_repo for f in report.files] == UPLOADED  # of the results, val_whole.json only
    with tempfile.TemporaryDirectory() as staging:
        stage_folder(model_dir, staging, repo_id="org/dabnet_effb1.camvid", root=root)
        card = ModelCard((Path(staging) / "README.md").read_text())
        assert {(r.metric_type, r.metric_value) for r in card.data.eval_results} == {
            ("mean_iou", 0.5), ("mean_accuracy", 0.6), ("overall_accuracy", 0.8)}
        assert "45.12" not in card.content


def test_push_creates_the_repo_and_uploads_the_staged_folder(model_dir, root, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        staged = _snapshot(folder)
        calls.append(("upload_folder", kwargs["repo_id"], {k: v for k, v in kwargs.items() if k != "folder_path"}))
        assert sorted(staged) == UPLOADED
        assert staged["model.safetensors"] == (model_dir / "model.safetensors").read_bytes()
        assert json.loads(staged["config.json"])["auto_map"] == CONFIG_AUTO_MAP
        card = ModelCard(staged["README.md"].decode())
        assert card.data.library_name == "transformers" and card.data.pipeline_tag == "image-segmentation"
        assert [(r.metric_type, r.metric_value) for r in card.data.eval_results][0] == ("mean_iou", 0.5)
        assert sha256_of(model_dir / "model.safetensors") in card.content
        assert "No trained weights are published" not in card.content

        class CommitInfo:
            oid = "f" * 40
            commit_url = "https://huggingface.co/org/x/commit/" + "f" * 40

        return CommitInfo()

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_branch", create_branch)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    report = push_folder(model_dir, "org/x", model=NAME, root=root, private=True, revision="v1",
                         commit_message="first upload")
    assert [call[:2] for call in calls] == [("create_repo", "org/x"), ("create_branch", "org/x"),
                                            ("upload_folder", "org/x")]
    assert calls[0][2] == {"repo_type": "model", "private": True, "exist_ok": True}
    assert calls[1][2]["branch"] == "v1" and calls[1][2]["exist_ok"] is True
    assert calls[2][2] == {"repo_id": "org/x", "repo_type": "model", "revision": "v1", "commit_message": "first upload"}
    assert report.commit_oid == "f" * 40 and not report.dry_run
    assert f'revision="{"f" * 40}"' in report.registry_fields()
    assert f'sha256="{report.weights_sha256}"' in report.registry_fields()


def test_hub_failures_and_offline_mode_give_clear_errors(model_dir, root, monkeypatch):
    with pytest.raises(PublishError, match=r"offline mode is on \(HF_HUB_OFFLINE=1\).*--dry-run"):
        push_folder(model_dir, "org/dabnet_effb1.camvid", root=root)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    transport = pytest.importorskip("httpx2")  # huggingface_hub 2.x's HTTP client

    def unreachable(self, repo_id, **kwargs):  # what huggingface_hub's HTTP client raises: not an OSError
        raise transport.ConnectError("[Errno 111] Connection refused")

    monkeypatch.setattr(HfApi, "create_repo", unreachable)
    with pytest.raises(PublishError, match="Hub repo org/dabnet_effb1.camvid failed: .Errno 111. Connection refused"):
        push_folder(model_dir, "org/dabnet_effb1.camvid", root=root)


def test_the_model_is_identified_and_mismatches_are_refused(model_dir, root, no_network):
    (model_dir / "conversion.json").unlink()
    report = push_folder(model_dir, "org/dabnet_effb1.camvid", root=root, dry_run=True)  # from the repo name
    assert report.model == NAME and "conversion.json" not in [f.path_in_repo for f in report.files]
    with pytest.raises(InputError, match="pass --model"):
        push_folder(model_dir, "org/my-model", root=root, dry_run=True)
    with pytest.raises(InputError, match=r"does not hold dabnet_r18_p2.camvid: context_path='efficientnet_b1'"):
        push_folder(model_dir, "org/my-model", model="dabnet_r18_p2.camvid", root=root, dry_run=True)
    with pytest.raises(InputError, match="num_labels=11 .expected 19."):
        push_folder(model_dir, "org/my-model", model="dabnet_effb1", root=root, dry_run=True)
    for bad in ("no-namespace", "org/a/b", "org/bad name"):
        with pytest.raises(InputError, match="Invalid Hub repo id"):
            push_folder(model_dir, bad, model=NAME, root=root, dry_run=True)
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(InputError, match="has no model.safetensors"):
        push_folder(model_dir, "org/x", model=NAME, root=root, dry_run=True)


def test_without_remote_code_no_modules_and_no_auto_map_are_uploaded(tmp_path, root, no_network):
    folder = tmp_path / "trained"
    create_model(NAME).save_pretrained(folder)  # save_pretrained writes the code and auto_map
    assert "auto_map" in json.loads((folder / "config.json").read_text())
    entry, files, skipped = stage_folder(folder, tmp_path / "staging", repo_id="org/dabnet_effb1.camvid", root=root,
                                         remote_code=False)
    uploaded = [f.path_in_repo for f in files]
    assert entry.name == NAME and not set(REMOTE_CODE_FILES) & set(uploaded)
    assert sorted(skipped) == ["configuration_dabnet.py", "modeling_dabnet.py"]
    for name in ("config.json", "preprocessor_config.json"):
        assert "auto_map" not in json.loads((tmp_path / "staging" / name).read_text())
    processor = next(f for f in files if f.path_in_repo == "preprocessor_config.json")
    assert processor.source.startswith("generated")  # the folder had none: the dataset preset's test protocol
    assert ModelCard((tmp_path / "staging" / "README.md").read_text()).data.library_name == "dabnet-zoo"
