"""A recipe table's keys against the parameters of the function or class it configures:
unknown keys and refused values become ``RecipeError``s naming the table and what is allowed.

Examples:
    >>> call("recipes/my.toml", kzoo.data.long_tail, "bias long_tail", ds, imbalance=10)
"""

import inspect

from kzoo import validate
from kzoo.recipe_spec import RecipeError


def parameters(fn):
    """Named parameters of ``fn``; for a class, of every ``__init__`` in its MRO (a game
    forwards ``**kwargs`` to the game it extends), less Keras' own base classes under a
    kzoo class (``keras.Model``'s ``trainable``, ``dtype`` are not a recipe's to set)."""
    if not inspect.isclass(fn):
        return inspect.signature(fn).parameters
    params, kzoo_class = {}, not _from_keras(fn)
    for cls in fn.__mro__:
        if cls is object or (kzoo_class and _from_keras(cls)):
            continue
        if "__init__" in cls.__dict__:
            for name, p in inspect.signature(cls.__init__).parameters.items():
                if name != "self":
                    params.setdefault(name, p)
    return params


def _from_keras(cls):
    return cls.__module__.split(".")[0] == "keras"


def check_keywords(origin, fn, where, kwargs, taken=()):
    """A RecipeError naming the allowed keys when ``fn`` takes no keyword of ``kwargs``
    (``taken``: parameters the recipe sets itself; ``origin``: the recipe's file)."""
    allowed = [n for n, p in parameters(fn).items()
               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in taken]
    try:
        validate.known_keys(where, kwargs, allowed)
    except ValueError as err:
        raise RecipeError(f"{origin}: {err}") from None


def call(origin, fn, where, *args, **kwargs):
    """Calls ``fn``; an unexpected keyword becomes a RecipeError naming the allowed ones."""
    named = [n for n, p in parameters(fn).items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    check_keywords(origin, fn, where, kwargs, taken=named[:len(args)])
    try:
        return fn(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{origin}: {where}: {err}") from err
