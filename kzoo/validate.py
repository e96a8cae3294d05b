"""Argument checks shared by every game, attack, transform, recipe and command.

Each check returns the value (as a Python ``int``, ``float``, ...) or raises ``ValueError``
naming the argument, the value given and what is allowed. Booleans are never numbers, and
NaN and infinities are refused.

Examples:
    >>> number("epsilon", 0.1, low=0)
    0.1
    >>> integer("epochs", True, low=1)
    Traceback (most recent call last):
    ValueError: epochs must be an int >= 1; got True.
"""

import math
import numbers
import re

import numpy as np

SEED_MAX = 2**32 - 1


def _bounds(low, high, low_open, high_open):
    low, high = (v if v is None or isinstance(v, int) else f"{v:g}" for v in (low, high))
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def _in_bounds(value, low, high, low_open, high_open):
    return ((low is None or (value > low if low_open else value >= low))
            and (high is None or (value < high if high_open else value <= high)))


def number(name, value, *, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a finite float within the bounds, or ``ValueError``."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and _in_bounds(value, low, high, low_open, high_open))
    if not ok:
        raise ValueError(f"{name} must be a finite number"
                         f"{_bounds(low, high, low_open, high_open)}; got {value!r}.")
    return float(value)


def integer(name, value, *, low=None, high=None):
    """``value`` as an int within ``[low, high]``, or ``ValueError`` (floats are refused)."""
    ok = (isinstance(value, numbers.Integral) and not isinstance(value, bool)
          and _in_bounds(value, low, high, False, False))
    if not ok:
        raise ValueError(f"{name} must be an int{_bounds(low, high, False, False)}; "
                         f"got {value!r}.")
    return int(value)


def numbers_list(name, values, *, low=None, high=None, low_open=False):
    """A non-empty list of numbers, each checked by ``number``."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a list of numbers; got {values!r}.")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must hold at least one number; got [].")
    return [number(f"{name}[{i}]", v, low=low, high=high, low_open=low_open)
            for i, v in enumerate(values)]


def seed(name, value, optional=False):
    """``value`` as a random seed, an int in [0, 2**32 - 1] (or None when ``optional``)."""
    if optional and value is None:
        return None
    return integer(name, value, low=0, high=SEED_MAX)


def int_tuple(name, values):
    """``values`` (a shape, or layer widths) as a non-empty tuple of ints >= 1."""
    if np.ndim(values) != 1 or not len(values):
        raise ValueError(f"{name} must be a non-empty tuple of ints >= 1; got {values!r}.")
    return tuple(integer(f"{name}[{i}]", v, low=1) for i, v in enumerate(values))


def counts(name, value, num_classes=None):
    """``value`` as a list of ints >= 1, one count per class (``num_classes`` of them, when
    given), or ``ValueError``."""
    if np.ndim(value) != 1 or not len(value) or len(value) != (num_classes or len(value)):
        many = "" if num_classes is None else f"{num_classes} "
        raise ValueError(f"{name} must hold {many}positive counts (ints >= 1), one per "
                         f"class; got {value!r}.")
    return [integer(f"{name}[{i}]", c, low=1) for i, c in enumerate(value)]


def choice(name, value, allowed):
    """``value`` if it is one of ``allowed``, or ``ValueError`` listing them (and the
    closest, ``did_you_mean``)."""
    if not any(type(value) is type(a) and value == a for a in allowed):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; "
                         f"got {value!r}.{did_you_mean(value, allowed)}")
    return value


PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def is_plain_name(value):
    """Whether ``value`` is a name that is safe as one path component: letters, digits, '.',
    '_' and '-', the first a letter or digit, no '..' (a run, a preset, a hub owner)."""
    return isinstance(value, str) and bool(PLAIN_NAME.fullmatch(value)) and ".." not in value


def known_keys(where, keys, allowed):
    """``ValueError`` naming the keys of ``keys`` not in ``allowed`` (a table's, an
    argument list's), the allowed ones in their order, and the closest to each."""
    unknown = sorted(set(keys) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; allowed: "
                         f"{', '.join(allowed)}."
                         + "".join(did_you_mean(k, allowed) for k in unknown))


def did_you_mean(value, allowed):
    """`` Did you mean 'x'?`` for the entries of ``allowed`` closest to ``value`` as text
    (``difflib``), or ``""`` when none is close."""
    import difflib

    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=2, cutoff=0.6)
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""


def boolean(name, value):
    """``value`` if it is a bool, or ``ValueError``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false; got {value!r}.")
    return value


def check_inputs(x, expected_shape, value_range=None, argument="x", fix=None):
    """Checks a NumPy batch: not empty, the per-example shape, finite, and, with
    ``value_range`` ``(low, high)``, every value within it (``check_range``; ``fix``: how
    to declare another range)."""
    if len(x) == 0:
        raise ValueError(f"{argument} holds no examples; fit, evaluate and attacks need at "
                         f"least one.")
    shape = tuple(x.shape[1:])
    expected = tuple(expected_shape)
    if len(shape) != len(expected) or any(
        e is not None and e != s for s, e in zip(shape, expected)
    ):
        raise ValueError(
            f"{argument} has examples of shape {shape}; the model takes {expected}."
        )
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = int(np.size(x) - np.isfinite(x).sum())
        raise ValueError(f"{argument} holds {bad} NaN or inf values; inputs must be finite.")
    if value_range is not None:
        check_range(argument, x, value_range, fix)


def check_labels(y, num_classes, argument="y"):
    """Checks that ``y`` holds integer class indices in ``[0, num_classes)``."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{argument} must be a vector of class indices; got shape {y.shape}.")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise ValueError(f"{argument} must hold integer class indices; got dtype {y.dtype}.")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise ValueError(f"{argument} must hold integer class indices; it holds non-integers.")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{argument} holds labels in [{int(y.min())}, {int(y.max())}]; "
            f"allowed: 0 to {num_classes - 1}."
        )


