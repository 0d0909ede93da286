# Evaluate a DABNet model on a prepared dataset with the original test protocol, or export Cityscapes test-server
# predictions.
#
# MODEL is a zoo name (dabnet_r18_p2, dabnet_r18_p2.camvid: published weights, or random ones with a warning),
# a save_pretrained / converted folder, or a Hub repo id. The default is the original's protocol (see
# docs/architecture.md): whole-image inference at the test size, logits resized to the network input and then to
# the label size, argmax. The test size and normalisation are those of the processor saved beside the weights
# (preprocessor_config.json; a converted checkpoint carries its dataset's, e.g. Cityscapes 1024x2048 keeping the
# ratio), else the dataset preset's with the model's normalisation (as predict); --test-size H W takes the preset
# at that size instead.
# --mode slide and --mode ms+flip are options; reported numbers use whole.
#
#   accelerate launch recipes/evaluate.py MODEL --dataset cityscapes --data-root ROOT [--split val]
#       [--mode whole|slide|ms+flip] [--results-dir results]
#   accelerate launch recipes/evaluate.py MODEL --dataset cityscapes --data-root ROOT --format-only --out DIR
#   python recipes/evaluate.py ...                                   (one process, same options)
#   ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 recipes/evaluate.py ...   (two CPU processes, gloo)
#
# A bad input stops every process with one line from the main one ("error: ...") and exit status 2; add
# accelerate's --quiet (accelerate launch --quiet ...) to drop the launcher's own traceback after it.
#
# The main process prints the per-class table and writes results/<variant>.<dataset>/<split>_<mode>.json
# (schema dabnet-zoo/eval/v2: the data evaluated, synthetic or not, the test size and the weights' sha256; the model
# cards read the results of their own weights only), recording the command. The result is exact on any number
# of processes. --format-only writes one labelId PNG per test image into --out, checks the set of files against
# the test images and zips it (--zip, default <out>.zip), ready to upload.
# All the logic lives in dabnet_zoo.evaluation; this script only parses flags and wires it up.

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from accelerate import Accelerator

from dabnet_zoo import DabnetZooError, InputError, OutputExistsError, get_dataset_preset, load_model
from dabnet_zoo.data import TestTransform, create_dataset
from dabnet_zoo.evaluation import (
    DEFAULT_SCALES,
    describe_weights,
    evaluate_model,
    evaluation_record,
    export_cityscapes_submission,
    format_results_table,
)
from dabnet_zoo.modeling_dabnet import DabnetForSemanticSegmentation
from dabnet_zoo.presets import DATASETS
from dabnet_zoo.registry import ModelRef, identify_config, resolve_model, split_model_name
from dabnet_zoo.data.synthetic import is_synthetic_root
from dabnet_zoo.results import EVAL_MODES, SYNTHETIC, evaluation_file_name, write_evaluation_result
from dabnet_zoo.weights import weights_sha256
from dabnet_zoo.zoo import model_processor, with_size

logger = logging.getLogger("evaluate")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Evaluate a DABNet model with the original test protocol, or export Cityscapes test-server PNGs."
    )
    parser.add_argument("model", metavar="MODEL", help="zoo name, save_pretrained folder or Hub repo id")
    parser.add_argument("--dataset", choices=sorted(DATASETS),
                        help="dataset preset (default: the zoo name's .dataset tag, else cityscapes)")
    parser.add_argument("--data-root", required=True, metavar="ROOT", help="the prepared dataset's root folder")
    parser.add_argument("--split", help="split to evaluate (default: the one the original validates on: val, test "
                                        "for camvid and coco_stuff10k; test for --format-only)")
    parser.add_argument("--mode", choices=EVAL_MODES, default="whole", help="inference mode (default: whole)")
    parser.add_argument("--crop-size", type=int, nargs=2, metavar=("H", "W"),
                        help="slide: window size (default: the dataset's training crop)")
    parser.add_argument("--stride", type=int, nargs=2, metavar=("H", "W"),
                        help="slide: window step (default: two thirds of the crop)")
    parser.add_argument("--scales", type=float, nargs="+", default=list(DEFAULT_SCALES), metavar="S",
                        help="ms+flip: scale factors (default: the original's 0.5 ... 1.75)")
    parser.add_argument("--no-flip", action="store_true", help="ms+flip: do not add mirrored passes")
    parser.add_argument("--test-size", type=int, nargs=2, metavar=("H", "W"),
                        help="test at this size instead of the model's saved processor or the dataset preset "
                             "(faster, but not the original protocol)")
    parser.add_argument("--batch-size", type=int, default=1, help="images per process and step (default 1)")
    parser.add_argument("--num-workers", type=int, default=2, help="data-loading workers per process (default 2)")
    parser.add_argument("--results-dir", default="results", metavar="DIR",
                        help="where results/<variant>.<dataset>/*.json go (default: results)")
    parser.add_argument("--no-results", action="store_true", help="print the table only; write no results file")
    parser.add_argument("--model-name", metavar="VARIANT",
                        help="zoo variant to file the results under (default: inferred from the model's config)")
    parser.add_argument("--format-only", action="store_true",
                        help="Cityscapes: write test-server PNGs and a zip instead of computing metrics")
    parser.add_argument("--out", metavar="DIR", help="--format-only: folder for the PNGs")
    parser.add_argument("--zip", metavar="FILE", help="--format-only: the archive (default: <out>.zip)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing results file, PNGs or zip")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is available")
    parser.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no",
                        help="autocast the forward pass (default: no; the original evaluates in fp32)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.format_only and not args.out:
        parser.error("--format-only needs --out DIR")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    accelerator = Accelerator(cpu=args.cpu, mixed_precision=args.mixed_precision)
    logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING,
                        format="%(message)s")
    try:
        return run(args, accelerator)
    except DabnetZooError as error:  # raised on every process alike (dabnet_zoo.evaluation raises together)
        if accelerator.is_main_process:
            print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        accelerator.end_training()


