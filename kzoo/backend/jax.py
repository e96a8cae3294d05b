"""JAX implementations of the kzoo backend functions.

Keras' JAX trainer is functional: it calls ``train_step(state, data)`` and
expects ``(logs, new_state)``. ``stateful_step`` opens a ``StatelessScope``
over the four state lists so that the same stateful body (variable reads,
``optimizer.apply``, metric updates) runs unchanged; the new state is read
back from the scope. Gradients are taken with ``jax.value_and_grad`` over a
nested scope that maps the differentiated variables to traced values; any
other variable the body assigns (batch-norm statistics, seed generators) is
carried out of the trace and written to the enclosing scope.
"""

import contextlib
import os

import jax
import keras
import numpy as np
from jax.experimental import multihost_utils
from keras import StatelessScope
from keras.optimizers import LossScaleOptimizer
from keras.src.backend.common.stateless_scope import get_stateless_scope

from kzoo.backend.common import (
    check_cpu_devices,
    one_replica,
    over_one_replica,
    split_output,
    unchanged,
)

# Attacks for metrics run eagerly: JAX's eager ops are compiled one by one already, and a
# jax.jit of the whole attack (over a StatelessScope of the model's variables) would cost a
# compilation per radius and batch shape; no benchmark of this repository shows it paying.
compiled = unchanged

# Under keras.distribution.DataParallel a step is one program over the global batch
# (sharded by XLA, over the devices of every process): it sees one replica, and needs no
# collective of its own.
replicas, replica_id = one_replica, lambda: 0
replica_sum = replica_concat = over_one_replica


def framework_version():
    return jax.__version__


def _nested_scope(variables=(), values=()):
    """A scope that sees the enclosing scope's values, with ``variables`` -> ``values``."""
    outer = get_stateless_scope()
    scope = StatelessScope(initialize_variables=False)
    if outer is not None:
        scope.state_mapping.update(outer.state_mapping)
    for v, value in zip(variables, values):
        scope.state_mapping[id(v)] = value
    return scope


def value_and_grad(fn, variables, create_graph=False):
    del create_graph  # JAX gradients are always differentiable again.
    variables = list(variables)
    values = [v.value for v in variables]
    skip = {id(v) for v in variables}

    def pure(vals):
        scope = _nested_scope(variables, vals)
        before = dict(scope.state_mapping)
        with scope:
            loss, aux = split_output(fn())
        updates = {
            k: val
            for k, val in scope.state_mapping.items()
            if k not in skip and before.get(k) is not val
        }
        return loss, (aux, updates)

    (loss, (aux, updates)), grads = jax.value_and_grad(pure, has_aux=True)(values)
    outer = get_stateless_scope()
    if outer is not None:
        outer.state_mapping.update(updates)
    return (loss, aux), grads


def input_grad(fn, x, create_graph=False, has_aux=False):
    del create_graph

    def pure(x_):
        # Assignments made while attacking (e.g. seed generators) are dropped.
        scope = _nested_scope()
        with scope:
            return split_output(fn(x_)) if has_aux else (fn(x_), None)

    grad, aux = jax.grad(pure, has_aux=True)(x)
    return (grad, aux) if has_aux else grad


def apply(optimizer, grads, variables):
    if isinstance(optimizer, LossScaleOptimizer):
        # Its stateful update assigns inside a `cond`, which leaks tracers out of JAX's
        # trace; its stateless form returns the new values, assigned here (to the
        # trainer's scope inside a step).
        opt_vars = optimizer.variables
        new, new_opt = optimizer.stateless_apply([v.value for v in opt_vars], grads,
                                                 [v.value for v in variables])
        for v, value in zip([*variables, *opt_vars], [*new, *new_opt]):
            v.assign(value)
        return
    optimizer.apply(grads, variables)