def value_range(name, value):
    """``value`` as a ``(low, high)`` pair of finite floats with low < high, or None."""
    if value is None:
        return None
    if np.ndim(value) != 1 or len(value) != 2:
        raise ValueError(f"{name} must be a pair (low, high) of numbers, or None; got "
                         f"{value!r}.")
    low, high = (number(f"{name}[{i}]", v) for i, v in enumerate(value))
    if low >= high:
        raise ValueError(f"{name} must be a pair (low, high) with low < high; got {value!r}.")
    return low, high


RANGE_TOLERANCE = 1e-4  # float rounding of images computed in [0, 1]


def check_range(argument, x, value_range, fix=None):
    """Checks that the NumPy array ``x`` lies within ``value_range`` ``(low, high)``; the
    message names ``argument``, the observed and the expected range, the scaling that
    looks like the fix (8-bit pixels, or [-1, 1] images, against [0, 1]), and ``fix``."""
    low, high = (float(v) for v in value_range)
    x_min, x_max = float(np.min(x)), float(np.max(x))
    if x_min >= low - RANGE_TOLERANCE and x_max <= high + RANGE_TOLERANCE:
        return
    fixes = [fix] if fix else []
    if (low, high) == (0.0, 1.0) and x_min >= 0 and x_max <= 255:
        fixes.insert(0, f"{argument} / 255.0 if these are 8-bit pixels")
    elif (low, high) == (0.0, 1.0) and x_min >= -1 and x_max <= 1:
        fixes.insert(0, f"({argument} + 1) / 2 if these are images in [-1, 1]")
    raise ValueError(f"{argument} holds values in [{x_min:g}, {x_max:g}]; the model takes "
                     f"inputs in [{low:g}, {high:g}]"
                     + (f" ({'; or '.join(fixes)})" if fixes else "") + ".")


TORCH_FIX = "keras.layers.TorchModuleWrapper(module, output_shape=(None, num_classes))"


def keras_model(name, value, role=""):
    """``value`` if it is a ``keras.Model`` whose outputs Keras knows (a functional model, or
    a ``keras.Sequential`` that starts with ``keras.Input``), or ``ValueError`` naming the fix:
    a layer or a torch module to wrap, a ``keras.layers.TorchModuleWrapper`` without
    ``output_shape`` (Keras cannot infer a torch module's output shape), a model without
    ``keras.Input``. ``role`` says, in the message, what the model must do.

    Examples:
        >>> keras_model("net", None, " mapping inputs to logits")
        Traceback (most recent call last):
        ValueError: net must be a keras.Model mapping inputs to logits; got None.
    """
    import keras

    wrapper = getattr(keras.layers, "TorchModuleWrapper", ())  # () matches nothing
    if not isinstance(value, keras.Model):
        if isinstance(value, wrapper):
            what, fix = f"the layer {value.name!r}", (
                f"keras.Sequential([keras.Input(input_shape), {TORCH_FIX}])")
        elif isinstance(value, keras.layers.Layer):
            what, fix = (f"the layer {value.name!r}",
                         "keras.Sequential([keras.Input(input_shape), layer])")
        elif any(c.__module__.split(".")[0] == "torch" for c in type(value).__mro__):
            what, fix = "a torch module", (f"on the torch backend, keras.Sequential(["
                                           f"keras.Input(input_shape), {TORCH_FIX}])")
        else:
            raise ValueError(f"{name} must be a keras.Model{role}; got {value!r}.")
        raise ValueError(f"{name} must be a keras.Model{role}; got {what} "
                         f"({type(value).__name__}): wrap it, {fix}.")
    try:
        value.outputs  # noqa: B018  (a model Keras could not build symbolically has none)
    except (AttributeError, ValueError):
        unknown = [layer.name for layer in _sublayers(value)
                   if isinstance(layer, wrapper) and layer.output_shape is None]
        if unknown:
            raise ValueError(
                f"{name} ({type(value).__name__} {value.name!r}) has no known outputs: Keras "
                f"cannot infer a torch module's output shape, and its "
                f"keras.layers.TorchModuleWrapper {unknown[0]!r} was made without "
                f"output_shape. Give it one: {TORCH_FIX}, in a model that starts with "
                f"keras.Input(input_shape).") from None
        raise ValueError(
            f"{name} ({type(value).__name__} {value.name!r}) has no known outputs: Keras "
            f"builds them from a keras.Input, through layers that each compute their output "
            f"shape. Start a keras.Sequential with keras.Input(input_shape), or build a "
            f"functional keras.Model(inputs, outputs) (a torch module: {TORCH_FIX}).") from None
    return value


def _sublayers(model):
    """Every layer inside ``model``, depth first."""
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _sublayers(layer)
