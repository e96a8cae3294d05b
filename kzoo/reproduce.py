"""How closely ``kzoo eval`` asks a card's metrics to reproduce.

Every metric must come back within ``tol * max(1, |card|)`` (default 1e-5; cards round to
1e-6). One kind is given more room, and only off the card's own backend: an attack's
accuracy at a radius above 0 (``robust_accuracy@eps``, ``autoattack_accuracy@eps``). PGD
steps along the sign of each input gradient; for an image near the decision boundary the
backends' float differences (summation order, fused kernels) can flip a sign and send the
attack elsewhere, so another backend may count a few images differently. There the allowed
difference is one standard error of that accuracy over the images it counts,
``sqrt(p (1 - p) / n)``: a difference no reader of the card could tell from the test set's
own sampling noise. On the card's backend every metric reproduces to ``tol``.
"""

import math

ATTACKS = ("robust_accuracy@", "autoattack_accuracy@")


def attack_radius(metric):
    """The radius of an attack metric (``"robust_accuracy@0.1"`` -> 0.1); None for others."""
    prefix = next((p for p in ATTACKS if metric.startswith(p)), None)
    return None if prefix is None else float(metric[len(prefix):])


def images(card, metric):
    """The number of test images ``metric`` of ``card`` counts over."""
    evaluation = card.evaluation
    if metric.startswith("autoattack_accuracy@"):
        return evaluation.get("autoattack", {}).get("n", evaluation["test_examples"])
    return evaluation["test_examples"]


def allowed(card, metric, tol, backend):
    """The |card - now| allowed for ``metric`` of ``card`` when recomputed on ``backend``.

        >>> from kzoo import zoo
        >>> card = zoo.ModelCard.read(zoo.resolve("fashion_mnist-cnn-madry"))  # torch's
        >>> allowed(card, "robust_accuracy@0.15", 1e-5, "tensorflow")
        0.004822...   # sqrt(0.3679 * 0.6321 / 10000)
        >>> allowed(card, "robust_accuracy@0.15", 1e-5, "torch")
        1e-05
    """
    value = card.metrics[metric]
    base = tol * max(1.0, abs(value))
    if backend == card.backend or not attack_radius(metric):
        return base
    return max(base, math.sqrt(value * (1 - value) / images(card, metric)))


def compare(card, now, tol, backend):
    """Compares recomputed metrics ``now`` with ``card``'s: a list of ``(metric, card value,
    now, |diff|, allowed)`` and whether all are within what is allowed (a metric the card
    lacks fails)."""
    rows = []
    for metric, value in now.items():
        if metric not in card.metrics:
            rows.append((metric, float("nan"), value, float("nan"), float("nan")))
            continue
        diff = abs(value - card.metrics[metric])
        rows.append((metric, card.metrics[metric], value, diff,
                     allowed(card, metric, tol, backend)))
    ok = all(diff <= limit for *_, diff, limit in rows)  # nan compares False
    return rows, ok
