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


def compiled(fn):
    # One graph per input signature (a last, smaller batch traces once more). `kzoo eval
    # fashion_mnist-cnn-madry --backend tensorflow` (PGD-20 at four radii on 10,000 images,
    # one thread): 6 min 18 s as a graph beside two trainings, 11 min 53 s eagerly beside one;
    # the same curve.
    return tf.function(fn, reduce_retracing=True)


@contextlib.contextmanager
def data_parallel(n):
    """``MirroredStrategy`` over ``n`` GPUs, or ``n`` logical CPU devices without a GPU;
    with ``TF_CONFIG`` set, ``MultiWorkerMirroredStrategy`` over its workers (``n``
    replicas in all). Each process feeds the whole global batch; the strategy splits it."""
    if os.environ.get("TF_CONFIG"):
        with _multi_worker(n) as engine:
            yield engine
        return
    with tf.distribute.MirroredStrategy(_devices(n)).scope():
        # the game and its optimizers are built in the scope (keras-team/keras#23085)
        yield {"engine": "MirroredStrategy", "devices": n, "processes": 1, "rank": 0,
               "feeds_block": False, "resumes": True}


@contextlib.contextmanager
def _multi_worker(n):
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    cluster = resolver.cluster_spec().as_dict()
    chiefs = len(cluster.get("chief", []))
    workers = chiefs + len(cluster.get("worker", []))
    if resolver.task_type not in ("chief", "worker") or not workers:
        raise ValueError(f"TF_CONFIG: kzoo trains on its chief and workers; this task is "
                         f"{resolver.task_type!r} of {sorted(cluster)}.")
    local = tf.config.list_physical_devices("GPU")
    replicas = workers * max(1, len(local))  # each worker's GPUs, or its CPU
    if n != replicas:
        raise ValueError(f"devices is {n}, but the {workers} workers of TF_CONFIG hold "
                         f"{replicas} replicas ({len(local) or 'no'} GPU(s) here; a worker "
                         f"without a GPU is one CPU replica): give devices = {replicas}.")
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    except RuntimeError as err:  # TensorFlow's runtime started before
        raise ValueError(f"TF_CONFIG is set, but TensorFlow started before "
                         f"kzoo.distribute.data_parallel could join its workers ({err}); "
                         f"enter it before any TensorFlow work.") from err
    if strategy.num_replicas_in_sync != n:  # (logical devices may differ from physical)
        raise ValueError(f"devices is {n}, but MultiWorkerMirroredStrategy runs "
                         f"{strategy.num_replicas_in_sync} replicas over TF_CONFIG's workers: "
                         f"give devices = {strategy.num_replicas_in_sync} (every worker needs "
                         f"the same number of GPUs).")
    rank = resolver.task_id + (chiefs if resolver.task_type == "worker" else 0)
    with _keras_multi_worker_fixes(), strategy.scope():
        # variables made in the scope start as the chief's (the strategy broadcasts them);
        # resuming is refused: the chief alone restores a checkpoint
        yield {"engine": "MultiWorkerMirroredStrategy", "devices": n, "processes": workers,
               "rank": rank, "feeds_block": False, "resumes": False}


@contextlib.contextmanager
def _keras_multi_worker_fixes():
    """Keras 3.15's TensorFlow trainer under ``MultiWorkerMirroredStrategy``
    (keras-team/keras#20585, open) reduces a whole batch structure at once to learn its
    shapes, which the strategy cannot (here: each value's first local replica has the
    shapes), and averages the replicas' scalar logs along an axis 0 they lack (here:
    element-wise). Both replaced while the strategy is in use, for models under it; others
    keep Keras' own. (A game fitted again after the context has the originals back: fit
    inside it.)"""
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    def multi_worker(strategy):
        return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def symbolic_build(self, iterator=None, data_batch=None):
        strategy = self.distribute_strategy
        if self._distribute_strategy is None or not multi_worker(strategy):
            return original_build(self, iterator, data_batch)
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], next(batches))
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and multi_worker(strategy):
            return tree.map_structure(
                lambda v: v if v is None else strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    original_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = trainer.reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        trainer.TensorFlowTrainer._maybe_symbolic_build = original_build
        trainer.reduce_per_replica = original_reduce


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
