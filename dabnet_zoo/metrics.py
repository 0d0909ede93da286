"""Streaming semantic-segmentation metrics on a confusion matrix: mIoU, per-class IoU, aAcc, mAcc.

The numbers are the original's (mmseg 0.x, ``pre_eval`` path, docs/architecture.md §8.1), computed from one
``C × C`` confusion matrix of pixel counts (rows: ground truth, columns: prediction) summed over the dataset:

* per-class IoU = ``I / (P + L − I)`` and accuracy = ``I / L``, where ``I`` is the diagonal, ``P`` the column sums
  (prediction area) and ``L`` the row sums (label area); a class whose denominator is 0 gets NaN;
* ``mean_iou`` and ``mean_accuracy`` are ``nanmean`` over classes, so a class absent from both the predictions and
  the ground truth is skipped instead of counting as 0; ``overall_accuracy`` (aAcc) is ``Σ I / Σ L``;
* pixels whose label is ``ignore_index`` are dropped together with the prediction at that pixel; before that, an
  optional ``label_map`` and then ``reduce_zero_label`` (0 → 255, v → v − 1, 254 → 255) rewrite the labels.

Why a confusion matrix and not per-image histograms: it is exact in int64 (the original sums float32 histograms,
about 1e-7 relative rounding, irrelevant at two decimals), it is tiny (19 × 19 for Cityscapes), so it can be
gathered across processes, and it is fast: one ``torch.bincount`` over ``K · label + prediction`` per image (per
batch on a GPU), on the tensors' own device, with no mask copies. Label rewriting, the ignore index and the range
checks are applied to the few hundred distinct (label value, prediction value) pairs of that histogram instead
of to the millions of pixels, which is why ``reduce_zero_label`` and ``label_map`` cost nothing.

Distributed evaluation: do not all-reduce each process's matrix. A distributed sampler pads the last batch by
repeating samples, and a plain sum counts them twice. Compute one matrix per sample with
:meth:`ConfusionMatrixMeter.confusion_matrices` and pass the ``(B, C, C)`` tensor through
``accelerator.gather_for_metrics``, which drops the padded duplicates of the last batch::

    meter = ConfusionMatrixMeter(num_labels=19)
    for batch in eval_dataloader:
        predictions = model(batch["pixel_values"]).logits.argmax(1)  # upsampled to the label size first
        matrices = meter.confusion_matrices(predictions, batch["labels"])  # (B, 19, 19) int64, on the device
        meter.update_from_confusion_matrices(accelerator.gather_for_metrics(matrices))
    results = meter.compute()  # the same on every process

The plain function :func:`mean_iou` and the local ``evaluate`` module (``dabnet_zoo/evaluate_metric/mean_iou``) are
thin wrappers over :class:`ConfusionMatrixMeter` that return the keys of the Hub's ``mean_iou``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import numpy as np
import torch

from .errors import InputError

MapLike = Union[torch.Tensor, np.ndarray, Any]
"""A label or prediction map: a tensor, a NumPy array, a PIL image or nested lists of integers."""

RESULT_KEYS: tuple[str, ...] = (
    "mean_iou",
    "mean_accuracy",
    "overall_accuracy",
    "per_category_iou",
    "per_category_accuracy",
)

# Above this many histogram bins the dense bincount would allocate too much; a sort-based count takes over.
# Only reachable with unusual inputs (int32 labels in the millions, predictions that are not class indices).
_MAX_DENSE_BINS = 1 << 24


# --------------------------------------------------------------------------------------------------------------
# Input conversion
# --------------------------------------------------------------------------------------------------------------


def _to_tensor(value: MapLike, what: str, sample: int) -> torch.Tensor:
    """Turn one map (or a batch of maps) into an integer tensor without copying pixels when it can."""
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        array = np.asarray(value)
        if array.dtype == object:
            raise InputError(f"Sample {sample}: the {what} is not a numeric array (got ragged or mixed values).")
        if array.dtype.kind == "u" and array.dtype.itemsize > 1:
            # torch has few kernels for uint16/32/64; widen to a signed type that holds every value.
            array = array.astype(np.int32 if array.dtype.itemsize == 2 else np.int64)
        if any(stride < 0 for stride in array.strides):
            array = np.ascontiguousarray(array)
        with warnings.catch_warnings():
            # Read-only arrays (np.asarray of a PIL image) are fine: nothing here writes to the input.
            warnings.filterwarnings("ignore", message=".*not writable.*")
            tensor = torch.from_numpy(array)
    if tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8)
    elif tensor.dtype in (torch.uint16, torch.uint32, torch.uint64):
        tensor = tensor.to(torch.int64)
    if tensor.is_floating_point() or tensor.is_complex():
        raise InputError(
            f"Sample {sample}: the {what} has dtype {tensor.dtype}, but class-index maps are needed. "
            "Take the argmax over the class dimension of the logits first."
        )
    return tensor


def _is_single_array(value: Any) -> bool:
    return isinstance(value, (torch.Tensor, np.ndarray))


def _batches(
    predictions: MapLike | Sequence[MapLike], labels: MapLike | Sequence[MapLike], start: int
) -> Iterable[tuple[torch.Tensor, torch.Tensor, int]]:
    """Yield ``(predictions (B, H, W), labels (B, H, W), number of the first sample)`` chunks.

    A pair of (B, H, W) tensors or arrays stays one chunk; sequences of maps, which may differ in size from one
    sample to the next, give one chunk per sample. Samples are numbered from
    ``start`` in error messages. Labels are moved to the predictions' device.
    """
    if _is_single_array(predictions) and _is_single_array(labels) and predictions.ndim == labels.ndim == 3:
        if len(predictions) != len(labels):
            raise InputError(f"Got {len(predictions)} predictions but {len(labels)} labels; they must pair up.")
        pred = _to_tensor(predictions, "prediction", start)
        label = _to_tensor(labels, "label", start)
        if len(pred):
            _check_shapes(pred[0], label[0], start)  # one size for the whole batch: the first sample says it all
            yield pred, _move(label, pred.device), start
        return
    if _is_single_array(predictions) and _is_single_array(labels) and predictions.ndim != labels.ndim:
        raise InputError(
            f"Sample {start}: the predictions have shape {tuple(predictions.shape)} but the labels have shape "
            f"{tuple(labels.shape)}; give both as H×W maps or both as (B, H, W) batches."
        )
    pred_list = _as_sample_list(predictions, "predictions")
    label_list = _as_sample_list(labels, "labels")
    if len(pred_list) != len(label_list):
        raise InputError(f"Got {len(pred_list)} predictions but {len(label_list)} labels; they must pair up.")
    for offset, (prediction, label_map) in enumerate(zip(pred_list, label_list)):
        pred = _to_tensor(prediction, "prediction", start + offset)
        label = _to_tensor(label_map, "label", start + offset)
        _check_shapes(pred, label, start + offset)
        yield pred[None], _move(label, pred.device)[None], start + offset


def _move(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    # non_blocking only towards an accelerator: a non-blocking copy to the host may be read before it lands.
    return tensor.to(device, non_blocking=device.type != "cpu")


def _as_sample_list(value: Any, what: str) -> Sequence[Any]:
    if _is_single_array(value):
        if value.ndim == 3:
            return value  # indexing gives the H×W maps
        if value.ndim == 2:
            return [value]
        raise InputError(
            f"The {what} must be one H×W map, a (B, H, W) batch or a sequence of H×W maps; got shape "
            f"{tuple(value.shape)}."
        )
    if isinstance(value, (str, bytes)):
        raise InputError(f"The {what} must be a sequence of H×W maps; got a string.")
    if not isinstance(value, Sequence):
        try:
            return list(value)
        except TypeError:
            raise InputError(f"The {what} must be a sequence of H×W maps; got {type(value).__name__}.") from None
    if len(value) and not hasattr(value[0], "ndim") and np.ndim(value[0]) == 1:
        return [value]  # one map given as nested lists
    return value


def _check_shapes(pred: torch.Tensor, label: torch.Tensor, sample: int) -> None:
    if pred.ndim != 2 or label.ndim != 2:
        bad, shape = ("prediction", pred.shape) if pred.ndim != 2 else ("label", label.shape)
        raise InputError(f"Sample {sample}: the {bad} must be an H×W map of class indices; got shape {tuple(shape)}.")
    if pred.shape != label.shape:
        raise InputError(
            f"Sample {sample}: the prediction is {pred.shape[0]}×{pred.shape[1]} but the label is "
            f"{label.shape[0]}×{label.shape[1]}. Resize the logits to the label size before the argmax "
            "(the original evaluates at the full label resolution)."
        )


# --------------------------------------------------------------------------------------------------------------
# Joint histogram of raw (label value, prediction value) pairs
# --------------------------------------------------------------------------------------------------------------


def _value_range(tensor: torch.Tensor) -> tuple[int, int]:
    if tensor.numel() == 0:
        return 0, 0
    if tensor.dtype == torch.uint8:
        return 0, int(tensor.max())  # only a negative minimum matters below, and uint8 has none
    low, high = torch.aminmax(tensor)
    return int(low), int(high)


class _Workspace:
    """A reusable int32 buffer for the bincount index on the CPU.

    Allocating a fresh 8 MB buffer per 1024×2048 image costs more than the bincount itself (the pages are
    faulted in again every time, as the allocator hands large blocks back to the system); CUDA's caching
    allocator already reuses memory, so GPUs do not need it.
    """

    def __init__(self) -> None:
        self._buffer: torch.Tensor | None = None

    def take(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        numel = math.prod(shape)
        if device.type != "cpu":
            return torch.empty(shape, dtype=torch.int32, device=device)
        if self._buffer is None or self._buffer.numel() < numel:
            self._buffer = torch.empty(numel, dtype=torch.int32)
        return self._buffer[:numel].view(shape)


def _pair_counts(pred: torch.Tensor, label: torch.Tensor, workspace: _Workspace | None = None) -> torch.Tensor:
    """Count the distinct (sample, label value, prediction value) triples of a (B, H, W) batch.

    Returns an ``(N, 4)`` int64 tensor of rows ``(sample, label value, prediction value, pixel count)`` with
    nonzero counts, on the input's device. The raw values are kept (no ignore index, no class range): the
    caller applies those rules to these few rows, not to the pixels.
    """
    batch = pred.shape[0]
    if batch > 1 and pred.device.type == "cpu":
        # One image at a time keeps the CPU workspace one image large; the loop costs nothing next to 2 M pixels.
        parts = [_pair_counts(pred[i : i + 1], label[i : i + 1], workspace) for i in range(batch)]
        for i, part in enumerate(parts):
            part[:, 0] = i
        return torch.cat(parts)

    label_low, label_high = _value_range(label)
    pred_low, pred_high = _value_range(pred)
    # Shift only negative values: for the usual non-negative maps the shift is 0 and costs no pass.
    label_shift, pred_shift = min(label_low, 0), min(pred_low, 0)
    rows, cols = label_high - label_shift + 1, pred_high - pred_shift + 1
    per_sample_bins = rows * cols
    bins = batch * per_sample_bins
    if bins > _MAX_DENSE_BINS:
        return _pair_counts_sorted(pred, label)

    # flat = cols · label + prediction in int32 (bins ≤ 2**24, so no overflow): a cast copy of the predictions
    # and one in-place add of the labels, never written into the caller's tensors.
    flat = (workspace or _Workspace()).take(pred.shape, pred.device)
    flat.copy_(pred)
    flat.add_(label, alpha=cols)
    if label_shift or pred_shift:
        flat.sub_(pred_shift + cols * label_shift)
    if batch > 1:
        offsets = torch.arange(batch, device=flat.device, dtype=torch.int32) * per_sample_bins
        flat.view(batch, -1).add_(offsets[:, None])
    counts = torch.bincount(flat.view(-1), minlength=bins)
    nonzero = counts.nonzero().squeeze(1)
    sample = torch.div(nonzero, per_sample_bins, rounding_mode="floor")
    within = nonzero - sample * per_sample_bins
    label_value = torch.div(within, cols, rounding_mode="floor")
    pred_value = within - label_value * cols
    return torch.stack([sample, label_value + label_shift, pred_value + pred_shift, counts[nonzero]], dim=1)


def _pair_counts_sorted(pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Exact fallback of :func:`_pair_counts` for value ranges too wide for a dense histogram (slow, rare)."""
    batch = pred.shape[0]
    sample = torch.arange(batch, device=pred.device).view(batch, 1).expand(batch, pred[0].numel())
    triples = torch.stack([sample.reshape(-1), label.reshape(-1).long(), pred.reshape(-1).long()])
    unique, counts = torch.unique(triples, dim=1, return_counts=True)
    return torch.cat([unique, counts[None]], dim=0).t().contiguous()


