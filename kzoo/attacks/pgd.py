"""Projected gradient descent (Madry et al., 2018), and FGSM as its one-step case.

Written once with ``keras.ops`` and ``kzoo.backend.input_grad``: the same
function attacks inside any ``train_step`` and outside it, on every backend.
The model runs in inference mode (``training=False``), so attack passes never
move batch-norm statistics.

Results follow the inputs (``kzoo.ops.numpy_if_host``): NumPy in, NumPy out (so
``np.min(x_adv)`` works on every backend); backend tensors in, as inside a
``train_step`` (also traced or symbolic ones), backend tensors out.

Units: ``epsilon`` and ``step_size`` are in the units of the model's input
range ``clip``. kzoo's classifiers take [0, 1] inputs; for a model taking
[-1, 1] inputs pass ``clip=(-1, 1)`` and double the [0, 1] radii (e.g. 8/255 in
[0, 1] units is 16/255 in [-1, 1] units).
"""

import keras
import numpy as np
from keras import ops

from kzoo import backend, validate
from kzoo.losses.classification import per_example_cross_entropy
from kzoo.ops import example_norms, logits_of, numpy_if_host, unit_rows
from kzoo.validate import check_inputs, check_labels

NORMS = ("linf", "l2")
LOSSES = ("ce", "margin")


def pgd(model, x, y, *, epsilon, step_size, steps, norm="linf", random_start=False, loss="ce",
        targeted=False, seed=None, clip=(0.0, 1.0)):
    """Adversarial inputs by ``steps`` projected gradient steps inside an ``epsilon`` ball.

    Each step moves ``x_adv`` by ``step_size`` along the sign of the input
    gradient (linf) or the gradient normalised per example (l2), raising the
    loss (or lowering it towards ``y`` when ``targeted``), then projects back
    onto the ball around ``x`` and into ``clip``.

    Args:
        model: callable ``model(x, training=False) -> logits`` (a Keras model or game).
        x: tensor (batch, ...). Clean inputs in the range ``clip`` (NumPy inputs outside
            it are refused).
        y: int tensor (batch,). True labels (target labels if ``targeted``).
        epsilon: float >= 0. Radius of the ball, in input units.
        step_size: float > 0. Size of each step, in input units.
        steps: int >= 1. Number of steps.
        norm: str. "linf" or "l2". Default "linf".
        random_start: bool. Start from a uniform point of the ball (linf) or a
            random direction at a uniform radius (l2). Default False.
        loss: str or callable. "ce" (cross-entropy), "margin" (best other logit minus
            the true logit, Carlini-Wagner style), or ``loss(y, outputs)`` returning one
            loss per example, for a model with several outputs. A model with several
            outputs has its class logits last: "ce" and "margin" and the iterates'
            predictions read them. Default "ce".
        targeted: bool. Move towards ``y`` instead of away. Default False.
        seed: int in [0, 2**32 - 1], ``keras.random.SeedGenerator`` or None. Random
            start's seed.
        clip: (low, high), low < high. The model's input range. Default (0, 1).

    Returns:
        The adversarial inputs, shaped like ``x``: a NumPy array when ``x`` is NumPy
        (or a list of numbers), else a backend tensor with no gradient.

    NumPy (host) inputs are checked first (``check_batch``); backend tensors, as
    inside a ``train_step``, are taken as they are.

    Examples:
        >>> x_adv = kzoo.attacks.pgd(model, ds.x_test, ds.y_test, epsilon=0.1,
        ...                          step_size=0.025, steps=10)
        >>> float(np.abs(x_adv - ds.x_test).max()) <= 0.1 + 1e-6
        True
    """
    x_adv, _ = pgd_with_predictions(
        model, x, y, epsilon=epsilon, step_size=step_size, steps=steps, norm=norm,
        random_start=random_start, loss=loss, targeted=targeted, seed=seed, clip=clip,
    )
    return x_adv


def fgsm(model, x, y, *, epsilon, norm="linf", loss="ce", targeted=False, clip=(0.0, 1.0)):
    """The fast gradient (sign) method: one PGD step of size ``epsilon`` (> 0).

    Returns what ``pgd`` returns: NumPy for NumPy ``x``, a backend tensor for a tensor.

    Examples:
        >>> x_adv = kzoo.attacks.fgsm(model, ds.x_test, ds.y_test, epsilon=0.1)
    """
    validate.number("epsilon", epsilon, low=0, low_open=True)
    return pgd(model, x, y, epsilon=epsilon, step_size=epsilon, steps=1, norm=norm, loss=loss,
               targeted=targeted, clip=clip)


