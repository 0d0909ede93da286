"""recipes/train.py end to end on tiny synthetic Cityscapes-layout data: one process, two real processes
(torchrun, gloo on the CPU), gradient accumulation, stop + resume and SIGKILLed runs against an uninterrupted run.

In-process runs call ``main(argv)`` of the script (one interpreter start for all of them); the two-process run and
the killed runs are subprocesses. oneDNN is off in every run of this module: its CPU convolutions differ in the
last bits with what ran before in the process, which would hide a resume that is not exact. Without it every run
is reproducible, so a resumed run is compared with an uninterrupted one bit for bit; runs that split the global
batch differently (processes, accumulation) sum in another order and are compared with tight tolerances.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file

from dabnet_zoo import DabnetForSemanticSegmentation, DabnetImageProcessor
from dabnet_zoo.cards import SYNTHETIC_DATASET_TYPE, is_training_card
from dabnet_zoo.data import make_synthetic_cityscapes
from dabnet_zoo.errors import InputError
from dabnet_zoo.publish import stage_folder
from dabnet_zoo.training import TRAINING_KEYS, RecipeError, dump_recipe, load_recipe, recipe_from_dict

REPO = Path(__file__).resolve().parents[2]
TRAIN_SCRIPT = REPO / "recipes" / "train.py"
COMMON_FLAGS = ["--cpu", "--log-every", "1", "--no-progress"]


def tiny_recipe(path: Path, **changes) -> Path:
    data = {
        "description": "tiny test recipe",
        "model": "dabnet_r18_p1",
        "dataset": "cityscapes",
        "init": None,
        "data": {"scale": [64, 128], "crop_size": [32, 64], "eval_size": [64, 128], "num_workers": 0},
        "batch": {"global_batch_size": 4, "per_device_batch_size": 4},
        "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
        "schedule": {"max_iters": 4, "warmup_iters": 2},
        "eval_every": 2,
        "checkpoint_every": 2,
    }
    data.update(changes)
    path.write_text(dump_recipe(recipe_from_dict(data)))
    return path


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_synthetic_cityscapes(tmp_path_factory.mktemp("synthetic"), num_train=16, num_val=4, size=(64, 128),
                                     seed=0, polygons=False)


@pytest.fixture(scope="module")
def train_main():
    # oneDNN convolutions differ in the last bits with what ran before in the process; without them the CPU
    # runs are reproducible, so resume and process-count comparisons can be tight.
    mkldnn = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    spec = importlib.util.spec_from_file_location("recipes_train", TRAIN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run(argv: list[str]) -> int:
        from accelerate.state import AcceleratorState, GradientState

        try:
            return module.main(argv)
        finally:  # accelerate keeps process-wide singletons; each run starts afresh
            AcceleratorState._reset_state(reset_partial_state=True)
            GradientState._reset_state()

    yield run
    torch.backends.mkldnn.enabled = mkldnn


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, data_root, train_main) -> Path:
    """An uninterrupted run of the tiny recipe (dropout on, batch-norm statistics training: every RNG state and
    buffer matters), which stopped, resumed and killed runs must equal bit for bit."""
    folder = tmp_path_factory.mktemp("straight")
    recipe = tiny_recipe(folder / "recipe.yaml")
    run = folder / "run"
    assert train_main(["--config", str(recipe), "--data-root", str(data_root), *COMMON_FLAGS, "--output-dir",
                       str(run), "--keep-checkpoints", "1"]) == 0
    return run


def losses(run_dir: Path) -> dict[int, float]:
    lines = (run_dir / "logs" / "train_log.jsonl").read_text().splitlines()
    return {record["iteration"]: record["loss"] for record in map(json.loads, lines)}


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "final" / "model.safetensors")


def assert_weights_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"


def assert_weights_close(a: dict, b: dict, atol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert worst <= atol, worst


def test_two_processes_match_one_process_when_batch_norm_is_frozen(tmp_path, data_root, train_main):
    # Dropout off and frozen BN statistics: a step then depends only on the global batch, not on its split.
    recipe = tiny_recipe(tmp_path / "frozen.yaml", freeze_bn=True, model_overrides={"classifier_dropout_prob": 0.0},
                         schedule={"max_iters": 3, "warmup_iters": 1}, eval_every=0, checkpoint_every=0)
    common = ["--config", str(recipe), "--data-root", str(data_root), *COMMON_FLAGS, "--report-to", "none"]
    two = tmp_path / "two_processes"
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(TRAIN_SCRIPT),
         *common, "--output-dir", str(two), "--per-device-batch-size", "2"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    one, accumulated = tmp_path / "one_process", tmp_path / "accumulated"
    assert train_main([*common, "--output-dir", str(one)]) == 0
    assert train_main([*common, "--output-dir", str(accumulated), "--per-device-batch-size", "2"]) == 0

    # Two ranks really ran, each in its own process.
    ranks = [json.loads((two / "logs" / f"rank_{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and {r["world_size"] for r in ranks} == {2}
    assert len({r["pid"] for r in ranks} | {os.getpid()}) == 3
    assert "2 process(es)" in completed.stderr
    # Each rank got distinct samples, and together the samples of the one-process batch, step by step.
    single = json.loads((one / "logs" / "rank_0.json").read_text())["first_micro_batches"]
    assert len(single) == 3 and len(ranks[0]["first_micro_batches"]) == 3
    for step, batch in enumerate(single):
        first, second = ranks[0]["first_micro_batches"][step], ranks[1]["first_micro_batches"][step]
        assert len(first) == len(second) == 2 and not set(first) & set(second)
        assert set(first) | set(second) == set(batch)

    results = {name: json.loads((run / "training.json").read_text()) for name, run in
               (("two", two), ("one", one), ("accumulated", accumulated))}
    assert results["two"]["batch"] == {"per_device": 2, "num_processes": 2, "accumulation": 1, "global": 4}
    assert results["one"]["batch"] == {"per_device": 4, "num_processes": 1, "accumulation": 1, "global": 4}
    assert results["accumulated"]["batch"] == {"per_device": 2, "num_processes": 1, "accumulation": 2, "global": 4}
    assert results["two"]["final_eval"]["num_images"] == 4  # distributed evaluation counts each image once

    reference = losses(one)
    assert sorted(reference) == [1, 2, 3] and len(set(reference.values())) == 3
    for run in (two, accumulated):
        curve = losses(run)
        assert curve.keys() == reference.keys()
        assert [curve[i] for i in curve] == pytest.approx([reference[i] for i in reference], rel=1e-5)
        assert_weights_close(weights(run), weights(one))


def test_stop_and_resume_equals_an_uninterrupted_run(tmp_path, data_root, train_main, straight_run):
    recipe = tiny_recipe(tmp_path / "recipe.yaml")  # BN statistics train, dropout on: RNG state matters
    common = ["--config", str(recipe), "--data-root", str(data_root), *COMMON_FLAGS]

    straight = straight_run
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == ["checkpoint_4"]

    resumed = tmp_path / "resumed"
    assert train_main([*common, "--output-dir", str(resumed), "--stop-after", "3"]) == 0
    checkpoints = resumed / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint_2", "checkpoint_3"]
    assert not (resumed / "final").exists() and not (resumed / "training.json").exists()
    # What a kill during a save leaves behind must not be mistaken for a checkpoint (the kill test below sees the
    # next save sweep the real one).
    stage = checkpoints / ".checkpoint_4.stage-leftover"
    stage.mkdir()
    (stage / "model.safetensors").write_bytes(b"half written")
    (checkpoints / "checkpoint_9").mkdir()  # no resume.json: incomplete
    with (resumed / "logs" / "train_log.jsonl").open("a") as log:  # a crashed run logged past its checkpoint,
        log.write(json.dumps({"iteration": 4, "epoch": 0, "loss": 99.0, "lr": 0.0}) + "\n")
        log.write('{"iteration": 5, "epoch": 0, "lo')  # the last line cut short by the kill
    with pytest.raises(RecipeError, match="--resume"):  # never silently restarts over an existing run
        train_main([*common, "--output-dir", str(resumed)])
    with pytest.raises(RecipeError, match="different recipe.*schedule.max_iters"):
        train_main([*common, "--output-dir", str(resumed), "--resume", "--max-iters", "8"])
    assert train_main([*common, "--output-dir", str(resumed), "--resume"]) == 0

    assert losses(resumed).keys() == losses(straight).keys() == {1, 2, 3, 4}
    assert len((resumed / "logs" / "train_log.jsonl").read_text().splitlines()) == 4  # iteration 4 logged once
    assert losses(resumed) == losses(straight)  # bit for bit
    # Each line shows the rate its iteration used (mmcv's convention: 0-based iteration k - 1 at "Iter [k]"):
    # poly from 0.01 to 1e-4 over 4 iterations, power 0.9, linear warm-up over 2 from ratio 0.1.
    poly = [(0.01 - 1e-4) * (1 - i / 4) ** 0.9 + 1e-4 for i in range(4)]
    expected_lr = [poly[i] * (1 - (1 - i / 2) * 0.9) if i < 2 else poly[i] for i in range(4)]
    logged = [json.loads(line) for line in (resumed / "logs" / "train_log.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in logged] == pytest.approx(expected_lr, rel=1e-12)
    assert_weights_equal(weights(resumed), weights(straight))

    result = json.loads((resumed / "training.json").read_text())
    assert tuple(result) == TRAINING_KEYS
    assert result["iterations"] == result["max_iters"] == 4
    assert result["resumed_from"] == [str(checkpoints / "checkpoint_3")]
    assert [e["iteration"] for e in result["evaluations"]] == [2, 4]
    straight_result = json.loads((straight / "training.json").read_text())
    assert result["final_eval"] == straight_result["final_eval"]
    assert result["final_eval"]["num_images"] == 4 and result["final_eval"]["eval_size"] == [64, 128]

    # What the run leaves: the resolved recipe, a loadable model + processor, TensorBoard events.
    assert load_recipe(resumed / "config.yaml") == load_recipe(recipe)
    model = DabnetForSemanticSegmentation.from_pretrained(resumed / "final")
    assert model.config.num_labels == 19 and model.config.classifier_dropout_prob == 0.1
    processor = DabnetImageProcessor.from_pretrained(resumed / "final")
    assert (processor.size["height"], processor.size["width"]) == (64, 128)
    assert list((straight / "logs").rglob("events.out.tfevents.*"))

    # ... and its model card: the final mIoU as a measured result on the synthetic data (never "Cityscapes").
    card_text = (resumed / "final" / "README.md").read_text()
    card = ModelCard(card_text)
    miou = {r.metric_type: r for r in card.data.eval_results}["mean_iou"]
    assert miou.metric_value == pytest.approx(result["final_eval"]["mean_iou"], abs=5e-5)
    assert miou.dataset_type == SYNTHETIC_DATASET_TYPE and "not Cityscapes" in miou.dataset_name
    assert "synthetic-data" in card.data.tags and is_training_card(card_text)
    assert "| 2 | " in card_text.split("### mIoU during training")[1] and result["command"] in card_text
    # `dabnet-zoo push` keeps that card (rendered for the repo) and finds the model in training.json.
    entry, files, _ = stage_folder(resumed / "final", tmp_path / "staged", repo_id="me/tiny", remote_code=False)
    staged = (tmp_path / "staged" / "README.md").read_text()
    assert entry.name == "dabnet_r18_p1.cityscapes" and "README.md" in {f.path_in_repo for f in files}
    assert is_training_card(staged) and 'from_pretrained("me/tiny", trust_remote_code=True)' in staged
    assert ModelCard(staged).data.eval_results == card.data.eval_results
    assert (resumed / "final" / "README.md").read_text() == card_text  # the run's folder is only read


def test_a_start_that_fails_leaves_no_run_folder(tmp_path, train_main):
    run = tmp_path / "run"
    with pytest.raises(InputError, match="does not exist"):
        train_main(["--config", str(tiny_recipe(tmp_path / "recipe.yaml")), "--data-root", str(tmp_path / "missing"),
                    *COMMON_FLAGS, "--output-dir", str(run)])
    assert not run.exists()  # no config.yaml of a run that never started


def test_a_batch_of_one_is_refused_before_anything_is_loaded(tmp_path, train_main):
    run = tmp_path / "run"
    with pytest.raises(RecipeError, match="per-device batch of 1 image.*--per-device-batch-size 2"):
        train_main(["--config", str(tiny_recipe(tmp_path / "recipe.yaml")), "--data-root", str(tmp_path / "missing"),
                    *COMMON_FLAGS, "--output-dir", str(run), "--per-device-batch-size", "1"])
    assert not run.exists()


# --------------------------------------------------------------------------------------------------------------
# Kills (SIGKILL via subprocess): resume is exact, a killed finish completes, a finished run stays finished
# --------------------------------------------------------------------------------------------------------------

# Runs recipes/train.py in this interpreter after arranging for it to SIGKILL itself at one point:
# KILL_AT=checkpoint_N: inside the save of checkpoint N, once its model file is written (the optimiser's is not);
# KILL_AT=final: while final/ is being written (after the last checkpoint, before training.json).
KILLING_LAUNCHER = """
import os, runpy, signal, sys
from pathlib import Path

