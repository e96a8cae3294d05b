"""Loaders and bias transforms (NumPy only; independent of the Keras backend)."""

import hashlib

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.datasets import load_digits

from kzoo import data
from kzoo.data import registry
from kzoo.data.embedded import grid25_mixture, ring8_mixture


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_digits_splits(digits):
    assert digits.x_train.shape[1:] == (8, 8, 1) and digits.x_train.dtype == np.float32
    assert 0 <= digits.x_train.min() and digits.x_train.max() <= 1
    n = len(digits.y_train) + len(digits.y_val) + len(digits.y_test)
    assert n == 1797
    assert len(digits.y_test) == pytest.approx(0.3 * 1797, abs=1)
    assert len(digits.y_val) == pytest.approx(0.1 * (1797 - len(digits.y_test)), abs=1)
    # Stratified: every split holds each class near its overall share.
    for split in ("train", "val", "test"):
        counts = np.array(digits.class_counts(split))
        assert counts.max() - counts.min() <= 6
    assert digits.class_names == tuple(str(i) for i in range(10))
    again = data.load("digits")
    assert again.provenance_hash == digits.provenance_hash
    assert data.load("digits", seed=1).provenance_hash != digits.provenance_hash


def test_long_tail_profile(digits):
    lt = data.long_tail(digits, imbalance=10)
    counts = np.array(lt.class_counts())
    n_head = min(digits.class_counts())
    expected = np.maximum(1, np.floor(n_head * 10.0 ** (-np.arange(10) / 9)))
    np.testing.assert_array_equal(counts, expected)
    assert counts[0] / counts[-1] == 10
    assert len(lt.y_test) == len(digits.y_test)
    assert lt.provenance[-1]["transform"] == "long_tail"
    assert lt.provenance_hash != digits.provenance_hash
    assert data.long_tail(digits, 1).class_counts() == [n_head] * 10


@pytest.mark.parametrize("kind", ["uniform", "flip"])
def test_label_noise(digits, kind):
    noisy = data.label_noise(digits, 0.2, kind=kind)
    changed = noisy.y_train != digits.y_train
    np.testing.assert_array_equal(changed, noisy.extras["noisy"])
    assert changed.sum() == round(0.2 * len(digits.y_train))
    if kind == "flip":
        np.testing.assert_array_equal(noisy.y_train[changed], (digits.y_train[changed] + 1) % 10)
    np.testing.assert_array_equal(noisy.extras["y_train_clean"], digits.y_train)


def test_reduce_keeps_fraction(digits):
    small = data.reduce(digits, 0.3)
    expected = np.round(np.array(digits.class_counts()) * 0.3)
    np.testing.assert_array_equal(small.class_counts(), expected)


@pytest.mark.parametrize("kind, severity", [("gaussian", 0.3), ("salt_pepper", 0.2)])
def test_corrupt_test(digits, kind, severity):
    c = data.corrupt_test(digits, kind=kind, severity=severity, share=0.7)
    mask = c.extras["corrupted"]
    assert mask.sum() == round(0.7 * len(digits.y_test))
    np.testing.assert_array_equal(c.x_test[~mask], digits.x_test[~mask])
    assert np.all((c.x_test >= 0) & (c.x_test <= 1))
    changed = (c.x_test[mask] != digits.x_test[mask]).mean()
    assert changed > (0.5 if kind == "gaussian" else 0.05)
    np.testing.assert_array_equal(c.x_train, digits.x_train)


def test_spurious_colour(digits):
    s = data.spurious_colour(digits, correlation=0.95)
    assert s.x_train.shape[-1] == 3
    aligned_train = (s.extras["colour_train"] == s.y_train).mean()
    assert aligned_train > 0.9
    groups = s.extras["groups_test"]
    aligned_test = (groups % 2 == 1).mean()
    assert 0.02 < aligned_test < 0.25  # colours uniform at test: about 1/10 aligned


def test_meta_split(digits):
    noisy = data.label_noise(digits, 0.3)
    m = data.meta_split(noisy, per_class=10)
    assert np.bincount(m.extras["y_meta"]).tolist() == [10] * 10
    assert len(m.y_train) == len(digits.y_train) - 100
    assert len(m.extras["noisy"]) == len(m.y_train)
    # The meta labels are the clean ones, and the meta images left train.
    train_rows = {row.tobytes() for row in m.x_train}
    assert not any(row.tobytes() in train_rows for row in m.extras["x_meta"])


def test_meta_merge_puts_the_clean_meta_set_back(digits):
    m = data.label_noise(data.meta_split(digits, per_class=10), 0.4, kind="flip")
    merged = data.meta_merge(m)
    np.testing.assert_array_equal(merged.x_train, np.concatenate([m.x_train, m.extras["x_meta"]]))
    np.testing.assert_array_equal(merged.y_train, np.concatenate([m.y_train, m.extras["y_meta"]]))
    assert len(merged.y_train) == len(digits.y_train)
    assert merged.extras["noisy"].sum() == m.extras["noisy"].sum()  # the meta set is clean
    assert not merged.extras["noisy"][-100:].any()
    np.testing.assert_array_equal(merged.extras["y_train_clean"][-100:], m.extras["y_meta"])
    assert "x_meta" not in merged.extras and merged.provenance[-1]["examples"] == 100
    np.testing.assert_array_equal(merged.x_test, digits.x_test)
    coloured = data.spurious_colour(digits)  # every image keeps its colour
    colour_of = dict(zip((x.tobytes() for x in coloured.x_train),
                         coloured.extras["colour_train"]))
    again = data.meta_merge(data.meta_split(coloured))
    assert "colour_meta" not in again.extras and len(again.y_train) == len(coloured.y_train)
    assert [colour_of[x.tobytes()] for x in again.x_train] == again.extras["colour_train"].tolist()


