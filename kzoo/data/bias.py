"""Bias transforms: each returns a new Dataset and appends a step to its provenance.

Training-set transforms that select do so with a seeded generator and record a
hash of the selected indices; nothing selects on the test split.
"""

import numpy as np

from kzoo import validate
from kzoo.data.dataset import Dataset, index_hash


def long_tail(ds, imbalance, seed=0):
    """Exponential long tail: class ``i`` keeps ``floor(n * imbalance ** (-i / (C - 1)))``.

    ``n`` is the size of the smallest training class (so every quota can be met);
    class 0 is the head. The validation split is thinned with the same per-class
    shares; the test split is left balanced.

    Args:
        ds: Dataset.
        imbalance: float >= 1. Ratio of the largest to the smallest class.
        seed: int in [0, 2**32 - 1]. Default 0 (as in every transform that draws).

    Examples:
        >>> lt = long_tail(kzoo.data.load("digits"), imbalance=10)
        >>> lt.class_counts()[0] / lt.class_counts()[-1]
        10.0
    """
    seed, rng = _start(ds, seed)
    validate.number("imbalance", imbalance, low=1)
    c = ds.num_classes
    shares = float(imbalance) ** (-np.arange(c) / max(c - 1, 1))
    n_head = min(ds.class_counts())
    quota_train = np.maximum(1, np.floor(n_head * shares)).astype(int)
    keep_tr = _take_per_class(ds.y_train, quota_train, rng)
    n_val = min(ds.class_counts("val"))
    keep_va = _take_per_class(ds.y_val, np.maximum(1, np.floor(n_val * shares)).astype(int), rng)
    step = {"transform": "long_tail", "imbalance": float(imbalance), "seed": seed,
            "train_index": index_hash(keep_tr), "val_index": index_hash(keep_va)}
    return ds.replace(step, x_train=ds.x_train[keep_tr], y_train=ds.y_train[keep_tr],
                      x_val=ds.x_val[keep_va], y_val=ds.y_val[keep_va],
                      extras=_kept(ds, keep_tr))


def label_noise(ds, rate, kind="uniform", seed=0):
    """Corrupts a share ``rate`` of training labels; ``extras["noisy"]`` marks which.

    ``kind="uniform"`` draws the new label uniformly from the other classes;
    ``kind="flip"`` moves class ``c`` to ``c + 1`` (mod C), pair flipping.
    ``extras["y_train_clean"]`` keeps the true labels.
    """
    seed, rng = _start(ds, seed)
    validate.number("rate", rate, low=0, high=1, high_open=True)
    validate.choice("kind", kind, ("uniform", "flip"))
    n = len(ds.y_train)
    flipped = np.sort(rng.choice(n, size=int(round(rate * n)), replace=False))
    y = ds.y_train.copy()
    if kind == "flip":
        y[flipped] = (y[flipped] + 1) % ds.num_classes
    else:
        offset = rng.integers(1, ds.num_classes, size=len(flipped))
        y[flipped] = (y[flipped] + offset) % ds.num_classes
    noisy = np.zeros(n, dtype=bool)
    noisy[flipped] = True
    step = {"transform": "label_noise", "rate": float(rate), "kind": kind, "seed": seed,
            "flipped_index": index_hash(flipped)}
    extras = {**ds.extras, "noisy": noisy, "y_train_clean": ds.y_train}
    return ds.replace(step, y_train=y, extras=extras)


def reduce(ds, fraction, seed=0):
    """Keeps a random stratified ``fraction`` of the training set (e.g. 0.3 keeps 30%)."""
    seed, rng = _start(ds, seed)
    validate.number("fraction", fraction, low=0, high=1, low_open=True)
    quota = np.maximum(1, np.round(np.asarray(ds.class_counts()) * fraction)).astype(int)
    keep = _take_per_class(ds.y_train, quota, rng)
    step = {"transform": "reduce", "fraction": float(fraction), "seed": seed,
            "train_index": index_hash(keep)}
    return ds.replace(step, x_train=ds.x_train[keep], y_train=ds.y_train[keep],
                      extras=_kept(ds, keep))


