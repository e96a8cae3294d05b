"""Classification metrics on NumPy labels and predictions: Python floats for scalar metrics,
NumPy arrays otherwise, on every backend."""

import keras
import numpy as np

from kzoo import validate
from kzoo.attacks.pgd import check_batch
from kzoo.ops import logits_of
from kzoo.validate import check_labels


def predict_proba(model, x, batch_size=1024, value_range=(0.0, 1.0)):
    """Softmax probabilities of a logits model (inference mode; with several outputs, of
    its last), as a NumPy array.

    ``x``: a non-empty batch (NumPy inputs must be finite, within ``value_range``, the
    model's input range: kzoo's classifiers take [0, 1] images; None for any);
    ``batch_size``: int >= 1.

    Examples:
        >>> probs = predict_proba(kzoo.load("digits-cnn-ce"), kzoo.data.load("digits").x_test)
    """
    batch_size = validate.integer("batch_size", batch_size, low=1)
    check_batch(model, x, value_range=value_range)
    out = [keras.ops.convert_to_numpy(keras.ops.softmax(
        logits_of(model(x[i:i + batch_size], training=False)), axis=-1))
        for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def accuracy(y, pred):
    """Share of ``pred == y``."""
    y, pred = _pair(y, pred)
    return float(np.mean(pred == y))


def per_class_accuracy(y, pred, num_classes):
    """Accuracy within each true class (NaN for a class absent from ``y``)."""
    y, pred = _pair(y, pred, num_classes)
    hits = np.bincount(y, weights=(pred == y), minlength=num_classes)
    counts = np.bincount(y, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / counts


def balanced_accuracy(y, pred, num_classes):
    """Mean of the per-class accuracies over the classes present in ``y``."""
    return float(np.nanmean(per_class_accuracy(y, pred, num_classes)))


def shot_groups(train_counts, head_min=None, tail_max=None):
    """Assigns classes to "head", "medium" and "tail" by training count.

    A class is head if its count is >= ``head_min`` and tail if <= ``tail_max``.
    The defaults split the log-range of counts in three equal parts:
    ``head_min = n_max * r ** (-1/3)``, ``tail_max = n_max * r ** (-2/3)``,
    ``r = n_max / n_min``.
    """
    counts = np.asarray(validate.counts("train_counts", train_counts), dtype="float64")
    for name, value in (("head_min", head_min), ("tail_max", tail_max)):
        if value is not None:
            validate.number(name, value, low=0)
    ratio = counts.max() / counts.min()
    head_min = counts.max() * ratio ** (-1 / 3) if head_min is None else head_min
    tail_max = counts.max() * ratio ** (-2 / 3) if tail_max is None else tail_max
    return np.where(counts >= head_min, "head", np.where(counts <= tail_max, "tail", "medium"))


def shot_accuracy(y, pred, train_counts, head_min=None, tail_max=None):
    """Accuracy over the test examples of head, medium and tail classes."""
    groups = shot_groups(train_counts, head_min, tail_max)
    y, pred = _pair(y, pred, len(groups))
    out = {}
    for name in ("head", "medium", "tail"):
        mask = np.isin(y, np.flatnonzero(groups == name))
        out[name] = float(np.mean(pred[mask] == y[mask])) if mask.any() else float("nan")
    return out


def worst_group_accuracy(y, pred, groups):
    """The lowest accuracy over the groups present in ``groups``."""
    y, pred = _pair(y, pred)
    groups = np.asarray(groups)
    if groups.shape != y.shape:
        raise ValueError(f"groups must hold one group per label ({len(y)}); got shape "
                         f"{groups.shape}.")
    return float(min(np.mean(pred[groups == g] == y[groups == g]) for g in np.unique(groups)))


def confusion_matrix(y, pred, num_classes):
    """Counts ``[true, predicted]``, shape (num_classes, num_classes)."""
    y, pred = _pair(y, pred, num_classes)
    idx = y * num_classes + pred
    return np.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def _pair(y, pred, num_classes=None):
    """``(y, pred)`` as NumPy vectors of one non-empty length (with ``num_classes``, int
    class indices in ``[0, num_classes)``), or ``ValueError``."""
    y, pred = np.asarray(y), np.asarray(pred)
    if y.ndim != 1 or pred.shape != y.shape or not len(y):
        raise ValueError(f"y and pred must be non-empty vectors of one length; got shapes "
                         f"{y.shape} and {pred.shape}.")
    if num_classes is None:
        return y, pred
    num_classes = validate.integer("num_classes", num_classes, low=1)
    check_labels(y, num_classes, "y")
    check_labels(pred, num_classes, "pred")
    return y.astype("int64"), pred.astype("int64")


SHOT_MIN_RATIO = 2.0


def classification_report(ds, pred):
    """Every test metric of predicted classes ``pred`` on ``ds.x_test``, as a flat dict.

    Head/medium/tail accuracies are included when the largest training class
    is at least ``SHOT_MIN_RATIO`` times the smallest; worst-group accuracy
    when the data set has groups (``spurious_colour``). A metric the test split cannot
    measure (a class or group with no test example) is left out.
    """
    report = {
        "accuracy": accuracy(ds.y_test, pred),
        "balanced_accuracy": balanced_accuracy(ds.y_test, pred, ds.num_classes),
    }
    counts = ds.class_counts()
    if max(counts) >= SHOT_MIN_RATIO * min(counts):
        shots = shot_accuracy(ds.y_test, pred, counts)
        report.update({f"{k}_accuracy": v for k, v in shots.items()})
    if "groups_test" in ds.extras:
        report["worst_group_accuracy"] = worst_group_accuracy(ds.y_test, pred,
                                                              ds.extras["groups_test"])
    per_class = per_class_accuracy(ds.y_test, pred, ds.num_classes)
    report.update({f"class_{i}_accuracy": float(a) for i, a in enumerate(per_class)})
    # what the test split cannot measure (a class or shot group without test examples, e.g.
    # medium with two class sizes) is left out, not NaN: no card could reproduce a NaN
    return {k: v for k, v in report.items() if not np.isnan(v)}
