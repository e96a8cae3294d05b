"""kzoo eval's comparison of recomputed metrics with a card (kzoo.reproduce)."""

from types import SimpleNamespace

import numpy as np
import pytest

from kzoo import reproduce

CARD = SimpleNamespace(
    backend="torch",
    metrics={"accuracy": 0.8542, "robust_accuracy@0": 0.8542,
             "robust_accuracy@0.15": 0.3679, "autoattack_accuracy@0.1": 0.756,
             "frechet_classifier_distance": 12.5},
    evaluation={"test_examples": 10000, "autoattack": {"n": 1000}})


def standard_error(p, n):
    """The binomial standard error of a proportion p over n draws, from NumPy's sampling:
    the spread of many simulated accuracies."""
    draws = np.random.default_rng(0).binomial(n, p, size=200_000) / n
    return draws.std()


@pytest.mark.parametrize("metric, n", [("robust_accuracy@0.15", 10000),
                                       ("autoattack_accuracy@0.1", 1000)])
def test_an_attack_off_the_cards_backend_may_differ_by_one_standard_error(metric, n):
    limit = reproduce.allowed(CARD, metric, 1e-5, "tensorflow")
    assert limit == pytest.approx(standard_error(CARD.metrics[metric], n), rel=0.01)


@pytest.mark.parametrize("metric", ["accuracy", "robust_accuracy@0", "robust_accuracy@0.15",
                                    "frechet_classifier_distance"])
def test_every_metric_on_the_cards_backend_and_the_rest_anywhere_reproduce_to_tol(metric):
    value = CARD.metrics[metric]
    assert reproduce.allowed(CARD, metric, 1e-5, "torch") == 1e-5 * max(1, value)
    if not reproduce.attack_radius(metric):
        assert reproduce.allowed(CARD, metric, 1e-5, "jax") == 1e-5 * max(1, value)


def test_compare_passes_within_and_fails_beyond_or_on_an_unknown_metric():
    within = {"accuracy": 0.854205, "robust_accuracy@0.15": 0.3651}  # 28 of 10,000 images
    rows, ok = reproduce.compare(CARD, within, 1e-5, "tensorflow")
    assert ok and [r[0] for r in rows] == list(within)
    assert rows[1][3] == pytest.approx(0.0028)
    assert not reproduce.compare(CARD, within, 1e-5, "torch")[1]  # its own backend: 1e-5
    beyond = {"robust_accuracy@0.15": 0.3679 - 0.0049}  # a standard error is 0.00482
    assert not reproduce.compare(CARD, beyond, 1e-5, "jax")[1]
    rows, ok = reproduce.compare(CARD, {"accuracy": 0.8542, "new": 1.0}, 1e-5, "torch")
    assert not ok and rows[1] == ("new", None, 1.0, None, None)


def test_attack_radius_reads_the_metric_name():
    assert reproduce.attack_radius("robust_accuracy@0.05") == 0.05
    assert reproduce.attack_radius("autoattack_accuracy@0.1") == 0.1
    assert reproduce.attack_radius("robust_accuracy@0") == 0.0
    assert reproduce.attack_radius("classifier_score@z_adv1") is None
