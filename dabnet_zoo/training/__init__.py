"""The reusable parts of the training recipe (``recipes/train.py``), one job per module, so the script stays a loop.

=====================  ==============================================================================================
module                 job
=====================  ==============================================================================================
``recipe``             the recipe schema: :class:`RecipeConfig` read strictly from ``recipes/configs/*.yaml``
``schedule``           the learning-rate policy (:func:`poly_lr`, :class:`PolyWarmupLR`) and :func:`create_optimizer`
``batching``           the batch plan (:func:`plan_batches`) and the :class:`GlobalBatchSampler` that makes resume exact
``initialization``     ImageNet weights for the context path (:func:`load_backbone_weights`)
``model``              the model factory, batch-norm handling and one :func:`training_step`
``data``               the recipe's training and validation sets
``checkpoints``        checkpoints that resume exactly and contain no pickle (:class:`CheckpointManager`)
``logs``               ``train_log.jsonl`` (:class:`TrainLog`), tolerant of a kill mid-line
``record``             ``training.json`` (schema in :mod:`dabnet_zoo.results`), which marks a finished run
=====================  ==============================================================================================

Every public name is importable from ``dabnet_zoo.training`` itself; the submodules load on first use, so reading
a recipe does not import what training needs. Nothing here imports the recipes, and nothing imports
``accelerate`` at module level (the functions that need the run's accelerator take it as an argument).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import RecipeError
from ..lazy import lazy_exports

_EXPORTS = {
    "recipe": ("BatchConfig", "DataConfig", "OptimizerConfig", "RESOLVED_CONFIG_FILE", "RecipeConfig",
               "ScheduleConfig", "dump_recipe", "load_recipe", "recipe_from_dict"),
    "schedule": ("PolyWarmupLR", "create_optimizer", "create_scheduler", "poly_lr"),
    "batching": ("BatchPlan", "GlobalBatchSampler", "check_batch_norm_batch", "plan_batches"),
    "initialization": ("DEFAULT_BACKBONE_WEIGHTS", "OPENMMLAB_URLS", "load_backbone_weights"),
    "model": ("convert_sync_batchnorm", "create_training_model", "freeze_batch_norm", "sync_batchnorm_applies",
              "training_step"),
    "data": ("ConcatSegmentationDataset", "create_train_dataset", "create_val_dataset"),
    "checkpoints": ("CHECKPOINT_FORMAT", "Checkpoint", "CheckpointManager", "RESUME_FILE", "TrainingState",
                    "capture_rng_state", "read_checkpoint", "read_resume_info", "restore_checkpoint",
                    "restore_rng_state"),
    "logs": ("TRAIN_LOG_FILE", "TrainLog"),
    "record": ("CHECKPOINTS_DIR", "FINAL_DIR", "LOGS_DIR", "TRAINING_KEYS", "TRAINING_RESULTS_FILE",
               "TRAINING_SCHEMA", "build_training_record", "environment_summary", "final_eval_record", "finished_run",
               "write_training_results"),
}

if TYPE_CHECKING:
    from .batching import BatchPlan, GlobalBatchSampler, check_batch_norm_batch, plan_batches
    from .checkpoints import (
        CHECKPOINT_FORMAT,
        RESUME_FILE,
        Checkpoint,
        CheckpointManager,
        TrainingState,
        capture_rng_state,
        read_checkpoint,
        read_resume_info,
        restore_checkpoint,
        restore_rng_state,
    )
    from .data import ConcatSegmentationDataset, create_train_dataset, create_val_dataset
    from .initialization import DEFAULT_BACKBONE_WEIGHTS, OPENMMLAB_URLS, load_backbone_weights
    from .logs import TRAIN_LOG_FILE, TrainLog
    from .model import (
        convert_sync_batchnorm,
        create_training_model,
        freeze_batch_norm,
        sync_batchnorm_applies,
        training_step,
    )
    from .recipe import (
        RESOLVED_CONFIG_FILE,
        BatchConfig,
        DataConfig,
        OptimizerConfig,
        RecipeConfig,
        ScheduleConfig,
        dump_recipe,
        load_recipe,
        recipe_from_dict,
    )
    from .record import (
        CHECKPOINTS_DIR,
        FINAL_DIR,
        LOGS_DIR,
        TRAINING_KEYS,
        TRAINING_RESULTS_FILE,
        TRAINING_SCHEMA,
        build_training_record,
        environment_summary,
        final_eval_record,
        finished_run,
        write_training_results,
    )
    from .schedule import PolyWarmupLR, create_optimizer, create_scheduler, poly_lr


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = sorted(["RecipeError", *(name for names in _EXPORTS.values() for name in names)])
