#!/usr/bin/env python
"""Train a DABNet variant with the original project's recipe (reference spec §9), on any Accelerate setup.

*What* is trained comes from a recipe file, ``recipes/configs/<variant>.<dataset>.yaml`` (model, data and
augmentation, global batch, optimiser, schedule, initialisation). *How* it runs comes from the flags (devices,
precision, output folder, resume, checkpoint/evaluation frequency, per-device batch). The global batch of the
recipe is kept on any number of processes by gradient accumulation; the log says how.

    accelerate launch recipes/train.py --config recipes/configs/dabnet_r18_p2.cityscapes.yaml \\
        --data-root data/cityscapes --output-dir runs/dabnet_r18_p2.cityscapes
    ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 recipes/train.py --config ... --cpu   # 2 real CPU processes
    accelerate launch recipes/train.py --output-dir runs/... --resume                        # continue a run

The output folder receives ``config.yaml`` (the resolved recipe), ``checkpoints/checkpoint_<iteration>/``
(``accelerator.save_state`` + ``resume.json``, written atomically, the last ``--keep-checkpoints`` kept),
``logs/`` (TensorBoard, ``train_log.jsonl`` and one ``rank_<r>.json`` per process), and at the end ``final/``
(``save_pretrained`` model + image processor + ``README.md``, the run's model card) and ``training.json`` (what
the card is rendered from). See ``recipes/README.md`` for every variant x dataset command and multi-GPU /
multi-node launches.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import socket
import sys
import time
from datetime import datetime, timezone
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
    from dabnet_zoo.training import DEFAULT_BACKBONE_WEIGHTS, RESOLVED_CONFIG_FILE, load_recipe
    from dabnet_zoo.registry import VARIANTS

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

    from dabnet_zoo import create_model, create_processor
    from dabnet_zoo.evaluation import evaluate_model
    from dabnet_zoo.results import write_atomic
    from dabnet_zoo.training import (
        RESOLVED_CONFIG_FILE, TRAINING_RESULTS_FILE, TRAINING_SCHEMA, CheckpointManager, GlobalBatchSampler,
        RecipeError, TrainingState, convert_sync_batchnorm, create_optimizer, create_scheduler, create_train_dataset,
        create_val_dataset, dump_recipe, environment_summary, freeze_batch_norm, load_backbone_weights, plan_batches,
        read_resume_info, write_training_results,
    )

    output_dir = Path(args.output_dir)
    recipe, config_path = resolve_recipe(args)

    # ---- Accelerator (how it runs) ---------------------------------------------------------------------------
    report_to = None if args.report_to == "none" else args.report_to.split(",")
    accelerator = Accelerator(
        cpu=args.cpu,
        mixed_precision=args.mixed_precision,
        log_with=report_to,
        project_dir=str(output_dir / "logs"),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False, broadcast_buffers=False)],
    )
    logging.basicConfig(format=f"%(asctime)s [rank {accelerator.process_index}] %(levelname)s %(name)s: "
                        "%(message)s", level=logging.INFO if accelerator.is_main_process else logging.WARNING)
    for noisy in ("accelerate", "torch.distributed"):  # per-file save/load messages
        logging.getLogger(noisy).setLevel(logging.WARNING)
    plan = plan_batches(recipe.batch.global_batch_size,
                        args.per_device_batch_size or recipe.batch.per_device_batch_size, accelerator.num_processes)
    accelerator.gradient_accumulation_steps = plan.accumulation

    checkpoints = CheckpointManager(output_dir / "checkpoints", keep=args.keep_checkpoints)
    resume_from = None
    if args.resume is not None:
        resume_from = CheckpointManager.resolve(output_dir if args.resume is True else args.resume)
        _check_resume_compatible(read_resume_info(resume_from)["recipe"], recipe)
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

    model = create_model(recipe.model, recipe.dataset, auxiliary_loss_weights=tuple(recipe.loss_weights[1:]),
                         **recipe.model_overrides)
    init_report = None
    if recipe.init and resume_from is None:  # a resumed run gets its weights from the checkpoint
        init_report = load_backbone_weights(model, recipe.init)
    sync_bn = False
    if recipe.sync_bn and not recipe.freeze_bn:
        model, sync_bn = convert_sync_batchnorm(model, accelerator.device, accelerator.num_processes)
    if plan.per_device < 2 and not recipe.freeze_bn and not sync_bn:
        raise RecipeError("A per-device batch of 1 cannot train batch norm: DABNet's attention modules normalise "
                          "1x1 pooled features, which needs at least 2 values per channel. Use "
                          "--per-device-batch-size 2 or more (accumulation keeps the global batch).")
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
    accelerator.register_for_checkpointing(scheduler)
    accelerator.register_for_checkpointing(state)
    set_seed(recipe.seed, device_specific=True)  # dropout differs per process, as in DDP training
    if resume_from is not None:
        accelerator.load_state(str(resume_from))  # model, optimiser, schedule, counters and every RNG
        state.resumed_from.append(str(resume_from))
        logger.info("Resumed from %s at iteration %d", resume_from, state.step)

    sampler = GlobalBatchSampler(len(train_dataset), plan, accelerator.process_index, recipe.seed)
    loader = DataLoader(
        train_dataset, batch_sampler=sampler, num_workers=recipe.data.num_workers,
        pin_memory=accelerator.device.type == "cuda",
        generator=torch.Generator().manual_seed(recipe.seed),  # keeps the global RNG untouched by the loader
    )

    # Written once the run is set up: a start that fails (no data, no weights) leaves no run folder behind.
    command = shlex.join([os.path.basename(sys.executable), *sys.argv])
    if accelerator.is_main_process:
        write_atomic(output_dir / RESOLVED_CONFIG_FILE,
                     dump_recipe(recipe, f"Resolved recipe of this run (from {config_path}).\nCommand: {command}"))
    if accelerator.is_main_process and report_to:
        accelerator.init_trackers(recipe.name, config=_flat_hparams({**recipe.to_dict(), "batch_plan": plan.to_dict()}))

    max_iters = recipe.schedule.max_iters
    stop_at = min(max_iters, args.stop_after) if args.stop_after else max_iters
    rank_log = {"rank": accelerator.process_index, "world_size": accelerator.num_processes,
                "local_rank": accelerator.local_process_index, "pid": os.getpid(), "host": socket.gethostname(),
                "device": str(accelerator.device), "start_iteration": state.step, "first_micro_batches": []}
    log_path = output_dir / "logs" / "train_log.jsonl"
    if resume_from is not None and accelerator.is_main_process and log_path.is_file():
        # Drop what was logged after the checkpoint (a crashed run got further): those iterations run again.
        kept = [line for line in log_path.read_text().splitlines() if json.loads(line)["iteration"] <= state.step]
        write_atomic(log_path, "".join(line + "\n" for line in kept))

    def train_mode() -> None:  # model.train() puts every batch-norm layer in training mode again
        model.train()
        if recipe.freeze_bn:
            freeze_batch_norm(model)

    def evaluate(step: int) -> dict:
        results = evaluate_model(accelerator.unwrap_model(model), val_dataset, accelerator=accelerator,
                                 num_workers=min(recipe.data.num_workers, 2), progress=False)
        train_mode()  # evaluate_model restores train() mode, which unfreezes batch norm
        record = {"iteration": step, **{k: results[k] for k in ("mean_iou", "mean_accuracy", "overall_accuracy")}}
        state.evaluations.append(record)
        logger.info("Iteration %d: mIoU %.4f, mAcc %.4f, aAcc %.4f on %d %s images", step, results["mean_iou"],
                    results["mean_accuracy"], results["overall_accuracy"], results["num_images"],
                    recipe.data.val_split)
        accelerator.log({f"val/{k}": v for k, v in record.items() if k != "iteration"}, step=step)
        return results

    def save_checkpoint(step: int) -> None:
        path = checkpoints.save(accelerator, step, {"recipe": recipe.to_dict(), "batch": plan.to_dict(),
                                                    "world_size": accelerator.num_processes})
        logger.info("Checkpoint %s", path)

    # ---- Loop -------------------------------------------------------------------------------------------------
    train_mode()
    final_results = None
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
            pixel_values = batch["image"].to(accelerator.device, non_blocking=True)
            labels = batch["label"].to(accelerator.device, non_blocking=True)
            with accelerator.accumulate(model):
                loss = model(pixel_values=pixel_values, labels=labels).loss
                accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            step_loss += loss.detach().float() / plan.accumulation
            if not accelerator.sync_gradients:
                continue
            lr = scheduler.get_last_lr()[0]  # the lr this iteration used (mmcv logs it at "iteration + 1")
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
                    log_path.parent.mkdir(parents=True, exist_ok=True)
                    with log_path.open("a") as handle:
                        handle.write(json.dumps(record) + "\n")
                    if progress is None:
                        logger.info("Iteration %d/%d: loss %.4f, lr %.3e, %.2f s/it", step, max_iters, mean_loss,
                                    lr, record["seconds_per_iteration"])
                window_loss.zero_()
                window_steps, window_start = 0, time.perf_counter()
                if progress is not None:
                    progress.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.3e}", refresh=False)
            if progress is not None:
                progress.update(1)
            pause = time.perf_counter()
            if (recipe.eval_every and step % recipe.eval_every == 0) or step == max_iters:
                results = evaluate(step)
                if step == max_iters:
                    final_results = results
            if (recipe.checkpoint_every and step % recipe.checkpoint_every == 0) or step == stop_at:
                state.wall_time = wall_time_before + time.perf_counter() - run_start
                save_checkpoint(step)
            window_start += time.perf_counter() - pause  # seconds per iteration exclude evaluation and saving
            if step >= stop_at:
                break
    if progress is not None:
        progress.close()
    state.wall_time = wall_time_before + time.perf_counter() - run_start

    rank_log["end_iteration"] = state.step
    rank_file = output_dir / "logs" / f"rank_{accelerator.process_index}.json"
    rank_file.parent.mkdir(parents=True, exist_ok=True)
    rank_file.write_text(json.dumps(rank_log) + "\n")

    if state.step < max_iters:
        logger.info("Stopped after iteration %d of %d (--stop-after); continue with --resume.", state.step, max_iters)
        accelerator.end_training()
        return 0

    # ---- Final model, processor and training results ----------------------------------------------------------
    final_dir, staging = output_dir / "final", output_dir / ".final.partial"
    unwrapped = accelerator.unwrap_model(model)
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()
    unwrapped.save_pretrained(staging, is_main_process=accelerator.is_main_process, save_function=accelerator.save)
    if accelerator.is_main_process:
        processor_overrides = {}
        if recipe.data.eval_size:
            processor_overrides["size"] = {"height": recipe.data.eval_size[0], "width": recipe.data.eval_size[1]}
        create_processor(recipe.dataset, **processor_overrides).save_pretrained(staging)
        if final_dir.exists():
            shutil.rmtree(final_dir)
        os.replace(staging, final_dir)

        hardware, software = environment_summary(accelerator.device)
        optimizer_info = recipe.to_dict()["optimizer"]
        schedule = recipe.schedule
        write_training_results(output_dir / TRAINING_RESULTS_FILE, {
            "schema": TRAINING_SCHEMA,
            "model": recipe.name,
            "variant": recipe.model,
            "dataset": recipe.dataset,
            "recipe": str(config_path),
            "description": recipe.description,
            "original_config": recipe.original_config,
            "init": init_report["source"] if init_report else recipe.init,
            "iterations": state.step,
            "max_iters": max_iters,
            "batch": plan.to_dict(),
            "optimizer": optimizer_info,
            "lr_schedule": {"policy": "poly", "base_lr": recipe.optimizer.lr, "power": schedule.power,
                            "min_lr": schedule.min_lr, "warmup": "linear" if schedule.warmup_iters else None,
                            "warmup_iters": schedule.warmup_iters, "warmup_ratio": schedule.warmup_ratio,
                            "by": "iteration"},
            "loss_weights": list(recipe.loss_weights),
            "mixed_precision": str(accelerator.mixed_precision),
            "sync_bn": sync_bn,
            "freeze_bn": recipe.freeze_bn,
            "seed": recipe.seed,
            "wall_time_s": round(state.wall_time, 1),
            "hardware": {"device": accelerator.device.type, "name": hardware,
                         "num_processes": accelerator.num_processes,
                         "num_machines": max(1, accelerator.num_processes // int(os.environ.get(
                             "LOCAL_WORLD_SIZE", accelerator.num_processes)))},
            "software": software,
            "evaluations": state.evaluations,
            "final_eval": None if final_results is None else {
                "split": recipe.data.val_split, "mode": "whole", "num_images": final_results["num_images"],
                "eval_size": list(val_dataset.transform.size),
                **{k: final_results[k] for k in ("mean_iou", "mean_accuracy", "overall_accuracy")},
                "per_category_iou": {k: (None if v != v else v) for k, v in final_results["per_category_iou"].items()},
            },
            "resumed_from": state.resumed_from,
            "outputs": {"final": "final", "config": RESOLVED_CONFIG_FILE, "checkpoints": "checkpoints",
                        "logs": "logs"},
            "command": command,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        # The model card of the run, in the folder that `dabnet-zoo push` uploads (it prefers this card).
        from dabnet_zoo.cards import write_training_card
        from dabnet_zoo.data.synthetic import is_synthetic_root
        from dabnet_zoo.errors import DabnetZooError

        try:
            card = write_training_card(output_dir / TRAINING_RESULTS_FILE, final_dir,
                                       synthetic=is_synthetic_root(args.data_root) or None).name
        except DabnetZooError as error:  # e.g. no Jinja2: the trained model is kept, the card can follow
            card = "not written"
            logger.warning("No model card written (%s). Once fixed: python -c \"from dabnet_zoo.cards import "
                           "write_training_card; write_training_card('%s', '%s')\"", error,
                           output_dir / TRAINING_RESULTS_FILE, final_dir)
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
