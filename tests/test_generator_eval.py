"""Generator evaluation: feature extractors, the report at z and at the worst noise, the
[-1, 1] data scale, GAN recipes and their refusals."""

import re

import keras
import numpy as np
import pytest
from conftest import once
from keras import ops

import kzoo
from kzoo import data, nets, roles
from kzoo.games import GAN
from kzoo.metrics import InceptionFeatures, features, generative, generator
from kzoo.recipes import Recipe, RecipeError


def _linear_gan(rng, dim=2, latent=3):
    """G(z) = A z and D(x) = w . x (Wasserstein loss): the worst noise is z - eps A w / |A w|."""
    generator_ = keras.Sequential([keras.Input((latent,)),
                                   keras.layers.Dense(dim, use_bias=False)])
    critic = keras.Sequential([keras.Input((dim,)), keras.layers.Dense(1, use_bias=False),
                               keras.layers.Reshape(())])
    a = rng.normal(size=(latent, dim)).astype("float32")
    w = rng.normal(size=(dim, 1)).astype("float32")
    generator_.layers[-1].set_weights([a])
    critic.layers[0].set_weights([w])
    return GAN(generator_, critic, loss="wgan_gp"), a, w[:, 0]


def test_worst_latent_in_closed_form(rng):
    gan, a, w = _linear_gan(rng)
    z = rng.normal(size=(5, 3)).astype("float32")
    aw = a @ w
    for eps in (0.0, 0.3, 2.0):
        np.testing.assert_allclose(ops.convert_to_numpy(gan.worst_latent(z, eps)),
                                   z - eps * aw / np.linalg.norm(aw), rtol=1e-5, atol=1e-6)


def test_report_on_a_mixture_equals_mixture_report(rng):
    gan, a, w = _linear_gan(rng)
    ds = data.load("grid25")
    report = generator.generator_report(gan, ds, n=300, seed=3, worst_eps=[0.5])
    z = np.random.default_rng(3).standard_normal((300, 3)).astype("float32")
    direct = generative.mixture_report(z @ a, ds.extras["mixture"])
    aw = a @ w
    worst = generative.mixture_report((z - 0.5 * aw / np.linalg.norm(aw)) @ a,
                                      ds.extras["mixture"])
    for key, value in direct.items():
        assert report[key] == pytest.approx(value, rel=1e-5)
        assert report[f"{key}@z_adv0.5"] == pytest.approx(worst[key], rel=1e-5)


def test_report_on_images_uses_the_features_of_unit_images():
    ds = data.signed(data.load("digits"))
    gan = GAN(*nets.gan_pair("dcgan", (8, 8, 1), 4, width=8))

    def flat(images):  # features: the pixels; probabilities: a softmax of the first 10
        x = np.asarray(images).reshape(len(images), -1)
        assert 0.0 <= x.min() and x.max() <= 1.0
        e = np.exp(x[:, :10])
        return x, e / e.sum(1, keepdims=True)

    report = generator.generator_report(gan, ds, n=200, features=flat)
    z, _ = generator.latent_batch(gan, 200)
    fake = generator.generate(gan, z)  # in [0, 1]: the tanh samples mapped back once
    np.testing.assert_allclose(
        fake, data.to_unit(ops.convert_to_numpy(gan.generator(z, training=False))), atol=1e-6)
    real = data.to_unit(ds.x_test).reshape(len(ds.x_test), -1)
    assert report["frechet_classifier_distance"] == pytest.approx(
        generative.frechet_distance_of(real, fake.reshape(200, -1)), rel=1e-5)
    assert report["frechet_classifier_distance_real"] == pytest.approx(
        generative.frechet_distance_of(real, data.to_unit(ds.x_train).reshape(-1, 64)))
    assert report["classifier_score"] == pytest.approx(
        generative.inception_score(flat(fake)[1])[0], rel=1e-5)


