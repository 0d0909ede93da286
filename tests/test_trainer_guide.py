"""transformers' semantic-segmentation task guide, run as written with only the checkpoint name changed.

The guide (https://huggingface.co/docs/transformers/tasks/semantic_segmentation) fine-tunes SegFormer with the
Trainer, `evaluate`'s mean_iou and a `datasets` dataset of image/annotation columns. Here the checkpoint is a
19-class DABNet folder (as `dabnet-zoo convert` writes for Cityscapes), the new class set has 3 classes, the
metric is the project's offline copy of mean_iou, and the data are small synthetic scenes of mixed sizes. What
is sized down for a test: the steps, the images and the learning rate (a few steps must show the loss falling);
the guide's ColorJitter augmentation is left out.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from dabnet_zoo import create_model, create_processor
from dabnet_zoo.evaluate_metric import MEAN_IOU_PATH

datasets = pytest.importorskip("datasets")
evaluate = pytest.importorskip("evaluate")
transformers = pytest.importorskip("transformers")
from transformers import (  # noqa: E402
    AutoImageProcessor,
    AutoModelForSemanticSegmentation,
    Trainer,
    TrainingArguments,
)

COLOURS = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], dtype=np.uint8)
SIZES = [(64, 64), (48, 80), (80, 56), (64, 96)]  # mixed sizes and aspect ratios, as real datasets have


def _scene(rng: np.random.Generator, height: int, width: int) -> tuple[Image.Image, Image.Image]:
    """Three coloured regions, rotated at random, with a noisy image and an ignored top border."""
    label = np.zeros((height, width), np.uint8)
    label[:, width // 3:] = 1
    label[height // 2:, 2 * width // 3:] = 2
    label = np.ascontiguousarray(np.rot90(label, rng.integers(0, 4)))
    image = COLOURS[label] + rng.integers(0, 40, (*label.shape, 3), dtype=np.uint8)
    label[:2] = 255
    return Image.fromarray(image), Image.fromarray(label)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A converted-Cityscapes-like folder: 19 classes, with its keep-ratio image processor (64x96 box)."""
    folder = tmp_path_factory.mktemp("checkpoint")
    torch.manual_seed(0)
    create_model("dabnet_r18_p2").save_pretrained(folder)
    # the Cityscapes preset keeps the ratio (mmcv's rule), so the mixed sizes below come out at different sizes
    create_processor("cityscapes", size={"height": 64, "width": 96}).save_pretrained(folder)
    return str(folder)


def test_the_task_guide_fine_tunes_dabnet_on_a_new_class_set(checkpoint, tmp_path):
    rng = np.random.default_rng(0)
    scenes = [_scene(rng, *size) for size in SIZES * 4]
    ds = datasets.Dataset.from_dict(
        {"image": [image for image, _ in scenes], "annotation": [label for _, label in scenes]},
        features=datasets.Features({"image": datasets.Image(), "annotation": datasets.Image()}),
    )

    # From here on, the guide.
    ds = ds.train_test_split(test_size=0.25, seed=0)
    train_ds = ds["train"]
    test_ds = ds["test"]
    id2label = {0: "red", 1: "green", 2: "blue"}
    label2id = {v: k for k, v in id2label.items()}
    num_labels = len(id2label)

    image_processor = AutoImageProcessor.from_pretrained(checkpoint)

    def train_transforms(example_batch):
        images = [x for x in example_batch["image"]]
        labels = [x for x in example_batch["annotation"]]
        inputs = image_processor(images, labels)
        return inputs

    def val_transforms(example_batch):
        images = [x for x in example_batch["image"]]
        labels = [x for x in example_batch["annotation"]]
        inputs = image_processor(images, labels)
        return inputs

    train_ds.set_transform(train_transforms)
    test_ds.set_transform(val_transforms)

    metric = evaluate.load(MEAN_IOU_PATH)

    def compute_metrics(eval_pred):
        with torch.no_grad():
            logits, labels = eval_pred
            logits_tensor = torch.from_numpy(logits)
            logits_tensor = nn.functional.interpolate(
                logits_tensor,
                size=labels.shape[-2:],
                mode="bilinear",
                align_corners=False,
            ).argmax(dim=1)

            pred_labels = logits_tensor.detach().cpu().numpy()
            metrics = metric.compute(
                predictions=pred_labels,
                references=labels,
                num_labels=num_labels,
                ignore_index=255,
                reduce_labels=False,
            )
            for key, value in metrics.items():
                if isinstance(value, np.ndarray):
                    metrics[key] = value.tolist()
            return metrics

    model = AutoModelForSemanticSegmentation.from_pretrained(
        checkpoint, id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True
    )
    training_args = TrainingArguments(
        output_dir=str(tmp_path / "dabnet-guide"),
        learning_rate=1e-3,
        max_steps=6,
        per_device_train_batch_size=2,
        per_device_eval_batch_size=2,
        save_total_limit=3,
        eval_strategy="steps",
        save_strategy="no",
        eval_steps=6,
        logging_steps=1,
        eval_accumulation_steps=5,
        remove_unused_columns=False,
        push_to_hub=False,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_ds,
        eval_dataset=test_ds,
        compute_metrics=compute_metrics,
    )
    trainer.train()

    # The new classifiers start as the original's (N(0, 0.01)), so the first loss is about (1 + 0.4 + 0.4) ln 3
    # scaled by the labelled fraction; it falls, and the evaluation yields the metric for every class.
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 6 and all(math.isfinite(loss) for loss in losses)
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.05, losses
    evaluation = next(entry for entry in trainer.state.log_history if "eval_mean_iou" in entry)
    assert math.isfinite(evaluation["eval_loss"]) and 0 <= evaluation["eval_mean_iou"] <= 1
    assert len(evaluation["eval_per_category_iou"]) == num_labels
