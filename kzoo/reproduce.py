"""How closely ``kzoo eval`` asks a card's metrics to reproduce.

Every metric must come back within ``tol * max(1, |card|)`` (default 1e-5; cards round to
1e-6). One kind is given more room, and only off the card's own backend: an attack's
accuracy at a radius above 0 (``robust_accuracy@eps``, ``autoattack_accuracy@eps``). PGD
steps along the sign of each input gradient; for an image near the decision boundary the
backends' float differences (summation order, fused kernels) can flip a sign and send the
attack elsewhere, so another backend may count some images differently. There the allowed
difference is one standard error of that accuracy over the images it counts,
``sqrt(p (1 - p) / n)`` (``p`` the card's value): a difference no reader of the card could
tell from the test set's own sampling noise (a card with an attack metric says over how many:
``kzoo.model_card.check``). On the card's backend every metric reproduces to ``tol``.
"""

import math

from kzoo.roles import AUTOATTACK_METRIC, ROBUST_METRIC


def attack_radius(metric):
    """The radius of an attack metric (``"robust_accuracy@0.1"`` -> 0.1); None for others.

    Examples:
        >>> attack_radius("autoattack_accuracy@0.15"), attack_radius("accuracy")
        (0.15, None)
    """
    prefix = next((p for p in (ROBUST_METRIC, AUTOATTACK_METRIC) if metric.startswith(p)), None)
    return None if prefix is None else float(metric[len(prefix):])


def images(card, metric):
    """The number of test images the attack metric ``metric`` of ``card`` counts over:
    AutoAttack's (``autoattack_accuracy@eps``) its first ``n``, PGD's the test set.

    Examples:
        >>> from kzoo import zoo
        >>> card = zoo.ModelCard.read(zoo.resolve("fashion_mnist-cnn-madry"))
        >>> images(card, "robust_accuracy@0.15"), images(card, "autoattack_accuracy@0.1")
        (10000, 1000)
    """
    if metric.startswith(AUTOATTACK_METRIC):
        return card.evaluation["autoattack"]["n"]
    return card.evaluation["test_examples"]


def allowed(card, metric, tol, backend):
    """The |card - now| allowed for ``metric`` of ``card`` when recomputed on ``backend``.

        >>> from kzoo import zoo
        >>> card = zoo.ModelCard.read(zoo.resolve("fashion_mnist-cnn-madry"))  # torch's
        >>> allowed(card, "robust_accuracy@0.15", 1e-5, "tensorflow")  # sqrt(.3679 * .6321 / 1e4)
        0.004822339577425049
        >>> allowed(card, "robust_accuracy@0.15", 1e-5, "torch")
        1e-05
    """
    value = card.metrics[metric]
    base = tol * max(1.0, abs(value))
    if backend == card.backend or not attack_radius(metric):  # None or 0: no attack
        return base
    return max(base, math.sqrt(value * (1 - value) / images(card, metric)))


def compare(card, now, tol, backend):
    """Compares recomputed metrics ``now`` with ``card``'s: a list of ``(metric, card value,
    now, |diff|, allowed)`` and whether all are within what is allowed. A metric the card
    lacks fails, its card value, |diff| and allowed None.

    Examples:
        >>> from kzoo import zoo
        >>> card = zoo.ModelCard.read(zoo.resolve("fashion_mnist-cnn-madry"))  # torch's
        >>> now = {"accuracy": 0.8542, "robust_accuracy@0.15": 0.3701}  # the card: .3679
        >>> rows, ok = compare(card, now, 1e-5, "tensorflow")  # within one standard error
        >>> rows[0], ok
        (('accuracy', 0.8542, 0.8542, 0.0, 1e-05), True)
        >>> compare(card, now, 1e-5, "torch")[1]  # on the card's backend: to tol
        False
        >>> compare(card, {"loss": 0.5}, 1e-5, "torch")  # not on the card
        ([('loss', None, 0.5, None, None)], False)
    """
    rows = []
    for metric, value in now.items():
        if metric not in card.metrics:
            rows.append((metric, None, value, None, None))
            continue
        rows.append((metric, card.metrics[metric], value, abs(value - card.metrics[metric]),
                     allowed(card, metric, tol, backend)))
    ok = all(limit is not None and diff <= limit for *_, diff, limit in rows)
    return rows, ok
