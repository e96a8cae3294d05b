"""Tensor helpers written once with ``keras.ops``, shared by games, attacks and losses."""

from keras import ops


def example_norms(v):
    """Each example's l2 norm (over every axis but the first), shaped to broadcast
    against ``v``: (batch, 1, ..., 1)."""
    axes = tuple(range(1, len(v.shape)))
    return ops.sqrt(ops.sum(ops.square(v), axis=axes, keepdims=True))


def unit_rows(v):
    """Each example of ``v`` scaled to unit l2 norm (a zero example stays zero).

    Example:
        >>> keras.ops.convert_to_numpy(unit_rows(np.array([[3.0, 4.0]])))
        array([[0.6, 0.8]], dtype=float32)
    """
    return v / (example_norms(v) + 1e-12)
