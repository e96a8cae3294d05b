"""Data sets that need no download: scikit-learn's digits and 2-D Gaussian mixtures."""

import numpy as np

from kzoo import validate
from kzoo.data.splits import carve_validation

DIGITS_TEST_SHARE = 0.3


def digits(seed=0):
    """scikit-learn's 1,797 handwritten digits, 8x8x1 in [0, 1].

    Stratified 30% test split, then 10% of train as validation, both seeded.
    """
    from sklearn.datasets import load_digits  # here: naming a data set imports no library
    from sklearn.model_selection import train_test_split

    seed = validate.seed("seed", seed)
    bunch = load_digits()
    x = (bunch.images / 16.0).astype("float32")[..., None]
    y = bunch.target.astype("int64")
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=DIGITS_TEST_SHARE, stratify=y, random_state=seed
    )
    names = [str(c) for c in bunch.target_names]
    return carve_validation("digits", x_tr, y_tr, x_te, y_te, names, seed,
                            {"test_share": DIGITS_TEST_SHARE})


class GaussianMixture2D:
    """An equal-weight mixture of isotropic 2-D Gaussians with exact density.

    Args:
        means: array (k, 2). Component means.
        std: float. Standard deviation of every component.

    Examples:
        >>> mix = ring8_mixture()
        >>> x, y = mix.sample(1000, np.random.default_rng(0))
        >>> mix.log_prob(x).shape
        (1000,)
    """

    def __init__(self, means, std):
        self.means = np.asarray(means, dtype="float64")
        if self.means.ndim != 2 or self.means.shape[1] != 2 or not len(self.means) or \
                not np.isfinite(self.means).all():
            raise ValueError(f"means must be finite 2-D points, shape (k >= 1, 2); got {means!r}.")
        self.std = validate.number("std", std, low=0, low_open=True)

    @property
    def num_components(self):
        return len(self.means)

    def sample(self, n, rng):
        """``n`` points and their component indices, drawn with ``rng`` (a NumPy Generator)."""
        n = validate.integer("n", n, low=1)
        y = rng.integers(0, self.num_components, size=n)
        x = self.means[y] + self.std * rng.standard_normal((n, 2))
        return x.astype("float32"), y.astype("int64")

    def component_log_prob(self, x):
        """``log N(x; mu_k, std^2 I)`` for every component, shape (n, k)."""
        d2 = ((np.asarray(x, "float64")[:, None, :] - self.means[None]) ** 2).sum(-1)
        return -0.5 * d2 / self.std**2 - np.log(2 * np.pi * self.std**2)

    def log_prob(self, x):
        """Exact log density of the mixture at each row of ``x``."""
        from scipy.special import logsumexp

        return logsumexp(self.component_log_prob(x), axis=1) - np.log(self.num_components)


def ring8_mixture():
    """8 Gaussians on a circle of radius 2, std 0.02."""
    angles = 2 * np.pi * np.arange(8) / 8
    return GaussianMixture2D(np.stack([2 * np.cos(angles), 2 * np.sin(angles)], 1), 0.02)


def grid25_mixture():
    """25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, std 0.05."""
    g = np.arange(-4, 5, 2, dtype="float64")
    return GaussianMixture2D(np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2), 0.05)


def _mixture_dataset(name, mixture, seed, n_train=20000, n_test=5000):
    seed = validate.seed("seed", seed)
    rng = np.random.default_rng(seed)
    x_tr, y_tr = mixture.sample(n_train, rng)
    x_te, y_te = mixture.sample(n_test, rng)
    names = [f"mode{k}" for k in range(mixture.num_components)]
    ds = carve_validation(name, x_tr, y_tr, x_te, y_te, names, seed, {"std": mixture.std})
    ds.extras["mixture"] = mixture
    return ds


def ring8(seed=0):
    """Samples of ``ring8_mixture()``; labels are the component indices."""
    return _mixture_dataset("ring8", ring8_mixture(), seed)


def grid25(seed=0):
    """Samples of ``grid25_mixture()``; labels are the component indices."""
    return _mixture_dataset("grid25", grid25_mixture(), seed)