def _run(model, step, groups, values, data):
    mapping = [(v, val) for vs, vals in zip(groups, values) for v, val in zip(vs, vals)]
    with StatelessScope(state_mapping=mapping) as scope:
        logs = step(model, data)
    new = tuple([scope.get_current_value(v) for v in vs] for vs in groups)
    return logs, new


def sync_state(model):
    """Writes the state the trainer carries back into ``model``'s variables; the trainer
    reads them again before its next step, so a host-side assignment takes effect."""
    model.jax_state_sync()


def _stateful(step, groups_of):
    """``step(self, data)`` as the JAX trainer's ``step(self, state, data)``, the state
    being ``groups_of(self)``; called with the data alone (a subclass's
    ``super().train_step(data)``), it runs the step as it is."""

    def wrapped(self, *args):
        if len(args) == 1:
            return step(self, args[0])
        state, data = args
        return _run(self, step, groups_of(self), state, data)

    wrapped.__doc__ = step.__doc__
    return wrapped


def stateful_step(step):
    return _stateful(step, lambda m: (m.trainable_variables, m.non_trainable_variables,
                                      m.optimizer.variables, m.metrics_variables))


def stateful_test_step(step):
    return _stateful(step, lambda m: (m.trainable_variables, m.non_trainable_variables,
                                      m.metrics_variables))


def broadcast(variables):
    """Process 0's values of ``variables`` in every JAX process (one process: nothing to
    do; its variables are one program's)."""
    if jax.process_count() > 1:
        values = multihost_utils.broadcast_one_to_all([np.asarray(v) for v in variables])
        for variable, value in zip(variables, values):
            variable.assign(value)


def _join_processes():
    """Joins the JAX processes of ``KERAS_DISTRIBUTION_*`` (on CPU through gloo) unless
    ``jax.distributed`` has started already; whether it joined them."""
    if not os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES") or \
            jax.distributed.is_initialized():
        return False
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        keras.distribution.initialize()
    except RuntimeError as err:  # JAX already ran something in this process
        raise ValueError(f"KERAS_DISTRIBUTION_JOB_ADDRESSES is set, but JAX started before "
                         f"kzoo.distribute.data_parallel could join the processes ({err}); "
                         f"enter it first, or call keras.distribution.initialize() before "
                         f"any JAX work.") from err
    return True


@contextlib.contextmanager
def data_parallel(n):
    """``keras.distribution.DataParallel`` over ``n`` JAX devices (GPUs, or CPU devices
    made by ``--xla_force_host_platform_device_count``): this process's, or those of every
    process of ``jax.distributed`` (several hosts), each process feeding its block of every
    batch; processes joined here leave ``jax.distributed`` at the end."""
    joined = _join_processes()
    processes, devices = jax.process_count(), jax.devices()  # every process's devices
    if devices[0].platform == "cpu":
        check_cpu_devices(n // processes)
    if processes > 1 and len(devices) != n:
        raise ValueError(f"devices is {n}, but the {processes} JAX processes hold "
                         f"{len(devices)} devices in all: give devices = {len(devices)}.")
    if len(devices) < n:
        raise ValueError(
            f"devices is {n}; JAX sees {len(devices)} {devices[0].platform} device(s). "
            f"On CPU, start Python with XLA_FLAGS=--xla_force_host_platform_device_count={n} "
            f"(kzoo train --devices does).")
    before = keras.distribution.distribution()
    distribution = keras.distribution.DataParallel(devices=devices[:n])
    distribution.auto_shard_dataset = False  # kzoo gives each process its block
    keras.distribution.set_distribution(distribution)
    try:
        yield {"engine": "keras.distribution.DataParallel", "devices": n,
               "processes": processes, "rank": jax.process_index(),
               # one process's program takes the global batch; several feed their blocks,
               # and process 0 alone would restore a checkpoint, which every process sets
               "feeds_block": processes > 1, "resumes": processes == 1}
    finally:
        keras.distribution.set_distribution(before)
        if joined:  # the processes part: each goes on alone (process 0 saves, evaluates)
            jax.distributed.shutdown()
