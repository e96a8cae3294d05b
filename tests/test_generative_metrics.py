"""Generative metrics against SciPy, closed forms and direct loops."""

import numpy as np
import pytest
from scipy import linalg, stats

from kzoo.data.embedded import grid25_mixture, ring8_mixture
from kzoo.metrics import generative


def _random_cov(rng, d):
    a = rng.normal(size=(d, d + 3))
    return a @ a.T / (d + 3)


def test_frechet_distance_matches_scipy_sqrtm(rng):
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
    root = linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root)
    assert generative.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert generative.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_of_features(rng):
    a = rng.normal(size=(500, 3))
    b = rng.normal(size=(400, 3)) * 2 + 1
    expected = generative.frechet_distance(a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T))
    assert generative.frechet_distance_of(a, b) == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"features must have shape \(n >= 2, d\)"):
        generative.frechet_distance_of(a[:1], b)


def test_inception_score_closed_forms():
    c = 5
    confident = np.eye(c)[np.arange(100) % c]  # sure and balanced in every split: exp(log C)
    assert generative.inception_score(confident) == pytest.approx((c, 0), rel=1e-6, abs=1e-9)
    assert generative.inception_score(np.full((50, c), 1 / c))[0] == pytest.approx(1.0)
    one_class = np.eye(c)[np.zeros(40, int)]  # sure but one class: 1
    assert generative.inception_score(one_class)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="rows of class probabilities"):
        generative.inception_score(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"splits must be an int in \[1, 9\]; got 10"):
        generative.inception_score(confident[:9])  # the default 10 splits need 10 rows


def _inception_score_oracle(p, splits):
    """Salimans et al.'s split formula with SciPy's KL divergence."""
    scores = [np.exp(np.mean([stats.entropy(row, part.mean(0)) for row in part]))
              for part in np.array_split(p, splits)]
    return np.mean(scores), np.std(scores)


def test_inception_score_matches_scipy_entropy(rng):
    probs = rng.dirichlet(np.full(7, 0.5), size=233)
    assert generative.inception_score(probs) == pytest.approx(
        _inception_score_oracle(probs, 10), rel=1e-7)  # ten splits by default
    assert generative.inception_score(probs, splits=3) == pytest.approx(
        _inception_score_oracle(probs, 3), rel=1e-7)
    # one split over all rows estimates p(y) best: a higher score than ten small splits
    assert generative.inception_score(probs, splits=1)[0] > generative.inception_score(probs)[0]


def test_kid_equals_a_direct_loop(rng):
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 4)) + 0.5

    def k(u, v):
        return (u @ v / 4 + 1) ** 3

    m = 12
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    mean, std = generative.kernel_inception_distance(x, y, subsets=3, subset_size=12)
    assert mean == pytest.approx(xx + yy - 2 * xy) and std == pytest.approx(0, abs=1e-9)


def test_mixture_report_on_exact_samples(rng):
    """Samples of the mixture itself: every mode, a share 1 - exp(-9/2) within 3 sigma
    (the 2-D Rayleigh law), and the mean log density near minus the entropy."""
    mix = grid25_mixture()
    x, _ = mix.sample(50_000, rng)
    report = generative.mixture_report(x, mix)
    assert report["modes"] == 25
    assert report["high_quality"] == pytest.approx(1 - np.exp(-4.5), abs=3e-3)
    entropy = np.log(25) + np.log(2 * np.pi * np.e * mix.std**2)  # well-separated modes
    assert report["log_density"] == pytest.approx(-entropy, abs=0.02)
    one = ring8_mixture()
    report = generative.mixture_report(np.tile(one.means[:1], (100, 1)), one)
    assert report["modes"] == 1 and report["high_quality"] == 1.0
    far = generative.mixture_report(np.zeros((10, 2)), one)
    assert far["modes"] == 0 and far["high_quality"] == 0.0
