"""A generator's sample quality, at ordinary and at worst-case input noise.

``generator_report`` is what ``kzoo eval`` prints for a generator preset: on the
2-D mixtures, the exact metrics of ``mixture_report``; on images, the Frechet and
kernel distances between the features of samples and of the test images (a kzoo
classifier's features: "Frechet classifier distance", never FID) and the
classifier score (the inception score's formula on the classifier's
probabilities, over all samples at once: one split, not IS's ten). ``worst_eps``
adds each metric at the worst input noise within that radius (RobustGAN's figure 3).

Every function here returns NumPy arrays or Python numbers, on every backend.
"""

import numpy as np
from keras import ops

from kzoo import validate
from kzoo.data import check_dataset, registry
from kzoo.data.scaling import to_unit
from kzoo.metrics.generative import (
    frechet_distance_of,
    inception_score,
    kernel_inception_distance,
    mixture_report,
)


def feature_preset(data_name, features=None):
    """The classifier preset (or run directory) whose features measure a generator of the
    data set ``data_name``: ``features`` when given, else the data set's own
    (``kzoo.data.registry``); None for a data set with exact metrics. ``ValueError`` when
    there is none (as for your own data: ``data_name`` None)."""
    if features is not None:
        if not isinstance(features, str) or not features:
            raise ValueError(f"features must name a classifier preset or run directory; "
                             f"got {features!r}.")
        return features
    entry = None if data_name is None else registry.get(data_name)
    if entry is not None and entry.exact:
        return None
    if entry is None or entry.features is None:
        have = [e.name for e in registry.REGISTRY.values() if e.features]
        what = "your own data" if entry is None else repr(data_name)
        raise ValueError(f"the zoo has no feature network for {what} (it has one for "
                         f"{', '.join(have)}); name a classifier preset or run trained on it.")
    return entry.features


def latent_batch(gan, n, seed=0):
    """``n`` (int >= 1) latent vectors (and labels, if conditional) from NumPy, drawn with
    ``seed`` (int in [0, 2**32 - 1]): the same on every backend."""
    n = validate.integer("n", n, low=1)
    z = np.random.default_rng(validate.seed("seed", seed)).standard_normal((n, gan.latent_dim))
    z = z.astype("float32")
    labels = (np.arange(n) % gan.num_classes).astype("int32") if gan.conditional else None
    return z, labels


def generate(gan, z, labels=None, eps=0.0, batch_size=500):
    """Samples (NumPy, in the data's range: ``gan.generate``'s, [0, 1] images) from ``z``
    or, with ``eps > 0``, from the worst noise within ``eps`` (>= 0) of each ``z``
    (``gan.worst_latent``), ``batch_size`` (int >= 1) at a time. Inference mode
    throughout.

    Examples:
        >>> gan = kzoo.load("digits-wgan-gp")
        >>> images = generate(gan, *latent_batch(gan, 64), eps=1.0)   # (64, 8, 8, 1) in [0, 1]
    """
    eps = validate.number("eps", eps, low=0)
    batch_size = validate.integer("batch_size", batch_size, low=1)
    z = np.asarray(z, "float32")
    if z.ndim != 2 or not len(z) or z.shape[1] != gan.latent_dim or not np.isfinite(z).all():
        raise ValueError(f"z must be finite latent vectors, shape (n >= 1, {gan.latent_dim}); "
                         f"got shape {z.shape}.")
    if labels is not None and len(labels) != len(z):
        raise ValueError(f"labels must hold one label per row of z ({len(z)}); "
                         f"got {len(labels)}.")
    out = []
    for i in range(0, len(z), batch_size):
        zb = ops.convert_to_tensor(z[i:i + batch_size])
        lb = None if labels is None else ops.convert_to_tensor(labels[i:i + batch_size])
        if eps > 0:
            zb = gan.worst_latent(zb, eps, lb, training=False)
        out.append(ops.convert_to_numpy(gan.generate(zb, lb, training=False, keep_state=False)))
    return np.concatenate(out)


def default_samples(ds):
    """How many samples :func:`generator_report` scores when not told: 2,500 on a 2-D
    mixture, 1,000 on images."""
    return 2500 if "mixture" in ds.extras else 1000


def generator_report(gan, ds, n=None, seed=0, worst_eps=(), features=None):
    """The metrics of ``gan``'s samples against ``ds``'s test split, as a flat dict.

    Args:
        gan: kzoo.games.GAN (or RobustGAN).
        ds: Dataset. A 2-D mixture (``extras["mixture"]``) or images; signed
            images (``kzoo.data.signed``) are mapped back to [0, 1] for the features (the
            samples are in [0, 1] already: ``generate``).
        n: int >= 1 or None. Samples. Default 2,500 on a mixture, 1,000 on images
            (``default_samples``).
        seed: int in [0, 2**32 - 1]. Seed of the latent draw. Default 0.
        worst_eps: list of float >= 0. Radii of the worst input noise; each adds the
            metrics with the suffix ``@z_adv<eps>``. Default () (none).
        features: callable or None. Images in [0, 1] -> (features, probs), e.g.
            ``ClassifierFeatures(kzoo.load(feature_preset(ds.name)))``, the data set's
            feature network; needed for images, None for a mixture.

    Returns:
        A dict of Python numbers. Mixtures: ``modes``, ``high_quality``,
        ``log_density``. Images: ``frechet_classifier_distance``,
        ``kernel_classifier_distance``, ``classifier_score`` (``inception_score`` with
        ``splits=1``, the convention the presets' cards were measured with), and
        ``frechet_classifier_distance_real`` (training images against test images:
        what a perfect generator would score).

    Examples:
        >>> gan = kzoo.load("digits-wgan-gp")
        >>> features = ClassifierFeatures(kzoo.load(feature_preset("digits")))
        >>> generator_report(gan, kzoo.data.load("digits"), features=features, worst_eps=[1])
    """
    mixture = check_dataset(ds).extras.get("mixture")
    if isinstance(worst_eps, (list, tuple)) and not worst_eps:
        worst_eps = []
    else:
        worst_eps = validate.numbers_list("worst_eps", worst_eps, low=0)
    n = default_samples(ds) if n is None else n
    z, labels = latent_batch(gan, n, seed)
    if mixture is not None:
        def measure(samples):
            return mixture_report(samples, mixture)
        result = {}
    else:
        if not callable(features):
            preset = registry.get(ds.name).features if ds.name in registry.NAMES else None
            hint = (f" Its feature network: features=kzoo.metrics.ClassifierFeatures("
                    f"kzoo.load({preset!r}))." if preset else
                    " e.g. kzoo.metrics.ClassifierFeatures(a classifier game trained on it).")
            raise ValueError(f"features must be a callable, images -> (features, probs), for "
                             f"{ds.name}'s images; got {features!r:.60}.{hint}")
        unit = to_unit if ds.extras.get("signed") else np.asarray
        real, _ = features(unit(ds.x_test))

        def measure(samples):
            fake, probs = features(samples)
            return {"frechet_classifier_distance": frechet_distance_of(real, fake),
                    "kernel_classifier_distance": kernel_inception_distance(
                        real, fake, subset_size=min(len(real), len(fake)))[0],
                    "classifier_score": inception_score(probs, splits=1)[0]}
        result = {"frechet_classifier_distance_real": frechet_distance_of(
            real, features(unit(ds.x_train))[0])}
    result.update(measure(generate(gan, z, labels)))
    for eps in worst_eps:
        worst = measure(generate(gan, z, labels, eps))
        result.update({f"{k}@z_adv{eps:g}": v for k, v in worst.items()})
    return result