def run(args: argparse.Namespace, accelerator: Accelerator) -> int:
    ref = resolve_model(args.model, args.dataset)  # a mistyped folder fails here, before anything is loaded
    dataset = ref.dataset or "cityscapes"  # given, named, or the folder's classes; a Hub id's are checked below
    preset = get_dataset_preset(dataset)
    options = dict(
        accelerator=accelerator, batch_size=args.batch_size, mode=args.mode, scales=args.scales,
        flip=not args.no_flip, crop_size=tuple(args.crop_size or preset.train_crop_size),
        stride=tuple(args.stride) if args.stride else None, num_workers=args.num_workers,
        progress=not args.no_progress and sys.stderr.isatty(),
    )

    if args.format_only and dataset != "cityscapes":  # before loading (perhaps downloading) the model
        raise InputError(f"--format-only writes the Cityscapes test-server format; got --dataset {dataset}.")
    model = load_model(ref)
    ref = ref.with_config(model.config)
    found = identify_config(model.config).datasets
    if found and dataset not in found:
        raise InputError(f"{args.model} has the classes of {' or '.join(found)}, not {dataset}; pass --dataset "
                         f"{found[0]}.")
    transform = test_transform(args, ref, model, dataset, accelerator.is_main_process)
    if args.format_only:
        out = Path(args.out)
        zip_path = Path(args.zip) if args.zip else out.with_name(out.name + ".zip")
        submission = export_cityscapes_submission(
            model, args.data_root, out, zip_path, split=args.split or "test", transform=transform,
            overwrite=args.overwrite, **options,
        )
        if accelerator.is_main_process:
            print(f"Wrote {submission.num_images} PNGs to {submission.png_dir} and zipped them into "
                  f"{submission.zip_path}: ready to upload to the Cityscapes test server.")
        return 0

    split = args.split or preset.recipe.val_split
    evaluated_on = SYNTHETIC if is_synthetic_root(args.data_root) else dataset  # never file synthetic as real
    results_path = weights = variant = None
    if not args.no_results:
        weights = describe_weights(ref, model)
        variant = split_model_name(args.model_name, dataset)[0].name if args.model_name else ref.variant
        if weights is None:
            if accelerator.is_main_process:
                logger.warning("%s has random weights: the table is printed, but no results file is written.",
                               args.model)
        elif variant is None:
            raise InputError(f"Cannot tell which zoo variant {args.model} is; pass --model-name (e.g. dabnet_r18_p2) "
                             "or --no-results.")
        else:
            record_name = evaluation_file_name({"split": split, "mode": args.mode, "dataset": dataset,
                                                "test_size": transform.size, "evaluated_on": evaluated_on})
            results_path = Path(args.results_dir) / f"{variant}.{dataset}" / record_name
            if results_path.exists() and not args.overwrite:  # fail before the evaluation, not after it
                raise OutputExistsError(f"{results_path} already exists; pass --overwrite to replace it.")

    data = create_dataset(dataset, args.data_root, split, transform=transform)
    if accelerator.is_main_process:
        logger.info("Evaluating %s on %s %s (%d images, %s mode, %d process(es))", args.model, dataset, split,
                    len(data), args.mode, accelerator.num_processes)
    results = evaluate_model(model, data, **options)

    if accelerator.is_main_process:
        print(format_results_table(results))
        data_name = dataset if evaluated_on == dataset else f"{evaluated_on} data in the {dataset} layout"
        print(f"{results['num_images']} images, {data_name}, {split} split, {args.mode} mode")
        if results_path is not None:
            record = evaluation_record(
                results, model=variant, dataset=dataset, split=split, mode=args.mode,
                test_size=transform.size, keep_ratio=transform.keep_ratio, evaluated_on=evaluated_on,
                weights=weights, weights_sha256=weights_sha256(ref, model),
                command=_command(accelerator),
            )
            write_evaluation_result(results_path, record, overwrite=args.overwrite)  # logs the path
    return 0


def test_transform(
    args: argparse.Namespace, ref: ModelRef, model: DabnetForSemanticSegmentation, dataset: str, main_process: bool
) -> TestTransform:
    """The test protocol, chosen as ``predict`` chooses it (:func:`dabnet_zoo.zoo.model_processor`): the processor
    saved beside the model's weights, else the dataset preset's with the model's normalisation; ``--test-size``
    takes the preset at that size instead."""
    processor = model_processor(ref, model, dataset, use_saved=not args.test_size)
    if args.test_size:
        processor = with_size(processor, tuple(args.test_size))
        if main_process:
            logger.warning("Test size %s instead of the original's %s: numbers are not comparable with the paper's.",
                           tuple(args.test_size), get_dataset_preset(dataset).test_size)
    transform = TestTransform.from_processor(processor)
    if transform.size is None:  # checked before evaluating: the record needs a fixed test size
        raise InputError(f"The image processor saved beside {ref} does not resize to a fixed height x width "
                         f"({processor.size}, do_resize={processor.do_resize}); pass --test-size HxW.")
    if main_process:
        logger.info("Test protocol: %s", transform)
    return transform


def _command(accelerator: Accelerator) -> str:
    """The command line as typed (with the launcher when there were several processes)."""
    launcher = "python" if accelerator.num_processes == 1 else f"accelerate launch --num_processes " \
                                                                f"{accelerator.num_processes}"
    return f"{launcher} {shlex.join(sys.argv)}"


if __name__ == "__main__":
    sys.exit(main())
