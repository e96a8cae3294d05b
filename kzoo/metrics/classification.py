"""Classification metrics on NumPy labels and predictions."""

import keras
import numpy as np


def predict_proba(model, x, batch_size=1024):
    """Softmax probabilities of a logits model (inference mode), as a NumPy array."""
    out = [keras.ops.convert_to_numpy(keras.ops.softmax(model(x[i:i + batch_size],
                                                              training=False), axis=-1))
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def accuracy(y, pred):
    """Share of ``pred == y``."""
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


def per_class_accuracy(y, pred, num_classes):
    """Accuracy within each true class (NaN for a class absent from ``y``)."""
    y, pred = np.asarray(y), np.asarray(pred)
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
    counts = np.asarray(train_counts, dtype="float64")
    ratio = counts.max() / counts.min()
    head_min = counts.max() * ratio ** (-1 / 3) if head_min is None else head_min
    tail_max = counts.max() * ratio ** (-2 / 3) if tail_max is None else tail_max
    return np.where(counts >= head_min, "head", np.where(counts <= tail_max, "tail", "medium"))


def shot_accuracy(y, pred, train_counts, head_min=None, tail_max=None):
    """Accuracy over the test examples of head, medium and tail classes."""
    groups = shot_groups(train_counts, head_min, tail_max)
    y, pred = np.asarray(y), np.asarray(pred)
    out = {}
    for name in ("head", "medium", "tail"):
        mask = np.isin(y, np.flatnonzero(groups == name))
        out[name] = float(np.mean(pred[mask] == y[mask])) if mask.any() else float("nan")
    return out


def worst_group_accuracy(y, pred, groups):
    """The lowest accuracy over the groups present in ``groups``."""
    y, pred, groups = np.asarray(y), np.asarray(pred), np.asarray(groups)
    return float(min(np.mean(pred[groups == g] == y[groups == g]) for g in np.unique(groups)))


def confusion_matrix(y, pred, num_classes):
    """Counts ``[true, predicted]``, shape (num_classes, num_classes)."""
    idx = np.asarray(y) * num_classes + np.asarray(pred)
    return np.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


SHOT_MIN_RATIO = 2.0


def classification_report(ds, pred):
    """Every test metric of predicted classes ``pred`` on ``ds.x_test``, as a flat dict.

    Head/medium/tail accuracies are included when the largest training class
    is at least ``SHOT_MIN_RATIO`` times the smallest; worst-group accuracy
    when the data set has groups (``spurious_colour``).
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
    return report
