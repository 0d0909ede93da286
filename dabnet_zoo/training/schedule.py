"""The learning-rate schedule and the optimiser, exactly as the original trained (see docs/architecture.md).

* :func:`poly_lr` is mmcv's ``poly`` policy with ``min_lr`` and a linear warm-up, as a formula;
* :class:`PolyWarmupLR` steps it once per iteration (``create_scheduler`` builds it from a recipe);
* :func:`create_optimizer`: SGD with weight decay on *all* parameters in one group (as the original), or Adam.

Logging convention: after iteration ``k`` (1-based) ``recipes/train.py`` logs the rate that iteration used,
``poly_lr(k - 1, ...)``, as mmcv's ``Iter [k]`` line does.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import RecipeError
from .recipe import OptimizerConfig, ScheduleConfig


def poly_lr(iteration: int, base_lr: float, max_iters: int, power: float = 0.9, min_lr: float = 1e-4,
            warmup_iters: int = 0, warmup_ratio: float = 0.1) -> float:
    """The learning rate of 0-based iteration ``iteration`` under the original's policy.

    ``lr(i) = (base_lr − min_lr)·(1 − i/max_iters)^power + min_lr``, and for ``i < warmup_iters``
    ``lr(i)·(1 − (1 − i/warmup_iters)·(1 − warmup_ratio))``. Iterations past ``max_iters`` keep ``min_lr``.
    (mmcv logs the lr of iteration i as "Iter [i+1]": its 3.601e-3 at "iteration 50" is ``poly_lr(49, 0.025, …)``.)
    """
    progress = min(max(iteration, 0), max_iters) / max_iters
    lr = (base_lr - min_lr) * (1.0 - progress) ** power + min_lr
    if iteration < warmup_iters:
        lr *= 1.0 - (1.0 - iteration / warmup_iters) * (1.0 - warmup_ratio)
    return lr


class PolyWarmupLR(torch.optim.lr_scheduler.LRScheduler):
    """:func:`poly_lr` as a scheduler: call ``step()`` once per optimiser step (iteration).

    After ``k`` calls the learning rate is ``poly_lr(k, base_lr, …)`` for every parameter group's base lr; the
    state (``last_epoch`` = iterations done) round-trips through ``state_dict``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, max_iters: int, power: float = 0.9, min_lr: float = 1e-4,
                 warmup_iters: int = 0, warmup_ratio: float = 0.1, last_epoch: int = -1) -> None:
        self.max_iters = max_iters
        self.power = power
        self.min_lr = min_lr
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [poly_lr(self.last_epoch, base, self.max_iters, self.power, self.min_lr, self.warmup_iters,
                        self.warmup_ratio) for base in self.base_lrs]


def create_scheduler(optimizer: torch.optim.Optimizer, schedule: ScheduleConfig) -> PolyWarmupLR:
    """The recipe's per-iteration schedule on ``optimizer``."""
    return PolyWarmupLR(optimizer, schedule.max_iters, schedule.power, schedule.min_lr, schedule.warmup_iters,
                        schedule.warmup_ratio)


def create_optimizer(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    """SGD (momentum, weight decay on *all* parameters, BN and biases included) or Adam, one parameter group,
    as the original (no param-wise rules)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=tuple(config.betas), eps=config.eps,
                                weight_decay=config.weight_decay)
    raise RecipeError(f"optimizer.name must be 'adam' or 'sgd', got {config.name!r}.")


__all__ = ["PolyWarmupLR", "create_optimizer", "create_scheduler", "poly_lr"]
