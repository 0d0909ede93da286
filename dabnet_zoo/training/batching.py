"""Batch planning: how the recipe's global batch is made on any number of processes, and which samples it holds.

* :func:`plan_batches`: per-device batch x processes x gradient accumulation = the recipe's global batch, kept
  when the number of processes changes (an error when it cannot be kept exactly);
* :func:`check_batch_norm_batch`: refuses, before anything is loaded, a plan whose batch norm would see one image;
* :class:`GlobalBatchSampler`: every global batch holds the same samples whatever the number of processes and
  accumulation steps, and the position in the data is a pure function of the iteration (exact resume).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Sampler

from ..errors import RecipeError


@dataclass(frozen=True)
class BatchPlan:
    """How a global batch is made: ``global_batch_size = per_device × num_processes × accumulation``."""

    per_device: int
    num_processes: int
    accumulation: int

    @property
    def global_batch_size(self) -> int:
        return self.per_device * self.num_processes * self.accumulation

    def describe(self) -> str:
        return (f"global batch {self.global_batch_size} = {self.per_device} per device x {self.num_processes} "
                f"process(es) x {self.accumulation} gradient accumulation step(s)")

    def to_dict(self) -> dict[str, int]:
        return {"per_device": self.per_device, "num_processes": self.num_processes,
                "accumulation": self.accumulation, "global": self.global_batch_size}


def plan_batches(global_batch_size: int, per_device_batch_size: int, num_processes: int) -> BatchPlan:
    """Keep the recipe's global batch on ``num_processes`` processes with gradient accumulation.

    Raises :class:`RecipeError` when ``per_device_batch_size × num_processes`` does not divide the global batch
    (the message suggests per-device sizes that work).
    """
    if min(global_batch_size, per_device_batch_size, num_processes) < 1:
        raise RecipeError("batch sizes and the number of processes must be >= 1.")
    per_step = per_device_batch_size * num_processes
    if global_batch_size % per_step:
        options = [b for b in range(1, global_batch_size + 1) if global_batch_size % (b * num_processes) == 0]
        hint = (f" Per-device sizes that keep it with {num_processes} process(es): {', '.join(map(str, options))}"
                if options else f" No per-device size keeps it with {num_processes} processes; use a number of "
                f"processes that divides {global_batch_size}")
        raise RecipeError(
            f"Cannot keep the global batch of {global_batch_size}: {per_device_batch_size} per device x "
            f"{num_processes} process(es) = {per_step} does not divide it.{hint} (--per-device-batch-size)."
        )
    return BatchPlan(per_device_batch_size, num_processes, global_batch_size // per_step)


def check_batch_norm_batch(plan: BatchPlan, *, freeze_bn: bool, sync_bn: bool) -> None:
    """Refuse a per-device batch of one image while batch norm trains, before any data or model is loaded.

    DABNet's attention modules normalise 1x1 pooled features, so a training-mode batch-norm layer needs at least
    two images per forward pass (torch would stop at the first step with "Expected more than 1 value per
    channel"). Frozen batch norm (``freeze_bn``) or SyncBatchNorm over several processes (``sync_bn``) lift it.
    """
    if plan.per_device >= 2 or freeze_bn or sync_bn:
        return
    if plan.global_batch_size >= 2 * plan.num_processes:
        fix = ("use --per-device-batch-size 2 or more (gradient accumulation keeps the global batch of "
               f"{plan.global_batch_size})")
    else:
        fix = (f"the global batch of {plan.global_batch_size} leaves fewer than 2 images per process: raise "
               "batch.global_batch_size or run on fewer processes")
    raise RecipeError(f"A per-device batch of 1 image cannot train batch norm (DABNet normalises 1x1 pooled "
                      f"features, which needs 2 or more images per forward pass): {fix}, or set freeze_bn: true "
                      "in the recipe.")


class GlobalBatchSampler(Sampler[list[int]]):
    """Batches of one process such that global batch ``k`` of an epoch is the same set of samples whatever the
    number of processes and gradient-accumulation steps.

    Epoch ``e`` shuffles the dataset with a generator seeded by ``(seed, e)``; global batch ``k`` is
    ``order[k·G : (k+1)·G]`` (G = global batch size) and is cut into ``num_processes × accumulation``
    micro-batches of ``per_device`` samples: process ``r`` gets micro-batches ``r, r + P, r + 2P, …``. The
    incomplete tail of an epoch is dropped (every step sees a full global batch). Because the order is a pure
    function of (seed, epoch), resuming at iteration ``i`` is ``set_epoch(i // steps_per_epoch,
    start_step=i % steps_per_epoch)``: nothing needs to be saved and no skipped batch is loaded.
    """

    def __init__(self, dataset_size: int, plan: BatchPlan, process_index: int = 0, seed: int = 0) -> None:
        if not 0 <= process_index < plan.num_processes:
            raise ValueError(f"process_index {process_index} is not in 0..{plan.num_processes - 1}")
        self.dataset_size = dataset_size
        self.plan = plan
        self.process_index = process_index
        self.seed = seed
        self.steps_per_epoch = dataset_size // plan.global_batch_size
        if self.steps_per_epoch < 1:
            raise RecipeError(f"The training set has {dataset_size} samples, fewer than one global batch "
                              f"({plan.describe()}).")
        self.epoch = 0
        self.start_step = 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        if not 0 <= start_step < self.steps_per_epoch:
            raise ValueError(f"start_step must be in 0..{self.steps_per_epoch - 1}, got {start_step}")
        self.epoch = epoch
        self.start_step = start_step

    def order(self, epoch: int) -> np.ndarray:
        """The shuffled sample order of ``epoch`` (the same on every process)."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))
        return rng.permutation(self.dataset_size)

    def __iter__(self) -> Iterator[list[int]]:
        plan, order = self.plan, self.order(self.epoch)
        for step in range(self.start_step, self.steps_per_epoch):
            for accumulation_step in range(plan.accumulation):
                start = step * plan.global_batch_size \
                    + (accumulation_step * plan.num_processes + self.process_index) * plan.per_device
                yield order[start:start + plan.per_device].tolist()

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.start_step) * self.plan.accumulation


__all__ = ["BatchPlan", "GlobalBatchSampler", "check_batch_norm_batch", "plan_batches"]