def joint_histogram(prediction: MapLike, label: MapLike, *, sample_index: int = 0) -> np.ndarray:
    """Count the distinct (label value, prediction value) pairs of one H×W sample.

    This is everything the metric needs to know about a sample, whatever ``num_labels``, ``ignore_index``,
    ``reduce_zero_label`` or ``label_map`` are chosen later: typically a few hundred rows instead of millions of
    pixels. The local ``evaluate`` module stores these rows instead of the maps.

    Args:
        prediction (`MapLike`): H×W predicted class indices.
        label (`MapLike`): H×W raw label values, as read from the label file.
        sample_index (`int`, *optional*, defaults to 0): the number errors give the sample.

    Returns:
        `np.ndarray` of shape ``(N, 3)`` and dtype int64, rows ``(label value, prediction value, pixel count)``.
        Feed it to :meth:`ConfusionMatrixMeter.update_from_joint_histogram`.
    """
    pred = _to_tensor(prediction, "prediction", sample_index)
    target = _to_tensor(label, "label", sample_index)
    _check_shapes(pred, target, sample_index)
    target = _move(target, pred.device)
    return _pair_counts(pred[None], target[None])[:, 1:].cpu().numpy()


# --------------------------------------------------------------------------------------------------------------
# The streaming metric
# --------------------------------------------------------------------------------------------------------------


