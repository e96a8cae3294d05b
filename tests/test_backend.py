"""kzoo.backend against closed-form gradients, on the current backend."""

import keras
import numpy as np
import pytest
from keras import ops

from kzoo import backend


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_value_and_grad_closed_form(rng):
    # f(w, b) = sum((A w + b)^2) -> df/dw = 2 A^T (A w + b), df/db = 2 (A w + b)
    a = rng.normal(size=(5, 3)).astype("float32")
    w = keras.Variable(rng.normal(size=(3,)).astype("float32"))
    b = keras.Variable(rng.normal(size=(5,)).astype("float32"))

    def fn():
        r = ops.matmul(a, w) + b
        return ops.sum(r**2), r

    (value, r), (gw, gb) = backend.value_and_grad(fn, [w, b])
    r_np = a @ _np(w) + _np(b)
    assert float(_np(value)) == pytest.approx(float((r_np**2).sum()), rel=1e-5)
    np.testing.assert_allclose(_np(r), r_np, rtol=1e-5)
    np.testing.assert_allclose(_np(gw), 2 * a.T @ r_np, rtol=1e-4)
    np.testing.assert_allclose(_np(gb), 2 * r_np, rtol=1e-4)


def test_second_order_through_a_virtual_step():
    """Differentiating a loss at w_bar = w - lr * d/dw f(w, s) in s, where s is a
    non-trainable variable (Meta-IADA's covariances): closed form.

    f = s * w^2 / 2 -> w_bar = w (1 - lr s); L = w_bar^2 -> dL/ds = -2 lr w^2 (1 - lr s).
    """
    w = keras.Variable(1.5)
    s = keras.Variable(0.7, trainable=False)
    lr = 0.3

    def meta():
        _, (g,) = backend.value_and_grad(lambda: s * w * w / 2, [w], create_graph=True)
        return (w - lr * g) ** 2

    (value, _), (grad,) = backend.value_and_grad(meta, [s])
    assert float(_np(value)) == pytest.approx((1.5 * (1 - lr * 0.7)) ** 2, rel=1e-5)
    assert float(_np(grad)) == pytest.approx(-2 * lr * 1.5**2 * (1 - lr * 0.7), rel=1e-5)
    assert not s.trainable


def test_unused_variable_gets_zero_grad():
    w = keras.Variable(np.ones(2, "float32"))
    unused = keras.Variable(np.ones(3, "float32"))
    _, (gw, gu) = backend.value_and_grad(lambda: ops.sum(w * 2.0), [w, unused])
    np.testing.assert_allclose(_np(gw), [2.0, 2.0])
    np.testing.assert_allclose(_np(gu), np.zeros(3))


def test_input_grad_closed_form(rng):
    x = rng.normal(size=(4, 3)).astype("float32")
    g = backend.input_grad(lambda t: ops.sum(ops.sin(t)), ops.convert_to_tensor(x))
    np.testing.assert_allclose(_np(g), np.cos(x), rtol=1e-5)


def test_second_order_through_input_grad(rng):
    # Penalty P(w) = ||d/dx (w . x)^2||^2 = 4 (w.x)^2 ||w||^2 for one x.
    # dP/dw = 8 (w.x) ||w||^2 x + 8 (w.x)^2 w.
    x = ops.convert_to_tensor(rng.normal(size=(3,)).astype("float32"))
    w = keras.Variable(rng.normal(size=(3,)).astype("float32"))

    def penalty():
        g = backend.input_grad(lambda t: ops.sum(w * t) ** 2, x, create_graph=True)
        return ops.sum(g**2)

    (value, _), (gw,) = backend.value_and_grad(penalty, [w], create_graph=True)
    w_np, x_np = _np(w), _np(x)
    s = w_np @ x_np
    assert float(_np(value)) == pytest.approx(4 * s**2 * (w_np @ w_np), rel=1e-4)
    expected = 8 * s * (w_np @ w_np) * x_np + 8 * s**2 * w_np
    np.testing.assert_allclose(_np(gw), expected, rtol=1e-4)


def test_apply_matches_sgd_formula(rng):
    w0 = rng.normal(size=(3,)).astype("float32")
    w = keras.Variable(w0)
    opt = keras.optimizers.SGD(0.1)
    opt.build([w])
    grad = np.array([1.0, -2.0, 0.5], "float32")
    backend.apply(opt, [ops.convert_to_tensor(grad)], [w])
    np.testing.assert_allclose(_np(w), w0 - 0.1 * grad, rtol=1e-6)
    assert int(_np(opt.iterations)) == 1


def test_versions_name_the_backend():
    v = backend.versions()
    assert backend.name == keras.config.backend() and backend.name in v and "keras" in v