@once  # builds InceptionV3 (20 s on JAX); the same keras.ops plumbing as ClassifierFeatures,
# whose metrics every backend computes in test_cli's GAN run
def test_inception_features_plumbing(tmp_path, rng):
    """Random weights, saved and loaded by path: the features are InceptionV3's avg_pool
    on the resized RGB image scaled as keras.applications.inception_v3 does."""
    net = keras.applications.InceptionV3(include_top=True, weights=None, input_shape=(75, 75, 3))
    path = tmp_path / "inception.weights.h5"
    net.save_weights(path)
    extractor = InceptionFeatures(path, size=75)
    images = rng.uniform(size=(3, 8, 8, 1)).astype("float32")
    feats, probs = extractor(images)
    rgb = np.repeat(ops.convert_to_numpy(ops.image.resize(images, (75, 75))), 3, axis=-1)
    pool = keras.Model(net.input, net.get_layer("avg_pool").output)
    expected = ops.convert_to_numpy(pool(keras.applications.inception_v3.preprocess_input(
        255.0 * rgb)))
    assert isinstance(feats, np.ndarray) and isinstance(probs, np.ndarray)
    assert feats.shape == (3, 2048) and probs.shape == (3, 1000)
    np.testing.assert_allclose(feats, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="size must be >= 75"):
        InceptionFeatures(None, size=32)
    with pytest.raises(ValueError, match=r"takes images \(n, h, w, 1 or 3\)"):
        extractor(np.zeros((2, 8, 8, 2), "float32"))


def _tiny_inception(size, classes):
    """A stand-in with InceptionV3's interface (an ``avg_pool`` layer, softmax outputs)."""
    inputs = keras.Input((size, size, 3))
    pool = keras.layers.GlobalAveragePooling2D(name="avg_pool")(
        keras.layers.Conv2D(4, 3, strides=8)(inputs))
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(pool))