class ConfusionMatrixMeter:
    """Dataset-level confusion matrix of a semantic-segmentation model, updated batch by batch.

    The matrix (rows: ground truth, columns: prediction, int64) lives on the device of the first predictions it
    sees, so a GPU evaluation never copies maps to the host. :meth:`compute` gives the original's mIoU, per-class
    IoU, aAcc, mAcc and per-class accuracy under the Hub ``mean_iou`` key names.

    Args:
        num_labels (`int`): number of classes ``C``; labels must lie in ``[0, C)`` or equal ``ignore_index``.
        ignore_index (`int`, *optional*, defaults to 255): label value whose pixels are not evaluated.
        reduce_zero_label (`bool`, *optional*, defaults to `False`): treat label 0 as "unlabelled" and shift the
            others down by one (0 → 255, v → v − 1, 254 → 255), as the original does for COCO-Stuff-10k.
        label_map (`Mapping[int, int]`, *optional*): rewrite label values before ``reduce_zero_label``; every
            lookup uses the original value (``{1: 2, 2: 3}`` maps 1 to 2, not to 3).

    Example::

        >>> meter = ConfusionMatrixMeter(num_labels=4)
        >>> meter.update(torch.tensor([[0, 1], [2, 2]]), torch.tensor([[0, 1], [1, 255]]))
        >>> results = meter.compute()
        >>> results["per_category_iou"]  # class 3 is in neither map: NaN, and left out of the mean
        array([1. , 0.5, 0. , nan])
        >>> results["mean_iou"]
        0.5
    """

    def __init__(
        self,
        num_labels: int,
        *,
        ignore_index: int = 255,
        reduce_zero_label: bool = False,
        label_map: Mapping[int, int] | None = None,
    ) -> None:
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) or num_labels < 1:
            raise InputError(f"num_labels must be a positive integer (the number of classes); got {num_labels!r}.")
        self.num_labels = int(num_labels)
        self.ignore_index = int(ignore_index)
        self.reduce_zero_label = bool(reduce_zero_label)
        self.label_map = {int(k): int(v) for k, v in label_map.items()} if label_map else None
        self.confusion_matrix: torch.Tensor | None = None
        self.num_samples = 0
        self._workspace = _Workspace()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_labels={self.num_labels}, ignore_index={self.ignore_index}, "
            f"reduce_zero_label={self.reduce_zero_label}, label_map={self.label_map}, "
            f"num_samples={self.num_samples})"
        )

    def reset(self) -> None:
        """Forget every sample seen so far."""
        self.confusion_matrix = None
        self.num_samples = 0

    # ------------------------------------------------------------------------------------------------ updates

    def update(self, predictions: MapLike | Sequence[MapLike], labels: MapLike | Sequence[MapLike]) -> None:
        """Add predictions and labels to the running matrix.

        Args:
            predictions: predicted class indices: one H×W map, a (B, H, W) batch, or a sequence of H×W maps (sizes
                may differ between samples). Tensors, NumPy arrays and PIL images are accepted; float maps are not.
            labels: the raw label maps (before ``label_map``/``reduce_zero_label``), in the same layout.

        Raises:
            InputError: naming the sample, counted from the last :meth:`reset`, whose sizes differ, whose label
                value is neither a class index nor ``ignore_index``, or whose prediction at a labelled pixel is
                not a class index. A call that raises adds nothing.
        """
        total, added = None, 0
        for pred, label, first in _batches(predictions, labels, start=self.num_samples):
            rows = _pair_counts(pred, label, self._workspace)
            self._check(rows, first)
            matrix = self._rows_to_matrices(rows, groups=1)[0]  # the whole batch summed into one matrix
            total = matrix if total is None else total + matrix
            added += len(pred)
        if total is not None:
            self._accumulate(total, added)

    def confusion_matrices(
        self, predictions: MapLike | Sequence[MapLike], labels: MapLike | Sequence[MapLike]
    ) -> torch.Tensor:
        """Return one confusion matrix per sample, ``(B, C, C)`` int64 on the predictions' device.

        Nothing is accumulated. In distributed evaluation, pass the result through
        ``accelerator.gather_for_metrics``, which removes the samples a distributed sampler repeated to pad the
        last batch, and then to :meth:`update_from_confusion_matrices`. Errors name the sample's position in this
        call.
        """
        matrices = []
        for pred, label, first in _batches(predictions, labels, start=0):
            rows = _pair_counts(pred, label, self._workspace)
            self._check(rows, first)
            matrices.append(self._rows_to_matrices(rows, groups=len(pred)))
        if not matrices:
            return torch.zeros(0, self.num_labels, self.num_labels, dtype=torch.int64)
        return torch.cat(matrices) if len(matrices) > 1 else matrices[0]

    def update_from_confusion_matrices(self, matrices: torch.Tensor | np.ndarray) -> None:
        """Add confusion matrices: one ``(C, C)`` matrix, or a ``(B, C, C)`` stack counted as B samples."""
        matrices = torch.as_tensor(matrices)
        if matrices.ndim == 2:
            matrices = matrices[None]
        c = self.num_labels
        if matrices.ndim != 3 or tuple(matrices.shape[1:]) != (c, c):
            raise InputError(
                f"Expected confusion matrices of shape (B, {c}, {c}) or ({c}, {c}); got {tuple(matrices.shape)}. "
                f"Were they computed with num_labels={c}?"
            )
        if matrices.is_floating_point() or matrices.is_complex() or matrices.dtype == torch.bool:
            raise InputError(f"Confusion matrices must hold integer pixel counts; got dtype {matrices.dtype}.")
        if bool((matrices < 0).any()):
            raise InputError("Confusion matrices cannot hold negative pixel counts.")
        if len(matrices):
            self._accumulate(matrices.sum(0, dtype=torch.int64), len(matrices))

    def update_from_joint_histogram(self, histogram: torch.Tensor | np.ndarray | Sequence[Sequence[int]]) -> None:
        """Add one sample given by its :func:`joint_histogram` rows ``(label value, prediction value, count)``."""
        if isinstance(histogram, torch.Tensor):
            rows = histogram.to(torch.int64).reshape(-1, 3)
        else:
            rows = torch.as_tensor(np.asarray(histogram, dtype=np.int64)).reshape(-1, 3)
        if bool((rows[:, 2] < 0).any()):
            raise InputError(f"Sample {self.num_samples}: a joint histogram cannot hold negative pixel counts.")
        rows = torch.cat([torch.zeros_like(rows[:, :1]), rows], dim=1)
        self._check(rows, self.num_samples)
        self._accumulate(self._rows_to_matrices(rows, groups=1)[0], 1)

    def _accumulate(self, matrix: torch.Tensor, samples: int) -> None:
        if self.confusion_matrix is None:
            self.confusion_matrix = torch.zeros_like(matrix, dtype=torch.int64)
        self.confusion_matrix += matrix.to(self.confusion_matrix.device)
        self.num_samples += samples

    # ------------------------------------------------------------------------------------------------ the rules

    def map_labels(self, values: torch.Tensor) -> torch.Tensor:
        """Apply ``label_map`` and then ``reduce_zero_label`` to label values, in the original's order."""
        mapped = values
        if self.label_map:
            mapped = values.clone()
            for old, new in self.label_map.items():
                mapped[values == old] = new
        if self.reduce_zero_label:
            # Literally the original's three steps, so that edge values (255, 256, …) agree with it too.
            mapped = torch.where(mapped == 0, 255, mapped) - 1
            mapped = torch.where(mapped == 254, 255, mapped)
        return mapped

    def _check(self, rows: torch.Tensor, first: int) -> None:
        """Raise an error naming sample ``first + s`` for the first sample ``s`` of ``rows`` with a bad value."""
        problem = self._find_problem(rows)
        if problem is not None:
            raise InputError(f"Sample {first + problem[0]}: {problem[1]}")

    def _find_problem(self, rows: torch.Tensor) -> tuple[int, str] | None:
        """Check ``(sample, label value, prediction value, count)`` rows; return the first bad sample and why."""
        c = self.num_labels
        sample, label_value, pred_value, _ = rows.unbind(1)
        label_class = self.map_labels(label_value)
        kept = label_class != self.ignore_index
        bad_label = kept & ((label_class < 0) | (label_class >= c))
        bad_pred = kept & ((pred_value < 0) | (pred_value >= c))
        bad = bad_label | bad_pred
        if not bool(bad.any()):
            return None
        which = int(sample[bad].min())
        bad_label &= sample == which
        bad_pred &= sample == which
        if bool(bad_label.any()):
            raw = sorted(set(label_value[bad_label].tolist()))
            rules = [name for name, on in (("label_map", self.label_map), ("reduce_zero_label", self.reduce_zero_label))
                     if on]
            after = ""
            if rules:
                after = f" (after {' and '.join(rules)}: {_short(sorted(set(label_class[bad_label].tolist())))})"
            return which, (
                f"label values {_short(raw)}{after} are outside [0, {c}) and are not ignore_index="
                f"{self.ignore_index}. Check that num_labels={c} matches the dataset, that the labels are class "
                "indices (Cityscapes trainIds, not labelIds) and the reduce_zero_label setting."
            )
        raw = sorted(set(pred_value[bad_pred].tolist()))
        return which, (
            f"predicted values {_short(raw)} at labelled pixels are outside [0, {c}). The model's number of "
            f"classes must equal the dataset's ({c})."
        )

    def _rows_to_matrices(self, rows: torch.Tensor, groups: int) -> torch.Tensor:
        """Scatter checked rows into ``(groups, C, C)`` matrices (one group: all samples summed), dropping ignored
        pixels."""
        c = self.num_labels
        sample, label_value, pred_value, count = rows.unbind(1)
        label_class = self.map_labels(label_value)
        kept = label_class != self.ignore_index
        flat = label_class * c + pred_value
        if groups > 1:
            flat = flat + sample * (c * c)
        matrices = torch.zeros(groups * c * c, dtype=torch.int64, device=rows.device)
        matrices.index_add_(0, flat[kept], count[kept])
        return matrices.view(groups, c, c)

    # ------------------------------------------------------------------------------------------------ results

    def compute(self, nan_to_num: float | None = None) -> dict[str, Any]:
        """Return the metrics under the Hub ``mean_iou`` keys.

        Returns:
            `dict` with ``mean_iou``, ``mean_accuracy``, ``overall_accuracy`` (floats in [0, 1]) and
            ``per_category_iou``, ``per_category_accuracy`` (float64 arrays of shape ``(C,)``). A class whose
            union (for IoU) or label area (for accuracy) is 0 is NaN and left out of the means; if every pixel
            was ignored, the means are NaN too. ``nan_to_num``, as in the Hub metric, replaces every NaN.

        Raises:
            InputError: if no sample was added (an empty dataset).
        """
        if self.num_samples == 0 or self.confusion_matrix is None:
            raise InputError(
                "No samples were added to the metric, so there is nothing to compute. Is the evaluation "
                "dataset empty?"
            )
        results = scores_from_confusion_matrix(self.confusion_matrix)
        if nan_to_num is not None:
            results = {key: _nan_to_num(value, nan_to_num) for key, value in results.items()}
        return results


