#!/usr/bin/env python
"""Write ``recipes/configs/<variant>.<dataset>.yaml`` for every variant x dataset from the dataset presets.

Each dataset's recipe (splits, training scale, batch, SGD learning rate, iterations, validation interval) is its
:class:`dabnet_zoo.presets.TrainingRecipe`; this script adds what is common to all of them and what depends on the
variant (DABNet-E's Adam optimiser), and the notes on what the original project records (docs/architecture.md
describes its recipes). The files are generated so that they cannot drift apart; edit the presets or the notes
below, then run

    python recipes/generate_configs.py           # rewrite the files
    python recipes/generate_configs.py --check   # exit 1 when a file differs from the table (CI)

``tests/test_training.py`` checks the files against the original's recipe table independently.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dabnet_zoo.presets import DATASETS
from dabnet_zoo.registry import VARIANTS
from dabnet_zoo.training import DEFAULT_BACKBONE_WEIGHTS, dump_recipe, recipe_from_dict

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

SGD = {"name": "sgd", "momentum": 0.9, "weight_decay": 5e-4}  # + lr
ADAM_E = {"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999], "eps": 1e-8, "weight_decay": 0.0}
WARMUP = {"warmup_iters": 1000, "warmup_ratio": 0.1}
NO_WARMUP = {"warmup_iters": 0, "warmup_ratio": 0.1}

ORIGINAL_CONFIGS = {
    ("dabnet_r18_p2", "cityscapes"): "configs/dabnet/dabnet_r18-d32_in1k-pre_4x8_1024x1024_80k_cityscapes.py",
    ("dabnet_effb1", "cityscapes"): "configs/dabnet/dabnet_eb_in1k-pre_4x8_1024x1024_80k_cityscapes.py",
    ("dabnet_r18_p2", "coco_stuff10k"):
        "configs/dabnet/dabnet_r18-d32_in1k-pre_lr5e-3_4x4_512x512_80k_coco-stuff10k.py",
    ("dabnet_effb1", "coco_stuff10k"): "configs/dabnet/dabnet_eb_in1k-pre_4x8_80k_coco10k.py",
    ("dabnet_r18_p2", "coco_stuff164k"):
        "configs/dabnet/dabnet_r18-d32_in1k-pre_lr5e-3_4x4_512x512_160k_coco-stuff164k.py",
}
LOG_NAMES = {"dabnet_r18_p1": "logs/dabnet-P1.log", "dabnet_r18_p2": "logs/dabnet-cityscapes.log",
             "dabnet_r18_p4": "logs/dabnet-P4.log", "dabnet_r18_p8": "logs/DABNet-P8.log",
             "dabnet_r18_p16": "logs/dabnet-P16.log", "dabnet_effb1": "logs/dabnet-E-cityscapes.log"}


def recipe_data(variant: str, dataset: str) -> tuple[dict, str]:
    """(recipe dict, header comment) of one variant x dataset."""
    effnet = VARIANTS[variant].context_path == "efficientnet_b1"
    preset = DATASETS[dataset]
    plan = preset.recipe  # the R variants'; E trains with Adam (ADAM_E) and no warm-up everywhere
    notes: list[str] = []
    header: list[str] = []
    per_device, global_batch = plan.per_device_batch, plan.global_batch
    if effnet and dataset == "cityscapes":  # the original's E Cityscapes config: 4 per GPU (16)
        per_device, global_batch = 4, 16
    optimizer = ADAM_E if effnet else {**SGD, "lr": plan.sgd_lr}
    schedule = {"max_iters": plan.max_iters, **(NO_WARMUP if effnet else WARMUP)}
    if dataset == "cityscapes":
        header.append(f"Reproduces the original's Cityscapes run of {variant} (training log {LOG_NAMES[variant]}).")
        if not effnet and variant != "dabnet_r18_p2":
            notes.append("The original has no config for this patch size: its run used the P2 Cityscapes config "
                         "with the SIM patch size changed (docs/architecture.md §1); every hyper-parameter is P2's.")
    elif dataset == "coco_stuff10k":
        notes.append("8 images per GPU x 4 GPUs: the '4x4' in the original R config's file name is stale "
                     "(samples_per_gpu=8 wins, docs/architecture.md §6.4).")
        if variant not in ("dabnet_r18_p2", "dabnet_effb1"):
            notes.append("Not trained by the original (only R-P2 and E were): the R-P2 COCO-Stuff-10k recipe "
                         "with this patch size.")
    elif dataset == "coco_stuff164k":
        notes.append("The original has this config for R-P2 only, with no log and no result "
                     "(docs/architecture.md §6.5); the number of GPUs is not recorded: 4, as in every other run "
                     "(global batch 32).")
        if effnet:
            notes.append("Not in the original: DABNet-E's COCO-Stuff-10k optimiser (Adam 1e-3, betas 0.5/0.999, "
                         "no warm-up) on the 160k schedule.")
        elif variant != "dabnet_r18_p2":
            notes.append("Not in the original: the R-P2 COCO-Stuff-164k recipe with this patch size.")
    elif dataset == "camvid":
        notes += [
            "The original has no CamVid model config and no log (docs/architecture.md §6.6). From its README: "
            "960x768 crops and inference, batch 2 per GPU x 4 GPUs, 10k iterations, trained on train+val, "
            "evaluated on test.",
            "NOT recorded anywhere, chosen here: the optimiser, learning rate and schedule, which are this "
            "variant's Cityscapes ones (R: SGD 0.025 with 1k warm-up; E: Adam 1e-3, betas 0.5/0.999), poly 0.9 "
            "to 1e-4; ImageNet initialisation (a Cityscapes-pretrained start is not recorded either); "
            "evaluation every 1000 iterations.",
            "Train+val resize scale 1536x768 (the original's camvid-trainval.py data config; camvid.py uses "
            "960x768).",
        ]
        if VARIANTS[variant].patch_size > 2:
            notes.append("With patch size > 2 a 960x768 input is not valid for the original network "
                         "(docs/architecture.md §4); the model zero-pads it internally to the next valid size.")
    original = ORIGINAL_CONFIGS.get((variant, dataset))
    if original is None and dataset == "cityscapes":
        original = (ORIGINAL_CONFIGS[("dabnet_r18_p2", "cityscapes")] + " (with the SIM patch size changed)")
    recipe = {
        "description": f"{variant} on {dataset}: the original DABNet training recipe"
                       + (" (partly assumed: see notes)" if not plan.fully_recorded or original is None else ""),
        "original_config": original,
        "notes": notes,
        "model": variant,
        "dataset": dataset,
        "init": DEFAULT_BACKBONE_WEIGHTS[VARIANTS[variant].context_path],
        "model_overrides": {},
        "loss_weights": [1.0, 0.4, 0.4],
        "data": {"train_split": plan.train_split, "val_split": plan.val_split, "scale": list(plan.scale),
                 "crop_size": list(preset.train_crop_size), "eval_size": list(preset.test_size),
                 "ratio_range": [0.5, 2.0], "cat_max_ratio": 0.75, "flip_prob": 0.5, "photometric": True,
                 "num_workers": 8},
        "batch": {"global_batch_size": global_batch, "per_device_batch_size": per_device},
        "optimizer": dict(optimizer),
        "schedule": {"power": 0.9, "min_lr": 1e-4, **schedule},
        "eval_every": plan.eval_interval,
        "checkpoint_every": plan.eval_interval,
        "sync_bn": True,
        "freeze_bn": False,
        "seed": 0,
    }
    header = [
        f"{variant}.{dataset}: what is trained (generated by recipes/generate_configs.py; edit the table there).",
        *header,
        "Train:  accelerate launch recipes/train.py --config recipes/configs/"
        f"{variant}.{dataset}.yaml --data-root DATA --output-dir runs/{variant}.{dataset}",
        f"Global batch {global_batch} (the original: {per_device} per GPU x {global_batch // per_device} GPUs) is "
        "kept on any number of processes by gradient accumulation.",
    ]
    return recipe, "\n".join(header)


def render(variant: str, dataset: str) -> str:
    data, header = recipe_data(variant, dataset)
    return dump_recipe(recipe_from_dict(data), header)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report files that differ; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for variant in VARIANTS:
        for dataset in DATASETS:
            path = CONFIG_DIR / f"{variant}.{dataset}.yaml"
            text = render(variant, dataset)
            if path.is_file() and path.read_text() == text:
                continue
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if args.check and stale:
        print("stale recipe files (run python recipes/generate_configs.py):", *map(str, stale), sep="\n  ")
        return 1
    print(f"{len(stale)} file(s) {'would change' if args.check else 'written'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
