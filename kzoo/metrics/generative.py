"""Generative metrics (NumPy in, Python floats and NumPy out): Frechet distance, inception
score, kernel inception distance, and exact metrics for samples of the 2-D Gaussian mixtures.

The Frechet distance and KID take features from any extractor
(``kzoo.metrics.features``): on a kzoo classifier's features kzoo reports a "Frechet
classifier distance"; on Keras' ImageNet InceptionV3 (``InceptionFeatures``) the numbers
follow FID's and KID's formulas but are not comparable with published FIDs (another
network than the reference one).
"""

import numpy as np

from kzoo import validate


def feature_statistics(features):
    """Mean and covariance (unbiased, ``np.cov``'s) of features (n, d)."""
    f = _finite("features", features)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must have shape (n >= 2, d); got {f.shape}.")
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between two Gaussians.

    The trace of the square root is the sum of the square roots of the
    eigenvalues of ``S1^(1/2) S2 S1^(1/2)`` (symmetric, so no complex detour).
    """
    mu1, mu2 = np.asarray(mu1, "float64"), np.asarray(mu2, "float64")
    s1, s2 = np.atleast_2d(sigma1).astype("float64"), np.atleast_2d(sigma2).astype("float64")
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1),) * 2:
        raise ValueError(f"means {mu1.shape}, {mu2.shape} and covariances {s1.shape}, "
                         f"{s2.shape} do not match.")
    values, vectors = np.linalg.eigh(s1)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = np.linalg.eigvalsh(root1 @ s2 @ root1)
    trace_root = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root)


def frechet_distance_of(features_a, features_b):
    """``frechet_distance`` between the Gaussians fitted to two feature sets."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


def inception_score(probs, splits=10):
    """The inception score ``exp(E_x KL(p(y|x) || p(y)))`` (Salimans et al., 2016), computed
    on each of ``splits`` consecutive parts of ``probs``, with ``p(y)`` the part's mean:
    ``(mean, std)`` over the parts, as Python floats.

    Args:
        probs: (n, classes) rows of class probabilities (NumPy or a list).
        splits: int in [1, n]. Parts; 10 as in the papers (which use 50,000 samples, so
            5,000 per part). Smaller parts estimate ``p(y)`` worse and lower the score:
            compare scores only at equal ``n`` and ``splits``. Default 10.

    Examples:
        >>> mean, std = inception_score(np.eye(5)[np.arange(100) % 5])  # sure, balanced
        >>> round(mean, 6), std
        (5.0, 0.0)
    """
    p = np.asarray(probs, "float64")
    if p.ndim != 2 or not len(p) or not np.allclose(p.sum(1), 1, atol=1e-4) or (p < 0).any():
        raise ValueError("probs must be rows of class probabilities (n, classes).")
    scores = []
    for part in np.array_split(p, validate.integer("splits", splits, low=1, high=len(p))):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def kernel_inception_distance(features_a, features_b, subsets=10, subset_size=1000, seed=0):
    """Unbiased MMD^2 with the cubic kernel ``(x.y / d + 1)^3``, averaged over ``subsets``
    (int >= 1) random subsets of ``subset_size`` (int >= 2) samples, or all when fewer
    (Binkowski et al.): (mean, std)."""
    a, b = _finite("features_a", features_a), _finite("features_b", features_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (n, d) with the same d; got {a.shape}, {b.shape}.")
    subsets = validate.integer("subsets", subsets, low=1)
    m = min(len(a), len(b), validate.integer("subset_size", subset_size, low=2))
    if m < 2:
        raise ValueError("kernel_inception_distance needs at least 2 samples per set.")
    rng = np.random.default_rng(validate.seed("seed", seed))
    values = [_mmd2(a[rng.choice(len(a), m, replace=False)],
                    b[rng.choice(len(b), m, replace=False)]) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def _finite(name, values):
    """``values`` as a float64 array, or ``ValueError`` if it holds NaN or inf."""
    array = np.asarray(values, "float64")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite; it holds "
                         f"{int(array.size - np.isfinite(array).sum())} NaN or inf values.")
    return array


def _mmd2(x, y):
    d = x.shape[1]
    kxx, kyy, kxy = ((u @ v.T / d + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
    m = len(x)
    off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return off - 2 * kxy.mean()


def mixture_report(samples, mixture, sigmas=3.0, min_share=None):
    """Exact metrics of 2-D samples against a ``GaussianMixture2D``.

    - ``high_quality``: share of samples within ``sigmas`` standard deviations of
      their nearest mode;
    - ``modes``: modes with at least ``min_share`` of the high-quality samples
      (default: a quarter of an even share);
    - ``log_density``: mean exact log density of the samples under the mixture.
    """
    x = _finite("samples", samples)
    if x.ndim != 2 or x.shape[1] != 2 or not len(x):
        raise ValueError(f"samples must have shape (n >= 1, 2); got {x.shape}.")
    validate.number("sigmas", sigmas, low=0, low_open=True)
    if min_share is not None:
        validate.number("min_share", min_share, low=0, high=1)
    d2 = ((x[:, None, :] - mixture.means[None]) ** 2).sum(-1)
    nearest = d2.argmin(1)
    good = np.sqrt(d2.min(1)) <= sigmas * mixture.std
    k = mixture.num_components
    min_share = 0.25 / k if min_share is None else min_share
    counts = np.bincount(nearest[good], minlength=k)
    covered = int((counts >= max(1, min_share * len(x))).sum())
    return {"modes": covered, "high_quality": float(good.mean()),
            "log_density": float(mixture.log_prob(x).mean())}
