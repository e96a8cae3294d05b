"""TensorFlow implementations of the kzoo backend functions."""

import contextlib
import os

import tensorflow as tf

from kzoo.backend.common import check_cpu_devices, no_broadcast, no_sync, split_output, unchanged


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
    n = replicas()
    if n > 1:  # Keras' optimizer sums the replicas' gradients: make it their mean
        grads = [tf.math.scalar_mul(1.0 / n, g) for g in grads]  # IndexedSlices too
    optimizer.apply(grads, variables)


def replicas():
    context = tf.distribute.get_replica_context()  # None in a strategy's cross-replica code
    return 1 if context is None else context.num_replicas_in_sync


def replica_id():
    context = tf.distribute.get_replica_context()
    return 0 if context is None else context.replica_id_in_sync_group


def replica_sum(x):
    # differentiable: the gradient of an all-reduce is the all-reduce of the gradients
    return x if replicas() == 1 else tf.distribute.get_replica_context().all_reduce("sum", x)


def replica_concat(x):
    if replicas() == 1:
        return x
    x = tf.convert_to_tensor(x)
    gathered = tf.distribute.get_replica_context().all_gather(x, axis=0)
    gathered.set_shape([None, *x.shape[1:]])  # all_gather forgets the static shape
    return gathered


sync_state = no_sync
broadcast = no_broadcast
stateful_step = stateful_test_step = unchanged


@contextlib.contextmanager
def data_parallel(n):
    """``MirroredStrategy`` over ``n`` GPUs, or ``n`` logical CPU devices without a GPU."""
    if os.environ.get("TF_CONFIG"):
        raise ValueError("TF_CONFIG is set: kzoo trains on several machines with torch "
                         "(torchrun) or JAX (KERAS_DISTRIBUTION_*); TensorFlow's "
                         "MultiWorkerMirroredStrategy is not supported yet (Keras' TensorFlow "
                         "trainer takes each worker's batch for the global one).")
    with tf.distribute.MirroredStrategy(_devices(n)).scope():
        # the game and its optimizers are built in the scope (keras-team/keras#23085)
        yield {"engine": "MirroredStrategy", "devices": n, "processes": 1, "rank": 0}


def _devices(n):
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if len(gpus) < n:
            raise ValueError(f"devices is {n}; TensorFlow sees {len(gpus)} GPU(s).")
        return [f"/gpu:{i}" for i in range(n)]
    check_cpu_devices(n)
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:  # (listing the logical devices would start TensorFlow's runtime)
        if len(tf.config.get_logical_device_configuration(cpu) or [None]) < n:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:  # the runtime has started: its CPU devices are fixed
        if len(tf.config.list_logical_devices("CPU")) < n:
            raise ValueError(f"devices is {n}: TensorFlow has started with fewer CPU "
                             f"devices; enter kzoo.distribute.data_parallel({n}) before "
                             f"TensorFlow runs anything.") from None
    return [f"/cpu:{i}" for i in range(n)]
