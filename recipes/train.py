#!/usr/bin/env python
"""Train a DABNet variant with the original project's recipe (see docs/architecture.md), on any Accelerate setup.

*What* is trained comes from a recipe file, ``recipes/configs/<variant>.<dataset>.yaml`` (model, data and
augmentation, global batch, optimiser, schedule, initialisation). *How* it runs comes from the flags (devices,
precision, output folder, resume, checkpoint/evaluation frequency, per-device batch). The global batch of the
recipe is kept on any number of processes by gradient accumulation; the log says how.

    accelerate launch recipes/train.py --config recipes/configs/dabnet_r18_p2.cityscapes.yaml \\
        --data-root data/cityscapes --output-dir runs/dabnet_r18_p2.cityscapes
    ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 recipes/train.py --config ... --cpu   # 2 real CPU processes
    accelerate launch recipes/train.py --output-dir runs/... --resume                        # continue a run

The output folder receives ``config.yaml`` (the resolved recipe), ``checkpoints/checkpoint_<iteration>/``
(safetensors + JSON, no pickle; written atomically, the last ``--keep-checkpoints`` kept), ``logs/``
(TensorBoard, ``train_log.jsonl`` and one ``rank_<r>.json`` per process), and at the end ``final/``
(``save_pretrained`` model + image processor + ``README.md``, the run's model card) and, last, ``training.json``
(what the card is rendered from; it marks the run finished). A resumed run continues bit for bit as an
uninterrupted one would (same number of processes); a run killed after its last checkpoint finishes on
``--resume``; ``--resume`` on a finished run changes nothing. The loop is this file; every piece of it is in
:mod:`dabnet_zoo.training`. See ``recipes/README.md`` for every variant x dataset command and multi-GPU /
multi-node launches.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import socket
import sys
import time
from pathlib import Path

logger = logging.getLogger("dabnet_zoo.recipes.train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train a DABNet variant with the original recipe (Accelerate).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", help="recipe YAML (recipes/configs/<variant>.<dataset>.yaml); with --resume it "
                        "defaults to the output folder's config.yaml")
    parser.add_argument("--data-root", required=True, help="prepared dataset root (see `dabnet-zoo prepare`)")
    parser.add_argument("--output-dir", required=True, help="run folder: config, checkpoints, logs, final model")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even where a GPU is available")
    parser.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default=None,
                        help="autocast precision (default: accelerate's configuration, else no); CPU: no or bf16")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="DIR",
                        help="continue from the latest checkpoint of --output-dir, or from DIR (a checkpoint "
                        "folder or a run folder)")
    parser.add_argument("--max-iters", type=int, help="shorten/lengthen the schedule to N iterations (the poly "
                        "decay then runs over N)")
    parser.add_argument("--stop-after", type=int, metavar="N", help="stop after iteration N with a checkpoint, "
                        "without finishing the schedule (time-boxed jobs; continue with --resume)")
    parser.add_argument("--eval-every", type=int, help="iterations between validations (0: only at the end; "
                        "default: the recipe's)")
    parser.add_argument("--eval-at-start", action="store_true", help="also validate the untrained model")
    parser.add_argument("--checkpoint-every", type=int, help="iterations between checkpoints (0: only at the "
                        "end; default: the recipe's)")
    parser.add_argument("--keep-checkpoints", type=int, default=None, metavar="K", help="keep only the last K "
                        "checkpoints (default: all)")
    parser.add_argument("--seed", type=int, help="seed of initialisation, data order and augmentation "
                        "(default: the recipe's)")
    parser.add_argument("--init", help="backbone weights: 'imagenet' (the recipe's), 'none' (timm's random "
                        "init) or a local file (timm or mmcv key names)")
    parser.add_argument("--per-device-batch-size", type=int, help="images per process and forward pass; "
                        "gradient accumulation keeps the recipe's global batch (default: the recipe's)")
    parser.add_argument("--num-workers", type=int, help="data-loader workers per process (default: the recipe's)")
    parser.add_argument("--log-every", type=int, default=50, help="iterations between log lines (the original: 50)")
    parser.add_argument("--report-to", default="tensorboard", help="accelerate tracker(s): tensorboard, wandb, "
                        "all, none")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    args = parser.parse_args(argv)
    if args.config is None and args.resume is None:
        parser.error("--config is required (unless --resume continues a run with its saved config.yaml)")
    for name in ("max_iters", "stop_after", "eval_every", "checkpoint_every", "per_device_batch_size",
                 "num_workers", "log_every"):
        value = getattr(args, name)
        minimum = 0 if name in ("eval_every", "checkpoint_every", "num_workers") else 1
        if value is not None and value < minimum:
            parser.error(f"--{name.replace('_', '-')} must be >= {minimum}")
    return args


def resolve_recipe(args: argparse.Namespace):
    """The recipe file with the flags that change it applied (what is recorded in config.yaml)."""
    from dabnet_zoo.registry import VARIANTS
    from dabnet_zoo.training import DEFAULT_BACKBONE_WEIGHTS, RESOLVED_CONFIG_FILE, load_recipe

    config_path = Path(args.config) if args.config else Path(args.output_dir) / RESOLVED_CONFIG_FILE
    recipe = load_recipe(config_path)
    changes = {}
    if args.max_iters is not None:
        changes["schedule.max_iters"] = args.max_iters
    if args.eval_every is not None:
        changes["eval_every"] = args.eval_every
    if args.checkpoint_every is not None:
        changes["checkpoint_every"] = args.checkpoint_every
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.num_workers is not None:
        changes["data.num_workers"] = args.num_workers
    if args.init is not None:
        context_path = VARIANTS[recipe.model].context_path
        changes["init"] = {"imagenet": DEFAULT_BACKBONE_WEIGHTS[context_path], "none": None}.get(args.init, args.init)
    if args.max_iters is not None and args.max_iters < recipe.schedule.warmup_iters:
        changes["schedule.warmup_iters"] = args.max_iters
    return (recipe.replace(**changes) if changes else recipe), config_path


# Fields that may differ between a run and its resumption (they change how often things happen, not the result).
_RESUME_MAY_CHANGE = ("eval_every", "checkpoint_every", "data.num_workers")


def _check_resume_compatible(saved: dict, recipe) -> None:
    from dabnet_zoo.training import RecipeError

    current = recipe.to_dict()
    differ = []
    for key in sorted(set(saved) | set(current)):
        if isinstance(current.get(key), dict) and isinstance(saved.get(key), dict):
            differ += [f"{key}.{k}" for k in sorted(set(saved[key]) | set(current[key]))
                       if saved[key].get(k) != current[key].get(k)]
        elif saved.get(key) != current.get(key):
            differ.append(key)
    differ = [key for key in differ if key not in _RESUME_MAY_CHANGE]
    if differ:
        raise RecipeError(f"The checkpoint was trained with a different recipe ({', '.join(differ)} differ); "
                          "resume with the same --config and flags, or start a new --output-dir.")


def _flat_hparams(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat_hparams(value, f"{name}/"))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, set_seed
    from torch.utils.data import DataLoader

    from dabnet_zoo import create_processor
    from dabnet_zoo.evaluation import evaluate_model
    from dabnet_zoo.fileio import publish_dir, write_atomic
    from dabnet_zoo.training import (
        CHECKPOINTS_DIR, FINAL_DIR, LOGS_DIR, RESOLVED_CONFIG_FILE, TRAIN_LOG_FILE, TRAINING_RESULTS_FILE,
        CheckpointManager, GlobalBatchSampler, RecipeError, TrainingState, TrainLog, build_training_record,
        check_batch_norm_batch, convert_sync_batchnorm, create_optimizer, create_scheduler, create_train_dataset,
        create_training_model, create_val_dataset, dump_recipe, environment_summary, final_eval_record,
        finished_run, freeze_batch_norm, plan_batches, restore_checkpoint, sync_batchnorm_applies, training_step,
        write_training_results,
    )

    output_dir = Path(args.output_dir)
    recipe, config_path = resolve_recipe(args)

    # ---- Accelerator (how it runs) ---------------------------------------------------------------------------
    report_to = None if args.report_to == "none" else args.report_to.split(",")
    accelerator = Accelerator(
        cpu=args.cpu,
        mixed_precision=args.mixed_precision,
        log_with=report_to,
        project_dir=str(output_dir / LOGS_DIR),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False, broadcast_buffers=False)],
    )
    logging.basicConfig(format=f"%(asctime)s [rank {accelerator.process_index}] %(levelname)s %(name)s: "
                        "%(message)s", level=logging.INFO if accelerator.is_main_process else logging.WARNING)
    for noisy in ("accelerate", "torch.distributed"):  # per-file save/load messages
        logging.getLogger(noisy).setLevel(logging.WARNING)

    # A finished run stays finished: a requeued `--resume` changes nothing, a fresh start there is refused.
    finished = finished_run(output_dir)
    if finished is not None:
        if args.resume is None:
            raise RecipeError(f"{output_dir} holds a finished run ({TRAINING_RESULTS_FILE}); choose another "
                              "--output-dir.")
        logger.info("%s is a finished run (%d iterations, final mIoU %.4f): nothing to do.", output_dir,
                    finished["iterations"], finished["final_eval"]["mean_iou"])
        accelerator.end_training()
        return 0

    plan = plan_batches(recipe.batch.global_batch_size,
                        args.per_device_batch_size or recipe.batch.per_device_batch_size, accelerator.num_processes)
    sync_bn = recipe.sync_bn and not recipe.freeze_bn and sync_batchnorm_applies(accelerator.device,
                                                                                accelerator.num_processes)
    check_batch_norm_batch(plan, freeze_bn=recipe.freeze_bn, sync_bn=sync_bn)  # before anything is loaded
    accelerator.gradient_accumulation_steps = plan.accumulation

    checkpoints = CheckpointManager(output_dir / CHECKPOINTS_DIR, keep=args.keep_checkpoints)
    checkpoint = None
    if args.resume is not None:
        checkpoint = CheckpointManager.resolve(output_dir if args.resume is True else args.resume)
        _check_resume_compatible(checkpoint.info["recipe"], recipe)
    elif checkpoints.latest() is not None:
        raise RecipeError(f"{output_dir} already holds checkpoints ({checkpoints.latest().name}); pass --resume to "
                          "continue that run, or choose another --output-dir.")
    logger.info("Training %s from %s on %d process(es) (%s, mixed precision %s): %s", recipe.name, config_path,
                accelerator.num_processes, accelerator.device, accelerator.mixed_precision, plan.describe())

    # ---- Seed, data, model, optimiser, schedule (what is trained) --------------------------------------------
    set_seed(recipe.seed)  # the same initial weights on every process
    train_dataset = create_train_dataset(recipe, args.data_root)
    val_dataset = create_val_dataset(recipe, args.data_root)
    logger.info("Data: %d training images (%s), %d validation images (%s)", len(train_dataset),
                recipe.data.train_split, len(val_dataset), recipe.data.val_split)

    # A resumed run gets every weight from its checkpoint.
    model, _ = create_training_model(recipe, initialize_backbone=checkpoint is None)
    if sync_bn:
        model, _ = convert_sync_batchnorm(model, accelerator.device, accelerator.num_processes)
    if recipe.freeze_bn:
        logger.info("Batch norm frozen (freeze_bn): running statistics fixed, affine parameters trained.")
    else:
        covered = plan.per_device * (accelerator.num_processes if sync_bn else 1)
        logger.info("Batch-norm statistics cover %d image(s) per forward pass (%s; the original's SyncBN covered "
                    "its whole batch of %d)%s.", covered,
                    "SyncBatchNorm over the processes" if sync_bn else "per process; SyncBatchNorm needs CUDA and "
                    "several processes", recipe.batch.global_batch_size,
                    "; gradient accumulation keeps the gradient's batch, not the normalisation's"
                    if plan.accumulation > 1 else "")
    optimizer = create_optimizer(model, recipe.optimizer)
    scheduler = create_scheduler(optimizer, recipe.schedule)  # stepped once per iteration, never by accelerate

    model, optimizer = accelerator.prepare(model, optimizer)
    state = TrainingState()
    set_seed(recipe.seed, device_specific=True)  # dropout differs per process, as in DDP training
    if checkpoint is not None:
        exact = restore_checkpoint(checkpoint, accelerator, model=model, optimizer=optimizer, scheduler=scheduler,
                                   state=state)
        if not exact:
            set_seed(recipe.seed + state.step, device_specific=True)
            logger.warning("The checkpoint was saved by %d process(es), this run has %d: random generators are "
                           "seeded afresh, so the run continues correctly but not bit for bit as it would have.",
                           len(checkpoint.rng), accelerator.num_processes)
        state.resumed_from.append(str(checkpoint.path))
        logger.info("Resumed from %s at iteration %d", checkpoint.path, state.step)
        checkpoint = None  # frees the tensors read from it

    sampler = GlobalBatchSampler(len(train_dataset), plan, accelerator.process_index, recipe.seed)
    loader = DataLoader(
        train_dataset, batch_sampler=sampler, num_workers=recipe.data.num_workers,
        pin_memory=accelerator.device.type == "cuda",
        generator=torch.Generator().manual_seed(recipe.seed),  # keeps the global RNG untouched by the loader
    )

    # Written once the run is set up: a start that fails (no data, no weights) leaves no run folder behind.
    command = shlex.join([os.path.basename(sys.executable), *sys.argv])
    train_log = TrainLog(output_dir / LOGS_DIR / TRAIN_LOG_FILE)
    if accelerator.is_main_process:
        write_atomic(output_dir / RESOLVED_CONFIG_FILE,
                     dump_recipe(recipe, f"Resolved recipe of this run (from {config_path}).\nCommand: {command}"))
        # What was logged after the checkpoint (or by an attempt that never reached one) is logged again.
        train_log.truncate(state.step)
        if report_to:  # TensorBoard hides its events of those iterations the same way
            accelerator.init_trackers(
                recipe.name, config=_flat_hparams({**recipe.to_dict(), "batch_plan": plan.to_dict()}),
                init_kwargs={"tensorboard": {"purge_step": state.step + 1 if state.step else 0}},
            )

    max_iters = recipe.schedule.max_iters
    stop_at = min(max_iters, args.stop_after) if args.stop_after else max_iters
    rank_log = {"rank": accelerator.process_index, "world_size": accelerator.num_processes,
                "local_rank": accelerator.local_process_index, "pid": os.getpid(), "host": socket.gethostname(),
                "device": str(accelerator.device), "start_iteration": state.step, "first_micro_batches": []}

    def train_mode() -> None:  # model.train() puts every batch-norm layer in training mode again
        model.train()
        if recipe.freeze_bn:
            freeze_batch_norm(model)

    def evaluate(step: int) -> None:
        results = evaluate_model(accelerator.unwrap_model(model), val_dataset, accelerator=accelerator,
                                 num_workers=min(recipe.data.num_workers, 2), progress=False)
        train_mode()  # evaluate_model restores train() mode, which unfreezes batch norm
        record = {"iteration": step, **{k: results[k] for k in ("mean_iou", "mean_accuracy", "overall_accuracy")}}
        state.record_evaluation(record)
        if step == max_iters:
            state.final_eval = final_eval_record(results, split=recipe.data.val_split,
                                                 eval_size=val_dataset.transform.size)
        logger.info("Iteration %d: mIoU %.4f, mAcc %.4f, aAcc %.4f on %d %s images", step, results["mean_iou"],
                    results["mean_accuracy"], results["overall_accuracy"], results["num_images"],
                    recipe.data.val_split)
        accelerator.log({f"val/{k}": v for k, v in record.items() if k != "iteration"}, step=step)

    def save_checkpoint(step: int) -> None:
        path = checkpoints.save(accelerator, step, model=model, optimizer=optimizer, scheduler=scheduler,
                                state=state, info={"recipe": recipe.to_dict(), "batch": plan.to_dict(),
                                                   "world_size": accelerator.num_processes})
        logger.info("Checkpoint %s", path)

    # ---- Loop -------------------------------------------------------------------------------------------------
    train_mode()
    if args.eval_at_start and state.step == 0 and not state.evaluations:
        evaluate(0)
    progress = None
    if accelerator.is_main_process and not args.no_progress:
        from tqdm.auto import tqdm

        progress = tqdm(total=max_iters, initial=state.step, desc=recipe.name, unit="it", dynamic_ncols=True)
    window_loss = torch.zeros((), device=accelerator.device)
    window_steps, window_start = 0, time.perf_counter()
    step_loss = torch.zeros((), device=accelerator.device)
    run_start = time.perf_counter()
    wall_time_before = state.wall_time
    while state.step < stop_at:
        epoch, offset = divmod(state.step, sampler.steps_per_epoch)
        sampler.set_epoch(epoch, start_step=offset)
        train_dataset.set_epoch(epoch)
        loaded = iter(sampler)  # the sample indices of the micro-batches the loader yields, for the rank log
        for batch in loader:
            if len(rank_log["first_micro_batches"]) < 64:
                rank_log["first_micro_batches"].append(next(loaded))
            step_loss += training_step(model, batch, optimizer, accelerator).float() / plan.accumulation
            if not accelerator.sync_gradients:
                continue
            # The rate this iteration used: the log of iteration k shows poly_lr(k - 1), as mmcv's "Iter [k]".
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            state.step += 1
            window_loss += step_loss
            step_loss.zero_()
            window_steps += 1
            step = state.step
            if step % args.log_every == 0 or step == stop_at:
                mean_loss = accelerator.reduce(window_loss, reduction="mean").item() / window_steps
                elapsed = time.perf_counter() - window_start
                record = {"iteration": step, "epoch": epoch, "loss": mean_loss, "lr": lr,
                          "seconds_per_iteration": elapsed / window_steps}
                accelerator.log({"train/loss": mean_loss, "train/lr": lr}, step=step)
                if accelerator.is_main_process:
                    train_log.append(record)
                    if progress is None:
                        logger.info("Iteration %d/%d: loss %.4f, lr %.3e (the rate iteration %d used), %.2f s/it",
                                    step, max_iters, mean_loss, lr, step, record["seconds_per_iteration"])
                window_loss.zero_()
                window_steps, window_start = 0, time.perf_counter()
                if progress is not None:
                    progress.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.3e}", refresh=False)
            if progress is not None:
                progress.update(1)
            pause = time.perf_counter()
            if (recipe.eval_every and step % recipe.eval_every == 0) or step == max_iters:
                evaluate(step)
            if (recipe.checkpoint_every and step % recipe.checkpoint_every == 0) or step == stop_at:
                state.wall_time = wall_time_before + time.perf_counter() - run_start
                save_checkpoint(step)
            window_start += time.perf_counter() - pause  # seconds per iteration exclude evaluation and saving
            if step >= stop_at:
                break
    if progress is not None:
        progress.close()
    if state.step > rank_log["start_iteration"]:  # a run finished from its last checkpoint trained nothing
        state.wall_time = wall_time_before + time.perf_counter() - run_start

    rank_log["end_iteration"] = state.step
    write_atomic(output_dir / LOGS_DIR / f"rank_{accelerator.process_index}.json", json.dumps(rank_log) + "\n")

    if state.step < max_iters:
        logger.info("Stopped after iteration %d of %d (--stop-after); continue with --resume.", state.step, max_iters)
        accelerator.end_training()
        return 0

    # ---- Finish: final/ (model, processor, card), then training.json, which marks the run finished ------------
    final_dir = output_dir / FINAL_DIR
    if accelerator.is_main_process:
        hardware, software = environment_summary(accelerator.device, accelerator.num_processes)
        record = build_training_record(recipe, state, config_path=config_path, plan=plan,
                                       mixed_precision=accelerator.mixed_precision, sync_bn=sync_bn,
                                       hardware=hardware, software=software, command=command)
        from dabnet_zoo.cards import write_training_card
        from dabnet_zoo.data.synthetic import is_synthetic_root
        from dabnet_zoo.errors import DabnetZooError

        card = "README.md"
        with publish_dir(final_dir, overwrite=True) as stage:
            accelerator.unwrap_model(model).save_pretrained(stage)
            processor_overrides = {}
            if recipe.data.eval_size:
                processor_overrides["size"] = {"height": recipe.data.eval_size[0], "width": recipe.data.eval_size[1]}
            create_processor(recipe.dataset, **processor_overrides).save_pretrained(stage)
            try:  # the run's model card, in the folder that `dabnet-zoo push` uploads (it prefers this card)
                write_training_card(record, stage, model_path=final_dir,
                                    synthetic=is_synthetic_root(args.data_root) or None)
            except DabnetZooError as error:  # e.g. no Jinja2: the trained model is kept, the card can follow
                card = "not written"
                logger.warning("No model card written (%s). Once fixed: python -c \"from dabnet_zoo.cards import "
                               "write_training_card; write_training_card('%s', '%s')\"", error,
                               output_dir / TRAINING_RESULTS_FILE, final_dir)
        write_training_results(output_dir / TRAINING_RESULTS_FILE, record)
        logger.info("Done: %s (model + processor + model card %s) and %s", final_dir, card,
                    output_dir / TRAINING_RESULTS_FILE)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # known errors: one line (DABNET_ZOO_DEBUG=1 shows the traceback)
        from dabnet_zoo.errors import DabnetZooError

        if isinstance(error, DabnetZooError) and not os.environ.get("DABNET_ZOO_DEBUG"):
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        raise