def corrupt_test(ds, kind="gaussian", severity=0.1, share=0.7, seed=0):
    """Corrupts a random ``share`` of test images; ``extras["corrupted"]`` marks which.

    ``kind="gaussian"`` adds N(0, severity^2) noise; ``kind="salt_pepper"`` sets
    a share ``severity`` of pixels to 0 or 1. Results are clipped to [0, 1].
    """
    seed, rng = _start(ds, seed)
    validate.choice("kind", kind, ("gaussian", "salt_pepper"))
    validate.number("severity", severity, low=0, high=1 if kind == "salt_pepper" else None)
    validate.number("share", share, low=0, high=1)
    n = len(ds.y_test)
    picked = np.sort(rng.choice(n, size=int(round(share * n)), replace=False))
    x = ds.x_test.copy()
    sub = x[picked]
    if kind == "gaussian":
        sub = sub + severity * rng.standard_normal(sub.shape).astype("float32")
    else:
        hit = rng.random(sub.shape) < severity
        sub = np.where(hit, (rng.random(sub.shape) < 0.5).astype("float32"), sub)
    x[picked] = np.clip(sub, 0.0, 1.0)
    corrupted = np.zeros(n, dtype=bool)
    corrupted[picked] = True
    step = {"transform": "corrupt_test", "kind": kind, "severity": float(severity),
            "share": float(share), "seed": seed, "test_index": index_hash(picked)}
    return ds.replace(step, x_test=x, extras={**ds.extras, "corrupted": corrupted})


PALETTE = np.array([
    [1.0, 0.2, 0.2], [0.2, 1.0, 0.2], [0.2, 0.4, 1.0], [1.0, 1.0, 0.2], [1.0, 0.2, 1.0],
    [0.2, 1.0, 1.0], [1.0, 0.6, 0.2], [0.6, 0.2, 1.0], [0.6, 1.0, 0.6], [1.0, 1.0, 1.0],
], dtype="float32")


def spurious_colour(ds, correlation=0.95, seed=0):
    """Colours grey images: in train and validation, class ``c`` takes colour ``c`` with
    probability ``correlation`` (else a random colour); at test, colours are uniform.

    Groups are (label, whether the colour is the label's colour);
    ``extras["groups_test"]`` holds them for worst-group accuracy.
    """
    seed, rng = _start(ds, seed)
    if ds.x_train.ndim != 4 or ds.x_train.shape[-1] != 1:
        raise ValueError(f"spurious_colour needs grey images (n, h, w, 1); got {ds.x_train.shape}.")
    if ds.num_classes > len(PALETTE):
        raise ValueError(f"spurious_colour supports up to {len(PALETTE)} classes.")
    validate.number("correlation", correlation, low=0, high=1)
    c = ds.num_classes

    def paint(x, y, corr):
        colour = np.where(rng.random(len(y)) < corr, y, rng.integers(0, c, size=len(y)))
        return (x * PALETTE[colour][:, None, None, :]).astype("float32"), colour

    x_tr, col_tr = paint(ds.x_train, ds.y_train, correlation)
    x_va, _ = paint(ds.x_val, ds.y_val, correlation)
    x_te, col_te = paint(ds.x_test, ds.y_test, 1.0 / c)
    groups = 2 * ds.y_test + (col_te == ds.y_test)
    step = {"transform": "spurious_colour", "correlation": float(correlation), "seed": seed,
            "train_colour": index_hash(col_tr), "test_colour": index_hash(col_te)}
    extras = {**ds.extras, "groups_test": groups, "colour_train": col_tr}
    return ds.replace(step, x_train=x_tr, x_val=x_va, x_test=x_te, extras=extras)


