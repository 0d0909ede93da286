"""The recipe's training and validation sets: the original augmentation, seeded per sample.

Each training sample's augmentation is drawn from ``(seed, epoch, index)`` (see :mod:`dabnet_zoo.data`), so a
run's crops do not depend on the number of processes, the loader's workers, or where it was resumed.
"""

from __future__ import annotations

import os
from typing import Any

from torch.utils.data import ConcatDataset, Dataset

from ..data import TestTransform, TrainTransform, create_dataset
from .recipe import RecipeConfig


class ConcatSegmentationDataset(ConcatDataset):
    """Several splits as one training set (CamVid's ``train+val``), forwarding ``set_epoch``."""

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            dataset.set_epoch(epoch)


def create_train_dataset(recipe: RecipeConfig, root: str | os.PathLike, seed: int | None = None) -> Dataset:
    """The recipe's training set under ``root`` with the original augmentation, seeded per sample."""
    data = recipe.data
    overrides: dict[str, Any] = dict(ratio_range=tuple(data.ratio_range), cat_max_ratio=data.cat_max_ratio,
                                     flip_prob=data.flip_prob, photometric=data.photometric)
    if data.scale is not None:
        overrides["scale"] = tuple(data.scale)
    if data.crop_size is not None:
        overrides["crop_size"] = tuple(data.crop_size)
    transform = TrainTransform.from_preset(recipe.dataset, **overrides)
    seed = recipe.seed if seed is None else seed
    splits = data.train_split.split("+")
    parts = [create_dataset(recipe.dataset, root, split, transform=transform, seed=seed + 1_000_003 * i)
             for i, split in enumerate(splits)]
    return parts[0] if len(parts) == 1 else ConcatSegmentationDataset(parts)


def create_val_dataset(recipe: RecipeConfig, root: str | os.PathLike) -> Dataset:
    """The recipe's validation split under ``root`` with the test resize (the preset's, or ``data.eval_size``)
    and normalisation; labels keep their size, as the original evaluates (for ``evaluate_model``)."""
    overrides = {"size": tuple(recipe.data.eval_size)} if recipe.data.eval_size else {}
    return create_dataset(recipe.dataset, root, recipe.data.val_split,
                          transform=TestTransform.from_preset(recipe.dataset, **overrides))


__all__ = ["ConcatSegmentationDataset", "create_train_dataset", "create_val_dataset"]
