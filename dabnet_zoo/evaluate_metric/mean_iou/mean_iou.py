"""Mean IoU as an `evaluate` metric, computed by dabnet_zoo's streaming confusion-matrix metric.

A drop-in, offline replacement for the Hub's ``evaluate.load("mean_iou")``: same call, same arguments, same
result keys, loaded by path (``evaluate.load("<path to dabnet_zoo>/evaluate_metric/mean_iou")``), with no network.

Why it is built this way: an ``evaluate`` metric stores every added example in an Arrow table before
``_compute`` runs. The Hub metric declares ``datasets.Image()`` features, so every map is PNG-encoded on the way
in (about a quarter of a second per 1024×2048 map). This module converts each (prediction, reference) pair as
it is added into its joint histogram of (label value, prediction value) pairs with
``dabnet_zoo.metrics.joint_histogram``: one bincount over the pixels, a few hundred integers out. Those are
what goes through Arrow. The histogram does not depend on ``num_labels``, ``ignore_index``, ``reduce_labels``
or ``label_map``, so they stay ``compute`` arguments as in the Hub metric, and ``_compute`` feeds the histograms
to ``dabnet_zoo.metrics.ConfusionMatrixMeter``, which applies them exactly as the original does. Storing a
``C × C`` confusion matrix per sample instead would have forced ``num_labels`` into ``add_batch``.

Stored columns (internal): ``predictions`` holds the flattened ``(label value, prediction value, pixel count)``
rows of a sample's histogram and ``references`` its number of pixels, checked again in ``_compute``.

This file is loaded by ``evaluate``, which parses its import lines: keep one import per line, and import only
installed packages.
"""

from collections.abc import Mapping
from typing import Any

import datasets
import evaluate
import numpy as np

from dabnet_zoo.errors import InputError
from dabnet_zoo.metrics import ConfusionMatrixMeter
from dabnet_zoo.metrics import joint_histogram


_DESCRIPTION = """
Mean Intersection-over-Union of semantic-segmentation maps, accumulated over the whole dataset (one confusion
matrix), as mmsegmentation and the original DABNet report it. Per class, IoU = intersection / union of the
predicted and the labelled pixels, accuracy = intersection / labelled pixels; classes absent from both the
predictions and the labels are NaN and left out of the means. Pixels labelled `ignore_index` are not counted.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`List[ndarray]`):
        Predicted class-index maps, each of shape (height, width); arrays, tensors or PIL images.
    references (`List[ndarray]`):
        Label maps, each of the same shape as its prediction.
    num_labels (`int`):
        Number of classes (categories).
    ignore_index (`int`, *optional*, defaults to 255):
        Label value that is not evaluated.
    nan_to_num (`int`, *optional*):
        If given, NaN results are replaced by this number.
    label_map (`dict`, *optional*):
        Rewrites label values before evaluation; every lookup uses the original value.
    reduce_labels (`bool`, *optional*, defaults to `False`):
        Label 0 is "unlabelled": 0 becomes 255 and every other label is reduced by 1 (mmseg's reduce_zero_label).

Returns:
    mean_iou (`float`): IoU averaged over the classes that are not NaN.
    mean_accuracy (`float`): accuracy averaged over the classes that are not NaN.
    overall_accuracy (`float`): correctly predicted labelled pixels / labelled pixels.
    per_category_iou (`ndarray` of shape `(num_labels,)`): per-class IoU.
    per_category_accuracy (`ndarray` of shape `(num_labels,)`): per-class accuracy.

Examples:

    >>> import numpy as np
    >>> mean_iou = evaluate.load("path/to/dabnet_zoo/evaluate_metric/mean_iou")
    >>> predicted = [np.array([[1, 2], [3, 4], [5, 255]])]
    >>> ground_truth = [np.array([[0, 3], [5, 4], [6, 255]])]
    >>> results = mean_iou.compute(predictions=predicted, references=ground_truth, num_labels=10, ignore_index=255)
    >>> sorted(results)
    ['mean_accuracy', 'mean_iou', 'overall_accuracy', 'per_category_accuracy', 'per_category_iou']
"""

_CITATION = """\
@software{MMSegmentation_Contributors_OpenMMLab_Semantic_Segmentation_2020,
author = {{MMSegmentation Contributors}},
license = {Apache-2.0},
month = {7},
title = {{OpenMMLab Semantic Segmentation Toolbox and Benchmark}},
url = {https://github.com/open-mmlab/mmsegmentation},
year = {2020}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MeanIoU(evaluate.Metric):
    """Dataset-level mean IoU; see the module docstring for why pixels never reach the Arrow cache."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int64")),
                    "references": datasets.Value("int64"),
                }
            ),
            reference_urls=["https://github.com/open-mmlab/mmsegmentation"],
        )

    def compute(self, *, predictions=None, references=None, **kwargs) -> dict[str, Any] | None:
        """Compute the metric over everything added (plus ``predictions``/``references`` if given)."""
        if predictions is None and references is None and self.writer is None:
            # evaluate itself would fail later with an AttributeError about its cache writer.
            raise InputError("mean_iou got no samples: no predictions and references were added.")
        return super().compute(predictions=predictions, references=references, **kwargs)

    def add_batch(self, *, predictions=None, references=None, **kwargs) -> None:
        """Add a batch of predicted maps and label maps (each pair becomes its joint histogram)."""
        histograms, pixels = self._encode(predictions, references)
        super().add_batch(predictions=histograms, references=pixels, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs) -> None:
        """Add one predicted map and its label map."""
        histograms, pixels = self._encode([prediction], [reference])
        super().add(prediction=histograms[0], reference=pixels[0], **kwargs)

    @staticmethod
    def _encode(predictions: Any, references: Any) -> tuple[list, list]:
        if predictions is None or references is None:
            raise InputError("mean_iou needs both predictions and references (lists of H×W maps).")
        if len(predictions) != len(references):
            raise InputError(f"Got {len(predictions)} predictions but {len(references)} references.")
        histograms, pixels = [], []
        for index, (prediction, reference) in enumerate(zip(predictions, references)):
            rows = joint_histogram(prediction, reference, sample_index=index)
            histograms.append(rows.reshape(-1))
            pixels.append(int(rows[:, 2].sum()))
        return histograms, pixels

    def _compute(
        self,
        predictions,
        references,
        num_labels: int,
        ignore_index: int = 255,
        nan_to_num: float | None = None,
        label_map: Mapping[int, int] | None = None,
        reduce_labels: bool = False,
    ) -> dict[str, Any]:
        meter = ConfusionMatrixMeter(
            num_labels, ignore_index=ignore_index, reduce_zero_label=reduce_labels, label_map=label_map
        )
        for index, (flat, pixels) in enumerate(zip(predictions, references)):
            rows = np.asarray(flat, dtype=np.int64).reshape(-1, 3)
            if int(rows[:, 2].sum()) != int(pixels):
                raise InputError(
                    f"Sample {index}: the stored histogram counts {int(rows[:, 2].sum())} pixels, not {int(pixels)}. "
                    "Add maps with add()/add_batch() only; this metric does not take precomputed inputs."
                )
            meter.update_from_joint_histogram(rows)
        if meter.num_samples == 0:
            raise InputError("mean_iou got no samples: no predictions and references were added.")
        return meter.compute(nan_to_num=nan_to_num)
