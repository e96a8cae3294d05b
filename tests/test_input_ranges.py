"""Inputs outside a model's declared range are refused with the argument, the range seen, the
range expected and the likely fix: games, ``predict_proba``, the attacks and the metrics
(kzoo's classifiers take [0, 1] images); bias transforms check ``y_train`` as ``fit`` does."""

import dataclasses
import re

import numpy as np
import pytest

from kzoo import attacks, data, games, metrics, nets

PIXELS = r"x holds values in \[0, 255\]; the model takes inputs in \[0, 1\] \(x / 255\.0 if " \
         r"these are 8-bit pixels"


@pytest.fixture(scope="module")
def digits():
    ds = data.load("digits")
    return ds.x_test[:32], ds.y_test[:32]


@pytest.fixture
def classifier():
    game = games.Classifier(nets.small_cnn((8, 8, 1), 10, width=4), loss="ce")
    game.compile("sgd")
    return game


def test_a_game_refuses_8_bit_pixels_and_says_how_to_declare_others(classifier, digits):
    x, y = digits
    pixels = np.round(x * 255)
    for call in (lambda: classifier.fit(pixels, y, epochs=1, verbose=0),
                 lambda: classifier.evaluate(pixels, y, verbose=0),
                 lambda: classifier.fit(x, y, validation_data=(pixels, y), epochs=1,
                                        verbose=0)):
        with pytest.raises(ValueError, match=PIXELS + r"; or Classifier\(\.\.\., "
                                                      r"input_range=None\) for a net that takes "
                                                      r"other inputs\)\.$"):
            call()


def test_a_declared_range_is_taken(digits):
    x, y = digits
    standardised = (x - x.mean()) / x.std()
    game = games.Classifier(nets.small_cnn((8, 8, 1), 10, width=4), input_range=None)
    game.compile("sgd")
    game.fit(standardised, y, epochs=1, verbose=0)
    wide = games.Classifier(nets.small_cnn((8, 8, 1), 10, width=4), input_range=(-5, 5))
    wide.compile("sgd")
    wide.fit(standardised, y, epochs=1, verbose=0)
    assert wide.get_config()["input_range"] == [-5.0, 5.0]
    assert type(wide).from_config(wide.get_config()).input_range == (-5.0, 5.0)
    with pytest.raises(ValueError, match=r"x holds values in \[-\d\.\d+, \d\.\d+\]; the model "
                                         r"takes inputs in \[0, 1\] \(AEGL\(\.\.\., "
                                         r"input_range=None\) for a net that takes other "
                                         r"inputs\)\.$"):
        games.AEGL(nets.small_cnn((8, 8, 1), 10, width=4), class_counts=[5] * 9 + [1],
                   tail_threshold=1).fit(standardised, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"input_range must be a pair \(low, high\) with low "
                                         r"< high; got \(1, 0\)"):
        games.Classifier(nets.small_cnn((8, 8, 1), 10, width=4), input_range=(1, 0))


def test_a_unit_gan_refuses_signed_images(digits):
    x, y = digits
    g = nets.dcgan_generator((8, 8, 1), 4, width=4, num_classes=10)
    d = nets.acgan_critic((8, 8, 1), 10, width=4)
    game = games.ACGAN(g, d)
    game.compile()
    with pytest.raises(ValueError, match=r"x holds values in \[-1, 1\]; the model takes inputs "
                                         r"in \[0, 1\] \(\(x \+ 1\) / 2 if these are images in "
                                         r"\[-1, 1\]\)\.$"):
        game.fit(2 * x - 1, y, verbose=0)


def test_predictions_attacks_and_metrics_refuse_8_bit_pixels(classifier, digits):
    x, y = digits
    pixels = np.round(x * 255)
    calls = {
        "predict_proba": lambda: metrics.predict_proba(classifier, pixels),
        "pgd": lambda: attacks.pgd(classifier, pixels, y, epsilon=0.1, step_size=0.05, steps=2),
        "fgsm": lambda: attacks.fgsm(classifier, pixels, y, epsilon=0.1),
        "robust_accuracy": lambda: metrics.robust_accuracy(classifier, pixels, y, [0, 0.1],
                                                           steps=2),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=PIXELS + r"\)\.$"):
            call()
            pytest.fail(f"{name} took 8-bit pixels")
    # the range declared: what the model takes is the caller's to say
    assert metrics.predict_proba(classifier, pixels, value_range=None).shape == (32, 10)
    x_adv = attacks.pgd(classifier, pixels, y, epsilon=2.0, step_size=1.0, steps=2,
                        clip=(0, 255))
    assert np.abs(x_adv - pixels).max() <= 2.0 + 1e-4 and x_adv.max() <= 255
    with pytest.raises(ValueError, match=r"x holds values in \[0, 255\]; the model takes inputs "
                                         r"in \[0, 100\]\.$"):
        attacks.pgd(classifier, pixels, y, epsilon=2.0, step_size=1.0, steps=1, clip=(0, 100))


def test_meta_iada_refuses_its_meta_set_out_of_range(digits):
    x, y = digits
    with pytest.raises(ValueError, match=r"x_meta holds values in \[0, 255\]; the model takes "
                                         r"inputs in \[0, 1\] \(x_meta / 255\.0"):
        games.MetaIADA(nets.small_cnn((8, 8, 1), 10, width=4), class_counts=[3] * 10,
                       meta_data=(np.round(x[:20] * 255), np.arange(20) % 10), history=False)


@pytest.mark.parametrize("labels, message", [
    (lambda y: y.astype("float32"), "y_train must hold integer class indices (e.g. "
                                    "y_train.astype('int64')); got dtype float32."),
    (lambda y: np.where(y == 0, -1, y), "y_train holds labels in [-1, 9]; allowed: 0 to 9."),
    (lambda y: np.where(y == 0, 12, y), "y_train holds labels in [1, 12]; allowed: 0 to 9."),
])
@pytest.mark.parametrize("transform", [
    lambda ds: data.long_tail(ds, 10), lambda ds: data.label_noise(ds, 0.2),
    lambda ds: data.reduce(ds, 0.5), lambda ds: data.meta_split(ds, 2),
])
def test_bias_transforms_check_y_train(labels, message, transform):
    ds = data.load("digits")
    bad = dataclasses.replace(ds, y_train=labels(ds.y_train))
    with pytest.raises(ValueError, match=re.escape(message)):
        transform(bad)
