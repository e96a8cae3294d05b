"""Tensor helpers written once with ``keras.ops``, shared by games, attacks and losses."""

import keras
import numpy as np
from keras import ops

HOST_TYPES = (np.ndarray, np.generic, int, float)


def numpy_if_host(inputs, result):
    """``result`` (a tensor or a nested tuple/list/dict of them) as NumPy when ``inputs`` is
    host data: a NumPy array or scalar, a Python number, or a list/tuple of them; otherwise
    ``result`` as it is. So a public function returns NumPy for NumPy, and keeps backend
    tensors (also symbolic or traced ones, inside a compiled ``train_step``) for tensors.

    Examples:
        >>> type(numpy_if_host(np.zeros(2), keras.ops.ones(2))).__name__
        'ndarray'
    """
    leaves = keras.tree.flatten(inputs)
    if leaves and all(isinstance(leaf, HOST_TYPES) for leaf in leaves):
        return keras.tree.map_structure(ops.convert_to_numpy, result)
    return result


def logits_of(outputs):
    """A logits model's logits: its outputs, or the last of them when it has several (as
    the AC-GAN critic's ``(source, class logits)``)."""
    return outputs[-1] if isinstance(outputs, (list, tuple)) else outputs


def example_norms(v):
    """Each example's l2 norm (over every axis but the first), shaped to broadcast
    against ``v``: (batch, 1, ..., 1)."""
    axes = tuple(range(1, len(v.shape)))
    return ops.sqrt(ops.sum(ops.square(v), axis=axes, keepdims=True))


def unit_rows(v):
    """Each example of ``v`` scaled to unit l2 norm (a zero example stays zero).

    Examples:
        >>> keras.ops.convert_to_numpy(unit_rows(np.array([[3.0, 4.0]])))
        array([[0.6, 0.8]], dtype=float32)
    """
    return v / (example_norms(v) + 1e-12)
