"""The only place in kzoo that imports tensorflow, torch or jax.

Games are written once with ``keras.ops`` and the few functions here:

- ``value_and_grad(fn, variables, create_graph=False)``: ``fn()`` returns a
  scalar loss or ``(loss, aux)``; returns ``((loss, aux), grads)``. The
  variables may be non-trainable (state a meta step differentiates), and a
  call inside ``fn`` with ``create_graph=True`` gives gradients that the
  outer call differentiates again (second order).
- ``input_grad(fn, x, create_graph=False, has_aux=False)``: gradient of the
  scalar ``fn(x)`` with respect to the tensor ``x`` (attacks, gradient
  penalties); with ``has_aux``, ``fn`` returns ``(value, aux)`` and the result
  is ``(grad, aux)``.
- ``apply(optimizer, grads, variables)``: one optimizer update (a ``LossScaleOptimizer``
  takes gradients of its scaled loss: use ``descend``).
- ``descend(optimizer, fn, variables)``: the two above as one step down the loss ``fn()``
  returns, scaled by the optimizer first (``keras.optimizers.LossScaleOptimizer`` under
  mixed_float16; a plain optimizer leaves it as it is); returns ``(loss, aux)``.
- ``stateful_step(step)``: adapts a ``step(self, data)`` method to the calling
  convention of the backend's trainer (JAX passes and returns the state; a call
  with the data alone, as a subclass's ``super().train_step(data)``, runs the step).
- ``sync_state(model)``: during ``fit``, makes the model's variables current, so that a
  callback may read and assign them between steps (JAX carries the state outside them).
- ``compiled(fn)``: ``fn`` (tensors in, tensors out) compiled where that pays: a
  ``tf.function`` on TensorFlow, ``fn`` itself on torch and JAX (their modules say why).
  ``kzoo.metrics.robust_accuracy`` attacks with it, one function per radius, where a
  radius attacks ``GRAPH_MIN_BATCHES`` batches or more.
- ``versions()``: the framework versions, for model cards.

Data parallelism (``kzoo.distribute``): ``data_parallel(n)`` is the backend's engine as a
context; inside a training step, ``replicas()`` is the number of replicas that step runs
on (1 on JAX, whose step is one program over the global batch; the replica count under
TensorFlow's strategies; the ranks under torch.distributed), ``replica_id()`` this one's
index, ``replica_sum(x)`` (differentiable) and ``replica_concat(x)`` (along axis 0, values
only) the collectives; ``apply`` averages the replicas' gradients; ``broadcast(variables)`` gives
every rank rank 0's values.
"""

import keras

from kzoo.backend.common import split_output

name = keras.config.backend()

if name == "tensorflow":
    from kzoo.backend import tensorflow as _impl
elif name == "torch":
    from kzoo.backend import torch as _impl
elif name == "jax":
    from kzoo.backend import jax as _impl
else:
    raise ImportError(
        f"kzoo runs on the tensorflow, torch and jax Keras backends; "
        f"KERAS_BACKEND is {name!r}."
    )

value_and_grad = _impl.value_and_grad
input_grad = _impl.input_grad
apply = _impl.apply
stateful_step = _impl.stateful_step
stateful_test_step = _impl.stateful_test_step
compiled = _impl.compiled
sync_state = _impl.sync_state
data_parallel = _impl.data_parallel
replicas = _impl.replicas
replica_id = _impl.replica_id
replica_sum = _impl.replica_sum
replica_concat = _impl.replica_concat
broadcast = _impl.broadcast


def replica_mean(x):
    """The mean of ``x`` over the replicas (``x`` itself on one)."""
    n = replicas()
    return x if n == 1 else replica_sum(x) / n


def replica_rows(draw, rows):
    """``draw(rows)`` (random rows of a batch, e.g. noise) as one device draws them for
    the global batch: every replica draws ``draw(rows * replicas())`` from the same seed
    state and keeps its own block of rows, so replicas draw apart and together equal
    one device (the cost: the global batch's draw on every replica).

    Examples:
        >>> z = replica_rows(lambda n: keras.random.normal((n, 64), seed=gen), batch)
    """
    n = replicas()
    if n == 1:
        return draw(rows)
    start = replica_id() * rows
    return keras.ops.take(draw(rows * n), keras.ops.arange(rows) + start, axis=0)


def descend(optimizer, fn, variables):
    """One update of ``variables`` by ``optimizer`` down the scalar loss ``fn()`` returns
    (or ``(loss, aux)``); returns ``(loss, aux)``, the loss unscaled and detached.

    The loss is differentiated as ``optimizer.scale_loss(loss)``: under mixed_float16 the
    game's optimizers are ``LossScaleOptimizer``s, whose scaled loss keeps small float16
    gradients from flushing to zero and whose update unscales them (and skips a step whose
    gradients are not finite). Inner gradients (an attack's, a gradient penalty's) are
    not scaled: they set directions or norms with respect to the inputs, which stay float32
    (images, samples) under kzoo's nets.

    Examples:
        >>> loss, logits = kzoo.backend.descend(model.optimizer, loss_fn, variables)
    """

    def scaled():
        loss, aux = split_output(fn())
        return optimizer.scale_loss(loss), (loss, aux)

    (_, (loss, aux)), grads = value_and_grad(scaled, variables)
    apply(optimizer, grads, variables)
    return keras.ops.stop_gradient(loss), aux


def versions():
    """Keras and framework versions, as strings."""
    return {"keras": keras.__version__, name: _impl.framework_version()}