import torch

import dabnet_zoo.cards
import dabnet_zoo.training.checkpoints as checkpoints

torch.backends.mkldnn.enabled = False  # as this module's in-process runs (see the module docstring)
torch.set_num_threads(min(2, os.cpu_count() or 1))  # as tests/conftest.py: sums split over threads alike

kill_at = os.environ.get("KILL_AT", "")
save_file = checkpoints.save_file
write_training_card = dabnet_zoo.cards.write_training_card


def killing_save_file(tensors, path, metadata=None):
    save_file(tensors, path, metadata=metadata)
    if Path(path).name == "model.safetensors" and Path(path).parent.name.startswith(f".{kill_at}.stage-"):
        os.kill(os.getpid(), signal.SIGKILL)


def killing_write_training_card(*args, **kwargs):
    written = write_training_card(*args, **kwargs)
    if kill_at == "final":
        os.kill(os.getpid(), signal.SIGKILL)
    return written


checkpoints.save_file = killing_save_file
dabnet_zoo.cards.write_training_card = killing_write_training_card
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_train_process(tmp_path: Path, args: list[str], kill_at: str = "") -> subprocess.CompletedProcess:
    launcher = tmp_path / "killing_launcher.py"
    launcher.write_text(KILLING_LAUNCHER)
    env = {**os.environ, "KILL_AT": kill_at}
    return subprocess.run([sys.executable, str(launcher), str(TRAIN_SCRIPT), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def log_records(run_dir: Path) -> list[dict]:
    """train_log.jsonl without its timings (the only thing a resumed run may log differently)."""
    records = [json.loads(line) for line in (run_dir / "logs" / "train_log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in record.items() if k != "seconds_per_iteration"} for record in records]


def tensorboard_steps(run_dir: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir / "logs" / "dabnet_r18_p1.cityscapes"))  # add_hparams: subfolders
    accumulator.Reload()
    return [event.step for event in accumulator.Scalars(tag)]


def folder_snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_killed_runs_resume_bit_for_bit_and_finish_once(tmp_path, data_root, train_main, straight_run):
    recipe = tiny_recipe(tmp_path / "recipe.yaml")
    common = ["--config", str(recipe), "--data-root", str(data_root), *COMMON_FLAGS]
    straight = straight_run

    # Killed while saving checkpoint_4, after the evaluation of iteration 4: only checkpoint_2 is complete.
    killed = tmp_path / "killed"
    completed = run_train_process(tmp_path, [*common, "--output-dir", str(killed)], kill_at="checkpoint_4")
    assert completed.returncode == -signal.SIGKILL
    checkpoints = killed / "checkpoints"
    assert [p.name for p in checkpoints.iterdir() if not p.name.startswith(".")] == ["checkpoint_2"]
    assert any(p.name.startswith(".checkpoint_4.stage-") for p in checkpoints.iterdir())  # what the kill left
    assert [r["iteration"] for r in log_records(killed)] == [1, 2, 3, 4]  # logged past its checkpoint
    assert not (killed / "training.json").exists()

    # Resumed from checkpoint_2, then killed again while writing final/ (checkpoint_4 is complete by then).
    completed = run_train_process(tmp_path, [*common, "--output-dir", str(killed), "--resume"], kill_at="final")
    assert completed.returncode == -signal.SIGKILL, completed.stderr[-3000:]
    assert "Resumed from" in completed.stderr and "checkpoint_2 at iteration 2" in completed.stderr
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint_2", "checkpoint_4"]  # stage swept
    assert not (killed / "training.json").exists() and not (killed / "final").exists()

    # The interrupted finish completes from checkpoint_4, without training or evaluating again.
    assert train_main([*common, "--output-dir", str(killed), "--resume"]) == 0
    assert not [p for p in killed.rglob(".*") if ".stage-" in p.name or ".old-" in p.name]

    # Bit for bit: weights, buffers, the log and every evaluation equal the uninterrupted run's.
    assert_weights_equal(weights(killed), weights(straight))
    assert log_records(killed) == log_records(straight)
    straight_record = json.loads((straight / "training.json").read_text())
    record = json.loads((killed / "training.json").read_text())
    assert record["evaluations"] == straight_record["evaluations"] and len(record["evaluations"]) == 2
    assert record["final_eval"] == straight_record["final_eval"] is not None
    assert record["resumed_from"] == [str(checkpoints / "checkpoint_2"), str(checkpoints / "checkpoint_4")]
    # TensorBoard shows each iteration once, although iterations 3 and 4 were logged twice.
    assert tensorboard_steps(killed, "train/loss") == [1, 2, 3, 4]
    assert tensorboard_steps(killed, "val/mean_iou") == [2, 4]

    # A finished run stays finished: --resume (a scheduler's requeue) says so and changes nothing.
    before = folder_snapshot(killed)
    assert train_main([*common, "--output-dir", str(killed), "--resume"]) == 0
    assert folder_snapshot(killed) == before
    with pytest.raises(RecipeError, match="finished run"):
        train_main([*common, "--output-dir", str(killed)])
    assert folder_snapshot(killed) == before
