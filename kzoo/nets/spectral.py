"""Spectral normalisation that divides in ``call`` (safe to call twice in one graph)."""

import keras
from keras import ops

from kzoo import validate


@keras.saving.register_keras_serializable(package="kzoo")
class SpectralNorm(keras.layers.Wrapper):
    """Divides a Dense or Conv layer's kernel by its largest singular value (Miyato et al.).

    The kernel, reshaped to (fan_in, units), is divided by ``sigma = u^T W v``, with
    ``u`` from power iteration. Only ``u`` is state: each training call makes
    ``power_iterations`` steps and stores the new ``u``; the kernel itself is never
    written, so the layer can run twice in one gradient computation (a WGAN-GP
    critic on real, fake and interpolated images) on every backend. The wrapped
    layer must have no activation: the output is ``(layer(x) - bias) / sigma + bias``.

    Args:
        layer: keras.layers.Dense or Conv2D, with activation None.
        power_iterations: int >= 1. Default 1.

    Examples:
        >>> critic_layer = SpectralNorm(keras.layers.Conv2D(64, 3, padding="same"))
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if getattr(layer, "activation", None) not in (None, keras.activations.linear):
            raise ValueError(f"SpectralNorm needs a layer without activation; {layer.name} has "
                             f"{layer.activation.__name__}. Add an Activation layer after it.")
        self.power_iterations = validate.integer("power_iterations", power_iterations, low=1)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        if not hasattr(self.layer, "kernel"):
            raise ValueError(f"SpectralNorm wraps layers with a kernel; {self.layer.name} "
                             f"has none.")
        units = self.layer.kernel.shape[-1]
        self.u = self.add_weight(shape=(units,), initializer="random_normal", trainable=False,
                                 name="u")
        self.built = True

    def _matrix(self):
        kernel = ops.convert_to_tensor(self.layer.kernel)
        return ops.reshape(kernel, (-1, kernel.shape[-1]))

    def _power_iteration(self, w):
        u = ops.stop_gradient(ops.convert_to_tensor(self.u))
        w_const = ops.stop_gradient(w)
        for _ in range(self.power_iterations):
            v = _normalize(ops.matmul(w_const, u))
            u = _normalize(ops.matmul(ops.transpose(w_const), v))
        return ops.stop_gradient(u), ops.stop_gradient(v)

    def sigma(self):
        """The current estimate of the kernel's largest singular value (no update)."""
        w = self._matrix()
        u, v = self._power_iteration(w)
        return ops.sum(v * ops.matmul(w, u))

    def call(self, x, training=False):
        w = self._matrix()
        u, v = self._power_iteration(w)
        if training:
            self.u.assign(u)
        sigma = ops.sum(v * ops.matmul(w, u))
        out = self.layer(x)
        bias = getattr(self.layer, "bias", None)
        if bias is None:
            return out / sigma
        return (out - bias) / sigma + bias

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}


def _normalize(x):
    return x / (ops.sqrt(ops.sum(x**2)) + 1e-12)