def pgd_with_predictions(model, x, y, *, epsilon, step_size, steps, norm="linf",
                         random_start=False, loss="ce", targeted=False, seed=None,
                         clip=(0.0, 1.0)):
    """``pgd`` that also returns the predicted classes at every iterate.

    Returns:
        ``(x_adv, predictions)``, both NumPy for NumPy ``x``, else backend tensors:
        ``predictions`` (int32, shape (steps, batch)) holds in row ``t`` the classes
        predicted for the iterate after ``t`` steps, for ``t = 0 .. steps - 1`` (read
        off the gradient passes, so it costs nothing); the prediction for ``x_adv``
        itself needs one more pass.

    Examples:
        >>> x_adv, preds = kzoo.attacks.pgd_with_predictions(
        ...     model, ds.x_test, ds.y_test, epsilon=0.1, step_size=0.025, steps=10)
        >>> preds.shape == (10, len(ds.x_test))
        True
    """
    check_attack(epsilon=epsilon, step_size=step_size, steps=steps, norm=norm, loss=loss)
    validate.boolean("random_start", random_start)
    validate.boolean("targeted", targeted)
    if not (seed is None or isinstance(seed, keras.random.SeedGenerator)):
        seed = validate.seed("seed", seed)
    low, high = _check_clip(clip)
    check_batch(model, x, y, (low, high))
    inputs, x = x, ops.convert_to_tensor(x)
    y = ops.reshape(ops.cast(y, "int32"), (-1,))
    x_adv = x
    if random_start and epsilon > 0:
        x_adv = ops.clip(x + _random_in_ball(ops.shape(x), epsilon, norm, seed), low, high)
    direction = -1.0 if targeted else 1.0

    def objective(t):
        outputs = model(t, training=False)
        logits = logits_of(outputs)
        per_example = loss(y, outputs) if callable(loss) else _per_example_loss(loss, y, logits)
        return ops.sum(per_example), ops.argmax(logits, axis=-1)

    predictions = []
    for _ in range(int(steps)):
        grad, pred = backend.input_grad(objective, x_adv, has_aux=True)
        predictions.append(ops.cast(pred, "int32"))
        x_adv = x + _project(x_adv - x + direction * step_size * _ascent(grad, norm),
                             epsilon, norm)
        x_adv = ops.clip(x_adv, low, high)
    return numpy_if_host(inputs, (ops.stop_gradient(x_adv),
                                  ops.stop_gradient(ops.stack(predictions))))


def check_attack(*, epsilon, step_size, steps, norm, loss="ce"):
    """Raises ``ValueError`` naming the first bad attack argument."""
    validate.number("epsilon", epsilon, low=0)
    validate.integer("steps", steps, low=1)
    validate.number("step_size", step_size, low=0, low_open=True)
    validate.choice("norm", norm, NORMS)
    if not callable(loss):
        validate.choice("loss", loss, LOSSES)


def check_batch(model, x, y=None, value_range=None):
    """Checks NumPy (host) inputs of a logits ``model``: ``x`` a non-empty batch of finite
    floats (within ``value_range`` ``(low, high)``, the model's input range, when given);
    ``y`` (NumPy or a list) one class index in ``[0, classes)`` per row of ``x``. Backend
    tensors pass unchecked: reading them would cost a device round trip."""
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"x must hold floats in the model's input range; got dtype "
                             f"{x.dtype}.")
        check_inputs(x, x.shape[1:], value_range)  # the model checks the shape
    if isinstance(y, (np.ndarray, list, tuple)):
        check_labels(y, num_classes_of(model, x))
        if len(y) != len(x):
            raise ValueError(f"y must hold one label per row of x ({len(x)}); got {len(y)}.")


def num_classes_of(model, x):
    """The width of ``model``'s logits (its last output's, when it has several): a game's
    ``num_classes``, a net's output width, or, for any other callable, that of its logits
    for the first row of ``x``."""
    shape = getattr(model, "output_shape", (None,))
    shape = shape[-1] if isinstance(shape, list) else shape  # several outputs: logits last
    width = getattr(model, "num_classes", None) or shape[-1]
    if width is None:
        width = ops.shape(logits_of(model(x[:1], training=False)))[-1]
    return int(width)


def _check_clip(clip):
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise ValueError(f"clip must be a pair (low, high) of numbers; got {clip!r}.")
    low, high = (validate.number(f"clip[{i}]", v) for i, v in enumerate(clip))
    if low >= high:
        raise ValueError(f"clip must be a pair (low, high) with low < high; got {clip!r}.")
    return low, high


def _per_example_loss(loss, y, logits):
    if loss == "ce":
        return per_example_cross_entropy(y, logits)
    onehot = ops.one_hot(y, ops.shape(logits)[-1], dtype=logits.dtype)
    true = ops.sum(onehot * logits, axis=-1)
    other = ops.max(logits - 1e9 * onehot, axis=-1)
    return other - true


def _ascent(grad, norm):
    if norm == "linf":
        return ops.sign(grad)
    return unit_rows(grad)


def _project(delta, epsilon, norm):
    if norm == "linf":
        return ops.clip(delta, -epsilon, epsilon)
    scale = ops.minimum(1.0, epsilon / (example_norms(delta) + 1e-12))
    return delta * scale


def _random_in_ball(shape, epsilon, norm, seed):
    rows, rest = shape[0], tuple(shape[1:])
    if norm == "linf":
        return backend.replica_rows(
            lambda n: keras.random.uniform((n, *rest), -epsilon, epsilon, seed=seed), rows)
    direction = unit_rows(backend.replica_rows(
        lambda n: keras.random.normal((n, *rest), seed=seed), rows))
    radius_seed = (seed + 1) % (validate.SEED_MAX + 1) if isinstance(seed, int) else seed
    radius = backend.replica_rows(
        lambda n: keras.random.uniform((n,) + (1,) * len(rest), 0.0, epsilon,
                                       seed=radius_seed), rows)
    return direction * radius