def scores_from_confusion_matrix(confusion_matrix: torch.Tensor | np.ndarray) -> dict[str, Any]:
    """Compute the Hub ``mean_iou`` keys from a ``(C, C)`` confusion matrix (rows: label, columns: prediction)."""
    matrix = torch.as_tensor(confusion_matrix).detach().cpu().to(torch.float64).numpy()
    intersection = np.diag(matrix)
    label_area = matrix.sum(axis=1)
    union = label_area + matrix.sum(axis=0) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = intersection / union
        accuracy = intersection / label_area
        overall = intersection.sum() / label_area.sum()
    return {
        "mean_iou": _nanmean(iou),
        "mean_accuracy": _nanmean(accuracy),
        "overall_accuracy": float(overall),
        "per_category_iou": iou,
        "per_category_accuracy": accuracy,
    }


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _nan_to_num(value: Any, replacement: float) -> Any:
    if isinstance(value, np.ndarray):
        return np.nan_to_num(value, nan=replacement)
    return replacement if math.isnan(value) else value


def _short(values: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    more = f", … ({len(values)} distinct)" if len(values) > limit else ""
    return f"[{shown}{more}]"


# --------------------------------------------------------------------------------------------------------------
# Functional interface and reporting
# --------------------------------------------------------------------------------------------------------------


def mean_iou(
    predictions: MapLike | Sequence[MapLike],
    references: MapLike | Sequence[MapLike],
    num_labels: int,
    ignore_index: int = 255,
    reduce_labels: bool = False,
    nan_to_num: float | None = None,
    label_map: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """Dataset-level mIoU of predicted maps against label maps, with the Hub ``mean_iou`` signature and keys.

    A drop-in for ``evaluate.load("mean_iou").compute(...)`` that needs no network and no PNG encoding, backed
    by :class:`ConfusionMatrixMeter` (see the module docstring for the definition).

    Args:
        predictions: a sequence of H×W predicted class-index maps (tensors, arrays, PIL images), or a (B, H, W)
            batch.
        references: the label maps, in the same layout; each must have its prediction's size.
        num_labels (`int`): number of classes.
        ignore_index (`int`, *optional*, defaults to 255): label value that is not evaluated.
        reduce_labels (`bool`, *optional*, defaults to `False`): the original's ``reduce_zero_label``.
        nan_to_num (`float`, *optional*): replace NaN results with this value.
        label_map (`Mapping[int, int]`, *optional*): rewrite label values first (each lookup uses the original).

    Returns:
        `dict` with ``mean_iou``, ``mean_accuracy``, ``overall_accuracy``, ``per_category_iou`` and
        ``per_category_accuracy``.

    Raises:
        InputError: on empty input, or naming the first sample whose sizes or values are wrong.
    """
    meter = ConfusionMatrixMeter(
        num_labels, ignore_index=ignore_index, reduce_zero_label=reduce_labels, label_map=label_map
    )
    meter.update(predictions, references)
    if meter.num_samples == 0:
        raise InputError("mean_iou got no samples: predictions and references are empty.")
    return meter.compute(nan_to_num=nan_to_num)


def format_table(results: Mapping[str, Any], class_names: Sequence[str] | None = None, digits: int = 2) -> str:
    """Render per-class IoU and accuracy and the summary as a text table, ×100 with ``digits`` decimals.

    This is how the original reports its numbers (mmseg rounds percentages to 2 decimals); NaN classes print as
    ``nan``.
    """
    iou = np.asarray(results["per_category_iou"], dtype=np.float64)
    accuracy = np.asarray(results["per_category_accuracy"], dtype=np.float64)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(iou))]
    if len(names) != len(iou):
        raise InputError(f"Got {len(names)} class names for {len(iou)} classes.")
    width = max([len("Class"), *(len(name) for name in names)])

    def pct(value: float) -> str:
        return "nan" if math.isnan(value) else f"{100 * value:.{digits}f}"

    lines = [f"{'Class':<{width}} | {'IoU':>7} | {'Acc':>7}", f"{'-' * width}-+-{'-' * 7}-+-{'-' * 7}"]
    lines += [f"{name:<{width}} | {pct(i):>7} | {pct(a):>7}" for name, i, a in zip(names, iou, accuracy)]
    lines.append(f"{'-' * width}-+-{'-' * 7}-+-{'-' * 7}")
    lines.append(
        f"mIoU {pct(results['mean_iou'])}  mAcc {pct(results['mean_accuracy'])}  "
        f"aAcc {pct(results['overall_accuracy'])}"
    )
    return "\n".join(lines)


__all__ = [
    "ConfusionMatrixMeter",
    "RESULT_KEYS",
    "format_table",
    "joint_histogram",
    "mean_iou",
    "scores_from_confusion_matrix",
]
