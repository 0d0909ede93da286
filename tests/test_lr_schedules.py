"""Every recipe's learning-rate schedule against the original's (tests/fixtures/training/README.md).

The schedules are built as ``recipes/train.py`` builds them (recipe file → ``create_optimizer`` →
``create_scheduler``, one ``scheduler.step()`` per iteration) and read from the optimiser, where the optimiser
step of each iteration finds them. The two recipes the original shipped logs for (R-P2 and DABNet-E on
Cityscapes) must give the learning rates that mmcv's own LR hook set (``lr_schedules.json``); every recipe must
follow mmcv's ``poly`` policy with linear warm-up, written out below independently of the project's code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dabnet_zoo.training import create_optimizer, create_scheduler, load_recipe

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "training" / "lr_schedules.json").read_text())
CONFIG_DIR = Path(__file__).parents[1] / "recipes" / "configs"
RECIPES = sorted(path.name for path in CONFIG_DIR.glob("*.yaml"))
# Recipe file -> the original config whose LR hook the fixture recorded.
FIXTURE_ROWS = {
    "dabnet_r18_p2.cityscapes.yaml": "dabnet_r18_p2_cityscapes",
    "dabnet_effb1.cityscapes.yaml": "dabnet_e_cityscapes",
}
# The original's LR policy (mmcv PolyLrUpdaterHook, configs/_base_/schedules): poly 0.9 down to 1e-4, stepped
# per iteration; the SGD configs warm up linearly over 1000 iterations from 0.1 x the lr, the Adam ones do not.
POWER, MIN_LR, WARMUP_RATIO = 0.9, 1e-4, 0.1
WARMUP_ITERS = {"sgd": 1000, "adam": 0}


def mmcv_poly_lr(iteration: int, base_lr: float, max_iters: int, warmup_iters: int) -> float:
    """mmcv 1.4's ``PolyLrUpdaterHook.get_lr`` followed by ``get_warmup_lr`` (linear), at 0-based ``iteration``."""
    regular = (base_lr - MIN_LR) * (1 - iteration / max_iters) ** POWER + MIN_LR
    if iteration >= warmup_iters:
        return regular
    k = (1 - iteration / warmup_iters) * (1 - WARMUP_RATIO)
    return regular * (1 - k)


def learning_rates(recipe_file: str, iterations: list[int]) -> dict[int, float]:
    """The lr each listed 0-based iteration trains with, as recipes/train.py builds and steps the schedule."""
    recipe = load_recipe(CONFIG_DIR / recipe_file)
    optimizer = create_optimizer(torch.nn.Linear(2, 2), recipe.optimizer)
    scheduler = create_scheduler(optimizer, recipe.schedule)
    seen = {}
    for iteration in range(max(iterations) + 1):
        if iteration in iterations:
            seen[iteration] = optimizer.param_groups[0]["lr"]
        scheduler.step()  # end of the iteration, as in the training loop
    return seen


pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")


@pytest.mark.parametrize("recipe_file", sorted(FIXTURE_ROWS))
def test_learning_rates_equal_the_original_lr_hook(recipe_file):
    expected = {int(k): v for k, v in FIXTURE["configs"][FIXTURE_ROWS[recipe_file]]["lr"].items()}
    assert sorted(expected) == FIXTURE["iterations"]
    ours = learning_rates(recipe_file, list(expected))
    for iteration, lr in expected.items():
        assert ours[iteration] == pytest.approx(lr, rel=1e-12, abs=0), f"iteration {iteration}"


@pytest.mark.parametrize("recipe_file", RECIPES)
def test_every_recipe_follows_the_original_poly_policy(recipe_file):
    recipe = load_recipe(CONFIG_DIR / recipe_file)
    max_iters = recipe.schedule.max_iters
    iterations = sorted({0, 1, 49, 50, 500, 999, 1000, 1001, max_iters // 10, max_iters // 2, max_iters - 1}
                        & set(range(max_iters)))
    warmup = WARMUP_ITERS[recipe.optimizer.name]
    ours = learning_rates(recipe_file, iterations)
    for iteration in iterations:
        expected = mmcv_poly_lr(iteration, recipe.optimizer.lr, max_iters, warmup)
        assert ours[iteration] == pytest.approx(expected, rel=1e-12, abs=0), f"iteration {iteration}"