@pytest.mark.parametrize("thin", [lambda ds: data.long_tail(ds, 10),
                                  lambda ds: data.reduce(ds, 0.5)], ids=["long_tail", "reduce"])
def test_thinning_keeps_the_marks_of_each_example(digits, thin):
    """A pair flip changes every label it picks: noisy is exactly y != y_clean."""
    kept = thin(data.label_noise(digits, 0.4, kind="flip"))
    noisy, clean = kept.extras["noisy"], kept.extras["y_train_clean"]
    assert len(noisy) == len(clean) == len(kept.y_train) < len(digits.y_train)
    np.testing.assert_array_equal(noisy, kept.y_train != clean)


@pytest.mark.parametrize("mixture", [ring8_mixture(), grid25_mixture()])
def test_mixture_density_matches_scipy(mixture, rng):
    x, _ = mixture.sample(200, rng)
    cov = mixture.std**2 * np.eye(2)
    expected = np.log(np.mean([multivariate_normal(m, cov).pdf(x) for m in mixture.means], 0))
    np.testing.assert_allclose(mixture.log_prob(x), expected, rtol=1e-6)


def test_mixture_datasets():
    ring = data.load("ring8")
    assert ring.x_train.shape[1:] == (2,) and ring.num_classes == 8
    radius = np.linalg.norm(ring.x_test, axis=1)
    assert abs(radius.mean() - 2) < 0.01
    assert data.load("grid25").num_classes == 25


@pytest.mark.parametrize("call, match", [
    (lambda ds: data.long_tail(ds, 0.5), r"imbalance must be a finite number >= 1; got 0.5"),
    (lambda ds: data.label_noise(ds, 1.0), r"rate must be a finite number in \[0, 1\); got 1.0"),
    (lambda ds: data.label_noise(ds, -0.1), "rate must be"),
    (lambda ds: data.label_noise(ds, 0.1, kind="pair"),
     "kind must be one of 'uniform', 'flip'; got 'pair'"),
    (lambda ds: data.reduce(ds, 0.0), r"fraction must be a finite number in \(0, 1\]; got 0.0"),
    (lambda ds: data.reduce(ds, 1.5), "fraction must be"),
    (lambda ds: data.corrupt_test(ds, "blur"),
     "kind must be one of 'gaussian', 'salt_pepper'; got 'blur'"),
    (lambda ds: data.corrupt_test(ds, share=1.2), "share must be"),
    (lambda ds: data.meta_split(ds, per_class=500), "smallest class"),
    (lambda ds: data.meta_merge(ds), "meta_merge needs a meta set: a meta_split step before"),
    (lambda ds: data.meta_merge(data.spurious_colour(data.meta_split(ds))),
     "spurious_colour came between meta_split and it"),
    (lambda ds: data.long_tail(ds, float("nan")), "imbalance"),
])
def test_transform_errors(digits, call, match):
    with pytest.raises(ValueError, match=match):
        call(digits)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="name must be one of 'digits', 'ring8', 'grid25', 'mn"):
        data.load("imagenet")


@pytest.mark.parametrize("entry", [e for e in registry.REGISTRY.values() if e.splits is None],
                         ids=lambda e: e.name)
def test_the_registry_describes_each_embedded_set(entry):
    ds = data.load(entry.name)
    assert ds.input_shape == entry.input_shape and ds.num_classes == entry.classes
    assert ds.name == entry.name and entry.licence and entry.description
    assert entry.exact == ("mixture" in ds.extras)


def test_your_own_arrays_are_a_dataset_with_their_hash():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).reshape(-1, 8, 8, 1).astype("float32")
    ds = data.from_arrays("mine", x[:1500], y[:1500], x[1500:], y[1500:],
                          class_names=[f"digit {i}" for i in range(10)], seed=3)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (1350, 150, 297)
    assert np.array_equal(ds.x_test, x[1500:]) and ds.class_names[3] == "digit 3"
    val = np.bincount(ds.y_val, minlength=10)
    assert np.all(np.abs(val - np.bincount(y[:1500], minlength=10) / 10) <= 1)  # stratified
    digest = hashlib.sha256()
    for a in (x[:1500], y[:1500].astype("int64"), x[1500:], y[1500:].astype("int64")):
        digest.update(a.tobytes())
    assert ds.provenance[0]["sha256"] == digest.hexdigest()
    assert repr(ds) == f"Dataset({ds.summary()}, input 8x8x1)" and "\n" not in repr(ds)
    assert data.long_tail(ds, 10).class_counts()[0] / data.long_tail(ds, 10).class_counts()[9] \
        == pytest.approx(10, rel=0.1)


@pytest.mark.parametrize("make, message", [
    (lambda x, y: ("", x, y, x, y), "name must be a non-empty string"),
    (lambda x, y: ("m", x, y[:-1], x, y), "x_train and y_train must hold the same number"),
    (lambda x, y: ("m", x, y, x[:, :4], y), "x_test"),
    (lambda x, y: ("m", x, y + 1, x, y, list(range(10))), r"y_train holds labels in \[1, 10\]; "
                                                           r"allowed: 0 to 9"),
])
def test_bad_arrays_are_named(make, message):
    x, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match=message):
        data.from_arrays(*make((x / 16.0).reshape(-1, 8, 8, 1), y))
