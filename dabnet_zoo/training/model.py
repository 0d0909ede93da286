"""The model as a run trains it: the factory, batch-norm handling and one training step.

``recipes/train.py`` and the training-parity tests build and step the model through these functions only, so a
test of them is a test of what a user runs:

* :func:`create_training_model`: the recipe's variant, loss weights and overrides, with its ImageNet backbone;
* :func:`convert_sync_batchnorm` (multi-process CUDA only, timm's converter) and :func:`freeze_batch_norm`;
* :func:`training_step`: forward with the labels (the model's weighted loss), backward, and the optimiser step
  once the gradient-accumulation window is complete.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..modeling_dabnet import DabnetForSemanticSegmentation
from ..zoo import create_model
from .initialization import load_backbone_weights
from .recipe import RecipeConfig


def create_training_model(recipe: RecipeConfig, *, initialize_backbone: bool = True,
                          **overrides: Any) -> tuple[DabnetForSemanticSegmentation, dict[str, Any] | None]:
    """The recipe's model as training starts; returns (model, backbone-initialisation report or ``None``).

    The auxiliary heads are weighted by ``recipe.loss_weights`` and ``recipe.model_overrides`` applied, then
    ``overrides`` (e.g. ``classifier_dropout_prob=0.0`` for a deterministic step in a test, without changing the
    recipe). The context path gets ``recipe.init`` unless ``initialize_backbone`` is false (a resumed run takes
    every weight from its checkpoint).
    """
    model = create_model(recipe.model, recipe.dataset, auxiliary_loss_weights=tuple(recipe.loss_weights[1:]),
                         **{**recipe.model_overrides, **overrides})
    report = load_backbone_weights(model, recipe.init) if recipe.init and initialize_backbone else None
    return model, report


def sync_batchnorm_applies(device: torch.device | str, num_processes: int) -> bool:
    """Whether SyncBatchNorm works and matters here: CUDA with more than one process."""
    return torch.device(device).type == "cuda" and num_processes >= 2


def convert_sync_batchnorm(model: nn.Module, device: torch.device | str, num_processes: int) -> tuple[nn.Module, bool]:
    """SyncBatchNorm over the processes, only where :func:`sync_batchnorm_applies`.

    Uses timm's converter, which keeps timm's fused ``BatchNormAct2d`` activations (torch's converter silently
    drops them, and SyncBatchNorm raises on CPU). Returns (model, converted?).
    """
    if not sync_batchnorm_applies(device, num_processes):
        return model, False
    from timm.layers import convert_sync_batchnorm as timm_convert_sync_batchnorm

    return timm_convert_sync_batchnorm(model), True


def freeze_batch_norm(model: nn.Module) -> int:
    """Put every batch-norm layer in eval mode (running statistics used and not updated); affine parameters
    keep training. Call after each ``model.train()``. Returns the number of layers frozen."""
    count = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
            count += 1
    return count


def training_step(model: nn.Module, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
                  accelerator: Any) -> torch.Tensor:
    """One micro-batch of training; returns its loss (detached).

    ``batch`` holds ``image`` (normalised, N x 3 x H x W) and ``label`` (N x H x W). The loss is the model's own:
    the decode head's cross-entropy plus the auxiliary heads' at their configured weights, each averaged over all
    pixels (ignored ones add 0 but count, as the original). ``model`` and ``optimizer`` are prepared by
    ``accelerator``, whose ``accumulate`` decides whether this micro-batch ends an iteration (then the optimiser
    steps and the gradients are cleared). The learning-rate scheduler is the caller's: step it once per
    iteration, when ``accelerator.sync_gradients``.
    """
    pixel_values = batch["image"].to(accelerator.device, non_blocking=True)
    labels = batch["label"].to(accelerator.device, non_blocking=True)
    with accelerator.accumulate(model):
        loss = model(pixel_values=pixel_values, labels=labels).loss
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return loss.detach()


__all__ = [
    "convert_sync_batchnorm",
    "create_training_model",
    "freeze_batch_norm",
    "sync_batchnorm_applies",
    "training_step",
]