def meta_split(ds, per_class=10, seed=0):
    """Moves ``per_class`` training examples of every class into a clean, balanced meta set
    (``extras["x_meta"]``, ``extras["y_meta"]``). Taken from train, never from test."""
    seed, rng = _start(ds, seed)
    per_class = validate.integer("per_class", per_class, low=1)
    clean = ds.extras.get("y_train_clean", ds.y_train)
    counts = np.bincount(clean, minlength=ds.num_classes)
    if min(counts) <= per_class:
        raise ValueError(
            f"meta_split needs more than per_class={per_class} training examples in every "
            f"class; the smallest class has {min(counts)}."
        )
    meta = _take_per_class(clean, np.full(ds.num_classes, per_class), rng)
    rest = np.setdiff1d(np.arange(len(ds.y_train)), meta)
    extras = {**_kept(ds, rest), "x_meta": ds.x_train[meta], "y_meta": clean[meta]}
    if "colour_train" in ds.extras:
        extras["colour_meta"] = ds.extras["colour_train"][meta]
    step = {"transform": "meta_split", "per_class": per_class, "seed": seed,
            "meta_index": index_hash(meta)}
    return ds.replace(step, x_train=ds.x_train[rest], y_train=ds.y_train[rest], extras=extras)


def meta_merge(ds):
    """Puts the meta set of a ``meta_split`` back into the training split, clean labels and
    all: the data of a control that sees the meta-learner's clean images by plain training
    (``extras["noisy"]`` marks them clean, ``extras["y_train_clean"]`` holds their labels).

    Examples:
        >>> noisy = label_noise(meta_split(kzoo.data.load("digits"), 10), rate=0.4)
        >>> len(meta_merge(noisy).y_train) - len(noisy.y_train)
        100
    """
    check_dataset(ds)
    if "x_meta" not in ds.extras:
        raise ValueError("meta_merge needs a meta set: a meta_split step before it.")
    if ("colour_train" in ds.extras) != ("colour_meta" in ds.extras):
        raise ValueError("meta_merge cannot colour the meta set like the training images "
                         "(spurious_colour came between meta_split and it): colour before "
                         "meta_split or after meta_merge.")
    x_meta, y_meta = ds.extras["x_meta"], ds.extras["y_meta"]
    extras = {k: v for k, v in ds.extras.items() if k not in ("x_meta", "y_meta", "colour_meta")}
    for key, meta in (("noisy", np.zeros(len(y_meta), bool)), ("y_train_clean", y_meta),
                      ("colour_train", ds.extras.get("colour_meta"))):
        if key in extras:
            extras[key] = np.concatenate([extras[key], meta])
    step = {"transform": "meta_merge", "examples": len(y_meta)}
    return ds.replace(step, x_train=np.concatenate([ds.x_train, x_meta]),
                      y_train=np.concatenate([ds.y_train, y_meta]), extras=extras)


# extras that hold one entry per training example, in its order
PER_EXAMPLE = ("noisy", "y_train_clean", "colour_train")


def _kept(ds, keep):
    """``ds.extras`` with its per-example entries (``PER_EXAMPLE``) cut to the training
    examples ``keep``."""
    return {**ds.extras, **{k: ds.extras[k][keep] for k in PER_EXAMPLE if k in ds.extras}}


def _take_per_class(y, quota, rng):
    """Sorted indices: the first ``quota[c]`` of a seeded permutation of class c."""
    keep = []
    for c, q in enumerate(quota):
        idx = np.flatnonzero(y == c)
        keep.append(rng.permutation(idx)[: int(q)])
    return np.sort(np.concatenate(keep))


def check_dataset(ds):
    """``ds`` if it is a ``Dataset``, or ``ValueError``."""
    if not isinstance(ds, Dataset):
        raise ValueError(f"ds must be a kzoo.data.Dataset; got {ds!r}.")
    return ds


def _start(ds, seed):
    """Checks a transform's data set (its training labels as ``fit`` does) and seed; returns
    the seed and its random generator."""
    check_dataset(ds)
    if not np.issubdtype(np.asarray(ds.y_train).dtype, np.integer):
        raise ValueError(f"y_train must hold integer class indices (e.g. "
                         f"y_train.astype('int64')); got dtype {np.asarray(ds.y_train).dtype}.")
    validate.check_labels(ds.y_train, ds.num_classes, "y_train")
    seed = validate.seed("seed", seed)
    return seed, np.random.default_rng(seed)
