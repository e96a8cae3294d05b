"""Net builders: shapes, named features, errors."""

import keras
import numpy as np
import pytest

from kzoo import nets


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3)])
def test_small_cnn_shapes(shape):
    net = nets.small_cnn(shape, 10, width=8)
    assert net.output_shape == (None, 10)
    feats = nets.features_model(net)
    x = np.zeros((2, *shape), "float32")
    width = net.get_layer("logits").input.shape[-1]
    assert feats(x).shape[0] == 2 and feats.output_shape[-1] == width


def test_resnet32_depth_and_shape():
    net = nets.resnet32((32, 32, 3), 10)
    convs = [layer for layer in net.layers if isinstance(layer, keras.layers.Conv2D)]
    # 1 stem conv + 3 stages x 5 blocks x 2 convs + 2 projection shortcuts = 33; 32 weighted
    # layers in the paper's count (31 convs on the main path + the dense head).
    assert len(convs) == 33
    assert net.output_shape == (None, 10)
    assert nets.features_model(net).output_shape == (None, 64)


def test_mlp_and_normed_head():
    net = nets.mlp((2,), 8, normed_head=True)
    out = keras.ops.convert_to_numpy(net(np.random.default_rng(0).normal(size=(5, 2))))
    assert out.shape == (5, 8) and np.all(np.abs(out) <= 1 + 1e-6)


GAN_GEOMETRIES = [("dcgan", (8, 8, 1)), ("dcgan", (28, 28, 1)), ("dcgan", (32, 32, 3)),
                  ("resnet", (8, 8, 1)), ("resnet", (32, 32, 3)), ("mlp", (2,))]


@pytest.mark.parametrize("num_classes", [None, 3])
@pytest.mark.parametrize("arch, shape", GAN_GEOMETRIES)
def test_gan_pairs_make_and_score_every_geometry(arch, shape, num_classes):
    size = {"hidden": (16,)} if arch == "mlp" else {"width": 8}
    g, d = nets.gan_pair(arch, shape, 4, num_classes=num_classes, spectral_norm=True, **size)
    z = 3 * np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    labels = np.array([0, 1, 2], "int32")

    def run(net, first, y=labels):
        return keras.ops.convert_to_numpy(net(first if num_classes is None else [first, y]))

    fake = run(g, z)
    assert fake.shape == (3, *shape)
    if arch != "mlp":  # image generators end in tanh
        assert np.all(np.abs(fake) <= 1)
    score = run(d, fake)
    assert score.shape == (3,) and np.all(np.isfinite(score))
    if num_classes is not None:  # the label reaches both players
        assert not np.allclose(run(g, z, labels[::-1]), fake)
        assert not np.allclose(run(d, fake, labels[::-1]), score)


def test_projection_critic_adds_the_label_embedding_dot_features():
    d = nets.dcgan_critic((8, 8, 1), width=4, num_classes=3)
    x = np.random.default_rng(1).uniform(-1, 1, size=(5, 8, 8, 1)).astype("float32")
    y = np.array([0, 1, 2, 1, 0], "int32")
    h = keras.ops.convert_to_numpy(keras.Model(d.inputs[0], d.get_layer("features").output)(x))
    w, b = (keras.ops.convert_to_numpy(v) for v in d.get_layer("score").weights)
    table = keras.ops.convert_to_numpy(d.get_layer("projection").embeddings)
    expected = (h @ w)[:, 0] + b[0] + np.sum(table[y] * h, axis=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(d([x, y])), expected, rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("call, match", [
    (lambda: nets.small_cnn((3, 3, 1), 10), r"at least 4x4.*got input_shape \(3, 3, 1\).*mlp"),
    (lambda: nets.small_cnn((64,), 10), r"at least 4x4.*use kzoo\.nets\.mlp"),
    (lambda: nets.dcgan_generator((15, 15, 1)), r"DCGAN nets take .* even sides of at least 4"),
    (lambda: nets.resnet_critic((2, 2, 1)), r"ResNet GAN nets take .* even sides"),
    (lambda: nets.resnet32((30, 30, 3), 10), "divisible by 4"),
    (lambda: nets.mlp((2,), 1), "num_classes"),
    (lambda: nets.mlp((2,), 8, hidden=()), "hidden"),
    (lambda: nets.build("vgg", (8, 8, 1), 10),
     "arch must be one of 'mlp', 'resnet32', 'small_cnn'; got 'vgg'"),
])
def test_builder_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_channels_first_view_gives_the_same_logits_with_the_same_weights(rng):
    net = nets.small_cnn((8, 8, 3), 10)
    view = nets.channels_first(net)
    x = rng.random((4, 8, 8, 3)).astype("float32")
    assert view.input_shape == (None, 3, 8, 8)
    np.testing.assert_allclose(view.predict(x.transpose(0, 3, 1, 2), verbose=0),
                               net.predict(x, verbose=0), atol=1e-6)
    assert {id(v) for v in view.weights} == {id(v) for v in net.weights}  # a view, not a copy
    with pytest.raises(ValueError, match=r"net must take images.*\(4,\)"):
        nets.channels_first(nets.mlp((4,), 3))
