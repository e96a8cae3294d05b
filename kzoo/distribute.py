"""Data-parallel training on the backend's own engine.

``data_parallel(devices)`` is a context inside which a game is built, compiled and fitted
as on one device, and trains on ``devices`` replicas, each taking an equal block of every
global batch:

- tensorflow: ``tf.distribute.MirroredStrategy`` over GPUs, or over logical CPU devices
  without a GPU (one machine); ``MultiWorkerMirroredStrategy`` over the workers of
  ``TF_CONFIG`` (several machines), each worker feeding the whole global batch, which the
  strategy splits;
- torch: torch.distributed, one process per device (``kzoo train --devices N`` starts
  them, or ``torchrun``); each process feeds ``fit`` its block of each batch, rank 0's
  weights are broadcast when ``fit`` starts, and ``kzoo.backend.apply`` averages the
  gradients in one all-reduce (wrapping a model in ``DistributedDataParallel`` does
  nothing under ``fit``, which calls ``train_step``);
- jax: ``keras.distribution.DataParallel``: one program over the global batch, sharded
  over the devices by XLA; one process, or one per host under ``jax.distributed``
  (``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``_NUM_PROCESSES`` and ``_PROCESS_ID`` set on
  each; the processes join when the context is entered), each feeding its block of
  every batch.

Every game then trains as on one device with the global batch: gradients are averaged
over the replicas, random rows (noise, labels, attack starts) are drawn for the global
batch and split (``kzoo.backend.replica_rows``), weighted losses are normalised by the
global batch's weights, and state a step writes from its batch (Meta-IADA's class
covariances and per-sample history) is written from the global batch on every replica.
Logs are the global batch's (``Game.record``). What differs: batch-norm statistics are
per replica on TensorFlow (unless ``synchronized_batch_norm``) and torch, the global
batch's on JAX; mixup mixes within a replica's block.

Examples:
    >>> with kzoo.distribute.data_parallel(2):
    ...     game = kzoo.games.Classifier(kzoo.nets.small_cnn((8, 8, 1), 10))
    ...     game.compile("adam")
    >>>     game.fit(x, y, batch_size=64, epochs=5)   # inside the context
"""

import contextlib
import json
import os

import keras
import numpy as np

from kzoo import backend, validate

_ACTIVE = []


@contextlib.contextmanager
def data_parallel(devices):
    """Trains what is built and fitted inside on ``devices`` replicas (int >= 1; 1 is
    one device, no engine). Yields the engine's description (a card records it):
    ``{"engine", "devices", "processes", "rank", "feeds_block", "resumes"}``, the last two
    saying whether each process feeds its own block of every batch (else the whole batch,
    which the engine splits) and whether a run can resume under it."""
    n = validate.integer("devices", devices, low=1)
    ranks = int(os.environ.get("WORLD_SIZE", 1))
    if ranks > 1 and backend.name != "torch":
        raise ValueError(f"this process is one of {ranks} started by torchrun (WORLD_SIZE), "
                         f"but the backend is {backend.name}: torchrun starts torch ranks; "
                         f"{backend.name} trains on several devices from one process "
                         f"(kzoo train --devices N, without torchrun).")
    if ranks > 1 and n != ranks:  # else every rank would train alone and write
        raise ValueError(f"devices is {n}, but this process is one of {ranks} started by "
                         f"torchrun (WORLD_SIZE): give devices = {ranks}.")
    if n == 1 and backend.name == "tensorflow" and _tf_config_tasks() > 1:
        raise ValueError("devices is 1, but TF_CONFIG names several workers: each would "
                         "train alone; give devices = the replicas of all of them.")
    if n == 1:
        yield {"engine": None, "devices": 1, "processes": 1, "rank": 0, "feeds_block": False,
               "resumes": True}
        return
    with backend.data_parallel(n) as engine:
        _ACTIVE.append(engine)
        try:
            yield engine
        finally:
            _ACTIVE.pop()


