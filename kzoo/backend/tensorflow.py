"""TensorFlow implementations of the kzoo backend functions."""

import tensorflow as tf

from kzoo.backend.common import no_sync, split_output, unchanged


def framework_version():
    return tf.__version__


def value_and_grad(fn, variables, create_graph=False):
    # An enclosing tape records this gradient computation by itself, so
    # `create_graph` needs no action: second-order terms are always available.
    variables = list(variables)
    with tf.GradientTape() as tape:
        tape.watch([v.value for v in variables])  # non-trainable ones too
        loss, aux = split_output(fn())
    grads = tape.gradient(loss, variables)
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    if not create_graph:
        grads = [tf.stop_gradient(g) for g in grads]
    return (loss, aux), grads


def input_grad(fn, x, create_graph=False, has_aux=False):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value, aux = split_output(fn(x)) if has_aux else (fn(x), None)
    grad = tape.gradient(value, x)
    grad = grad if create_graph else tf.stop_gradient(grad)
    return (grad, aux) if has_aux else grad


def apply(optimizer, grads, variables):
    optimizer.apply(grads, variables)


sync_state = no_sync
stateful_step = stateful_test_step = unchanged
