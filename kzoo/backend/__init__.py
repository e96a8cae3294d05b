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
- ``versions()``: the framework versions, for model cards.
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
sync_state = _impl.sync_state


def descend(optimizer, fn, variables):
    """One update of ``variables`` by ``optimizer`` down the scalar loss ``fn()`` returns
    (or ``(loss, aux)``); returns ``(loss, aux)``, the loss unscaled and detached.

    The loss is differentiated as ``optimizer.scale_loss(loss)``: under mixed_float16 the
    game's optimizers are ``LossScaleOptimizer``s, whose scaled loss keeps small float16
    gradients from flushing to zero and whose update unscales them (and skips a step whose
    gradients are not finite). Inner gradients (an attack's, a gradient penalty's) are
    not scaled: they set directions or norms with respect to the inputs, which stay float32
    (images, samples) under kzoo's nets.

    Example:
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