@pytest.mark.filterwarnings("ignore:Skipping nested container")  # Keras, on a refused file
def test_inception_features_load_weights_by_path_and_refuse_others(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(features, "_inception_v3", _tiny_inception)
    source = _tiny_inception(75, 1008)
    path = tmp_path / "fid_inception.weights.h5"
    source.save_weights(path)
    extractor = InceptionFeatures(str(path), size=75, classes=1008)
    images = rng.uniform(size=(3, 8, 8, 1)).astype("float32")
    feats, probs = extractor(images)
    rgb = np.repeat(ops.convert_to_numpy(ops.image.resize(images, (75, 75))), 3, axis=-1)
    pool = keras.Model(source.input, source.get_layer("avg_pool").output)
    np.testing.assert_allclose(feats, ops.convert_to_numpy(pool(2 * rgb - 1)), rtol=1e-5,
                               atol=1e-6)
    assert isinstance(probs, np.ndarray) and probs.shape == (3, 1008)
    not_hdf5 = tmp_path / "junk.h5"
    not_hdf5.write_bytes(b"not a weights file")
    for weights, match in [
        (tmp_path / "missing.h5", r"weights must be an existing InceptionV3 weights file; got "
                                  r"'.*missing.h5': no such file"),
        (tmp_path, r"weights must be a Keras weights file ending in .h5 or .weights.h5; got"),
        (3, "weights must be a path to an InceptionV3 weights file"),
        (not_hdf5, r"weights must be a weights file of keras.applications.InceptionV3\("
                   r"include_top=True, classes=1000\); got '.*junk.h5', which does not load"),
        (path, r"classes=1000\); got '.*fid_inception.weights.h5', which does not load"),
    ]:
        with pytest.raises(ValueError, match=match):
            InceptionFeatures(weights, size=75)
    with pytest.raises(ValueError, match="classes must be an int >= 1; got 0"):
        InceptionFeatures(None, size=75, classes=0)


def test_signed_scale():
    ds = data.load("digits")
    signed = data.signed(ds)
    np.testing.assert_allclose(signed.x_test, 2 * ds.x_test - 1)
    np.testing.assert_allclose(data.to_unit(signed.x_train), ds.x_train, atol=1e-7)
    assert signed.provenance[-1] == {"name": "signed"} and signed.extras["signed"]
    with pytest.raises(ValueError, match="already in"):
        data.signed(signed)
    with pytest.raises(ValueError, match=r"signed takes images \(h, w, c\); grid25"):
        data.signed(data.load("grid25"))


def _gan_spec(**net):
    return {"name": "t", "data": {"name": "grid25"}, "game": {"name": "GAN", "n_critic": 1},
            "net": {"arch": "mlp", "hidden": [8], **net}, "fit": {"epochs": 1}}


def test_gan_recipes_build_pairs_and_refuse_what_they_cannot():
    recipe = Recipe(_gan_spec(latent_dim=3))
    game = recipe.build(recipe.dataset())
    assert recipe.serves == ("generator",) and isinstance(game, GAN) and game.latent_dim == 3
    assert {type(game.optimizer[p]).__name__ for p in game.players} == {"Adam"}
    with pytest.raises(RecipeError, match=r"\[net\] needs arch in dcgan, resnet, mlp or a preset"):
        Recipe(_gan_spec(arch="small_cnn"))
    with pytest.raises(RecipeError, match="the mlp pair takes hidden"):
        Recipe(_gan_spec(width=4)).build(data.load("grid25"))
    bad_scale = _gan_spec()
    bad_scale["data"]["scale"] = "signed"
    with pytest.raises(RecipeError, match=r"\[data\] scale: signed takes images"):
        Recipe(bad_scale).dataset()
    bad_scale["data"]["scale"] = "half"
    with pytest.raises(RecipeError, match="scale must be one of 'unit', 'signed'; got 'half'"):
        Recipe(bad_scale)


def test_gan_pair_refusals():
    with pytest.raises(ValueError, match="arch must be one of 'dcgan', 'resnet', 'mlp'; got 'vae'"):
        nets.gan_pair("vae", (2,), 2)
    with pytest.raises(ValueError, match=r"the mlp pair takes flat samples \(d,\)"):
        nets.gan_pair("mlp", (8, 8, 1), 2)
    with pytest.raises(ValueError, match="the dcgan pair takes width"):
        nets.gan_pair("dcgan", (8, 8, 1), 2, hidden=(4,))


def test_classifier_features_refuse_a_generator():
    gan = GAN(*nets.gan_pair("mlp", (2,), 2, hidden=(4,)))
    with pytest.raises(ValueError, match="which serves no classifier"):
        kzoo.metrics.ClassifierFeatures(gan)


def test_image_metrics_take_a_loaded_feature_network_and_name_the_data_sets_own():
    gan = GAN(nets.dcgan_generator((8, 8, 1), 8, width=8), nets.dcgan_critic((8, 8, 1), width=8))
    ds = data.signed(data.load("digits"))
    hint = re.escape("features=kzoo.metrics.ClassifierFeatures(kzoo.load('digits-cnn-ce'))")
    for given in (None, "digits-cnn-ce"):
        with pytest.raises(ValueError, match=hint):
            generator.generator_report(gan, ds, n=10, features=given)
    with pytest.raises(ValueError, match=re.escape(
            "ClassifierFeatures(kzoo.load('digits-cnn-ce'))")):
        kzoo.metrics.ClassifierFeatures("digits-cnn-ce")


def test_a_conditional_generators_grid_has_a_class_per_column(tmp_path, monkeypatch):
    ds = data.signed(data.load("digits"))
    gan = GAN(nets.dcgan_generator((8, 8, 1), 8, width=8, num_classes=10),
                    nets.dcgan_critic((8, 8, 1), width=8, num_classes=10))
    seen = {}

    def plot(x, path, title, real=None, columns=None):
        seen.update(columns=columns, title=title, n=len(x))

    monkeypatch.setattr(kzoo.metrics, "plot_samples", plot)
    roles.write_samples(gan, ds, tmp_path / "s.png", 30, name="g")
    assert seen == {"columns": 10, "title": "g: 30 samples, a class per column", "n": 30}
    labels = kzoo.metrics.latent_batch(gan, 30)[1]
    assert list(labels[:10]) == list(range(10)) and list(labels[10:20]) == list(range(10))


def test_two_d_samples_are_a_scatter_over_the_test_points(tmp_path, monkeypatch):
    ds = data.load("grid25")
    gan = GAN(*nets.gan_pair("mlp", (2,), 2, hidden=(4,)))
    plot, seen = kzoo.metrics.plot_samples, {}

    def spy(x, path, title, real=None, columns=None):
        seen.update(shape=np.shape(x), real=real is ds.x_test, columns=columns, title=title)
        return plot(x, path, title=title, real=real, columns=columns)

    monkeypatch.setattr(kzoo.metrics, "plot_samples", spy)
    path = roles.write_samples(gan, ds, tmp_path / "s.png", 50, name="g")
    assert seen == {"shape": (50, 2), "real": True, "columns": None, "title": "g: 50 samples"}
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
