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


@pytest.mark.parametrize("call, match", [
    (lambda: nets.small_cnn((16, 16, 1), 10), r"\(8, 8, c\), \(28, 28, c\) or \(32, 32, c\)"),
    (lambda: nets.resnet32((30, 30, 3), 10), "divisible by 4"),
    (lambda: nets.mlp((2,), 1), "num_classes"),
    (lambda: nets.mlp((2,), 8, hidden=()), "hidden"),
    (lambda: nets.build("vgg", (8, 8, 1), 10), "allowed: mlp, resnet32, small_cnn"),
])
def test_builder_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