def _tf_config_tasks():
    """The chief and worker tasks of ``TF_CONFIG`` (0 if unset or unreadable: TensorFlow
    says why when it reads it)."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
        return sum(len(cluster.get(task, [])) for task in ("chief", "worker"))
    except (ValueError, AttributeError, TypeError):
        return 0


@contextlib.contextmanager
def synchronized_batch_norm(model):
    """Within it, ``model``'s batch-norm layers normalise training batches with the global
    batch's statistics rather than each replica's: TensorFlow's synchronized batch norm
    (``BatchNormalization.synchronized``, set for the block and unset after it, so that a
    model saved after it loads on every backend); JAX's batch norm is the global batch's
    already; torch under Keras has none, and is refused with several replicas.

    Examples:
        >>> with kzoo.distribute.data_parallel(2):
        ...     game = ...; game.compile(...)
        ...     with kzoo.distribute.synchronized_batch_norm(game):
        ...         game.fit(x, y, batch_size=64)
    """
    engine = current()
    if engine is not None and backend.name == "torch":
        raise ValueError("sync_batch_norm: Keras' torch backend has no synchronized batch "
                         "norm; each rank normalises its own block (JAX's and TensorFlow's "
                         "can be the global batch's).")
    layers = [layer for layer in _sublayers(model)
              if isinstance(layer, keras.layers.BatchNormalization)]
    synced = engine is not None and backend.name == "tensorflow"
    before = [layer.synchronized for layer in layers]
    for layer in layers:
        layer.synchronized = synced or layer.synchronized
    try:
        yield
    finally:
        for layer, was in zip(layers, before):
            layer.synchronized = was


def _sublayers(layer):
    for sub in getattr(layer, "layers", []):
        yield sub
        yield from _sublayers(sub)


def current():
    """The engine of the enclosing ``data_parallel`` (a dict), or None on one device."""
    return _ACTIVE[-1] if _ACTIVE else None


def is_chief():
    """Whether this process writes files (rank 0, or no data parallelism)."""
    engine = current()
    return engine is None or engine["rank"] == 0


def fit_inputs(x, y, kwargs):
    """``(x, y, kwargs)`` for ``fit`` under the current engine: NumPy arrays become
    ``kzoo.resume.EpochBatches`` (shuffled from one seed on every process when
    ``shuffle``), split per process where each feeds its block (torch, several JAX
    processes); the global
    batch size must divide over the replicas. Validation arrays: as
    ``evaluation_inputs``. Other inputs pass as they are (split them yourself per
    process there)."""
    from kzoo.resume import EpochBatches

    engine = current()
    if engine is None:
        return x, y, kwargs
    kwargs = dict(kwargs)
    batch_size = kwargs.pop("batch_size", None) or 32
    if _arrays(x):
        x = EpochBatches(x, y, batch_size, seed=shared_int(np.random.randint(2**31 - 1)),
                         shuffle=bool(kwargs.pop("shuffle", True)))
        y, kwargs["shuffle"] = None, False  # Keras would shuffle the batches' order
    if isinstance(x, EpochBatches):  # each process its block; in one, the engine splits
        x.shard(engine["devices"], _own_block(engine), engine["processes"])
    else:
        kwargs["batch_size"] = batch_size
    validation = kwargs.get("validation_data")
    if isinstance(validation, (tuple, list)) and 1 <= len(validation) <= 2:
        batches, _ = evaluation_inputs(validation[0], (validation[1:] or [None])[0],
                                       batch_size)
        if isinstance(batches, EpochBatches):
            kwargs["validation_data"] = batches
    if engine["processes"] > 1:
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _Broadcast()]
    return x, y, kwargs


def evaluation_inputs(x, y=None, batch_size=32):
    """``(x, y)`` to evaluate under the current engine: where the engine splits each batch
    (TensorFlow, JAX) arrays become ``(EpochBatches, None)``, in order, each batch cut to a
    multiple of the replicas (fewer than that many rows left out: JAX's sharding needs
    equal blocks, and TensorFlow's collectives equal shapes), each JAX process given its
    block; under torch as given (each rank evaluates every row)."""
    from kzoo.resume import EpochBatches

    engine = current()
    if engine is None or backend.name == "torch" or not _arrays(x):
        return x, y
    batches = EpochBatches(x, y, max(batch_size - batch_size % engine["devices"],
                                     engine["devices"]), seed=0, shuffle=False)
    batches.shard(engine["devices"], _own_block(engine), engine["processes"])
    return batches, None


def _own_block(engine):
    """This process's rank where each process feeds its own block (torch's ranks, several
    JAX processes), else None (each process feeds the whole batch)."""
    return engine["rank"] if engine["feeds_block"] else None


def _arrays(x):
    return isinstance(x, np.ndarray) or (isinstance(x, tuple) and
                                         all(isinstance(a, np.ndarray) for a in x))


def shared_int(value):
    """Rank 0's ``value`` (an int) on every rank (``value`` itself in one process)."""
    before = keras.distribution.distribution()
    keras.distribution.set_distribution(None)  # JAX's needs a value equal on every process
    try:
        shared = keras.Variable(int(value), dtype="int32", trainable=False)
    finally:
        keras.distribution.set_distribution(before)
    backend.broadcast([shared])
    return int(keras.ops.convert_to_numpy(shared))


class _Broadcast(keras.callbacks.Callback):
    """Rank 0's weights and optimizer state on every rank when ``fit`` starts (after a
    checkpoint is restored)."""

    def on_train_begin(self, logs=None):
        backend.broadcast([*self.model.variables, *self.model.optimizer.variables])
