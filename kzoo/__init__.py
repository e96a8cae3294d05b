"""kzoo: a Keras 3 model zoo of adversarial training games for learning from bad data.

Public API: ``kzoo.load``, ``kzoo.presets``, and the modules ``kzoo.games``,
``kzoo.data``, ``kzoo.nets``, ``kzoo.losses``, ``kzoo.metrics``.

Submodules import on first use, so that ``KERAS_BACKEND`` can still be chosen
after ``import kzoo`` (the command line does this for ``--backend``).

Examples:
    >>> import kzoo
    >>> model = kzoo.load("digits-lt10-cnn-ldam-drw")
    >>> probs = kzoo.metrics.predict_proba(model, kzoo.data.load("digits").x_test)
"""

import importlib

from kzoo import startup

startup.prepare()  # the backend and TensorFlow's quiet, before Keras is imported

__version__ = "0.1.0"

_MODULES = ("attacks", "backend", "callbacks", "data", "distribute", "games", "hub", "losses",
            "metrics", "nets", "paper_scale", "recipes", "zoo")
_FUNCTIONS = {"load": "zoo", "presets": "zoo"}

__all__ = ["load", "presets", *_MODULES]


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f"kzoo.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"kzoo.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'kzoo' has no attribute {name!r}")
