"""Helpers shared by the backend implementations (no framework imports)."""

import os

import keras

from kzoo.ops import logits_of


def split_output(out):
    """``fn()`` may return ``loss`` or ``(loss, aux)``."""
    if isinstance(out, (tuple, list)):
        return out[0], out[1]
    return out, None


def unchanged(step):
    """``step`` as it is: a backend whose trainer calls ``step(self, data)``."""
    return step


def no_sync(model):
    """Nothing to do: a backend whose variables are the trainer's state."""
    del model


def no_broadcast(variables):
    """Nothing to do: replicas made in one program (or by a strategy that broadcasts its
    variables when it makes them) start equal."""
    del variables


def one_replica():
    """A backend whose step sees the global batch."""
    return 1


def over_one_replica(x):
    """A sum or concatenation over the replicas, when the step sees the global batch."""
    return x


def check_cpu_devices(n):
    """CPU replicas are logical devices sharing the machine's cores: at most one a core."""
    cores = os.cpu_count() or 1
    if n > cores:
        raise ValueError(f"devices is {n}; this machine has no GPU for it and {cores} CPU "
                         f"core(s), each of which can hold one CPU replica.")


def channels_first(net):
    """A view of the image classifier ``net`` (NHWC inputs; logits, or several outputs with
    the logits last) that takes NCHW inputs, the layout PyTorch code expects, and returns
    its logits; the same weights, not a copy. On the torch backend it is a
    ``torch.nn.Module`` like ``net``.

    Examples:
        >>> net = kzoo.nets.channels_first(kzoo.load("digits-cnn-madry").classifier)
        >>> net.input_shape
        (None, 1, 8, 8)
    """
    shape = tuple(net.input_shape[1:])
    if len(shape) != 3:
        raise ValueError(f"net must take images (height, width, channels); its input shape is "
                         f"{shape}.")
    height, width, channels = shape
    inputs = keras.Input((channels, height, width))
    outputs = logits_of(net(keras.layers.Permute((2, 3, 1))(inputs)))
    return keras.Model(inputs, outputs, name=f"{net.name}_channels_first")
