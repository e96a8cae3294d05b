"""The base class of every kzoo game."""

import os

import keras
import numpy as np

from kzoo import backend, validate
from kzoo.files import atomic_path
from kzoo.games.optimizer_group import OptimizerGroup


def optimizer_config(optimizer):
    """A serialisation of ``optimizer`` that names no backend module."""
    return {"class_name": keras.saving.get_registered_name(type(optimizer)),
            "config": optimizer.get_config()}


def optimizer_from_config(config):
    return keras.optimizers.get(
        {"class_name": config["class_name"], "config": dict(config["config"])}
    )


class Game(keras.Model):
    """A ``keras.Model`` whose ``train_step`` plays one round of a game.

    Subclasses list their sub-models (players) in ``players``, write
    ``train_step(self, data)`` and ``test_step(self, data)`` once with
    ``keras.ops`` and ``kzoo.backend``, and return every ``__init__`` argument
    from ``get_config``. The base class provides:

    - the JAX ``train_step(state, data)`` bridge (applied to subclasses'
      ``train_step``/``test_step`` when they are defined);
    - ``get_config``/``from_config`` that serialise and rebuild the players;
    - a compile config that names optimizers without a backend module, so a
      ``.keras`` file saved under one backend loads under the others;
    - ``save`` that writes to a temporary file and renames it (a failed save
      leaves nothing behind);
    - input checks in ``fit`` and ``evaluate`` for NumPy inputs.
    """

    players = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "train_step" in cls.__dict__:
            cls.train_step = backend.stateful_step(cls.__dict__["train_step"])
        if "test_step" in cls.__dict__:
            cls.test_step = backend.stateful_test_step(cls.__dict__["test_step"])

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        for player in self.players:
            config[player] = keras.saving.serialize_keras_object(getattr(self, player))
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for player in cls.players:
            config[player] = keras.saving.deserialize_keras_object(
                config[player], custom_objects=custom_objects
            )
        return cls(**config)

    def compile(self, optimizer="adam", *, jit_compile="auto", steps_per_execution=1,
                run_eagerly=False):
        """Configures the game for training.

        Args:
            optimizer: str or ``keras.optimizers.Optimizer`` for one player; for a
                game of several players, a dict ``{player: optimizer}`` (wrapped in an
                ``OptimizerGroup``). Default "adam".
            jit_compile: bool or "auto". XLA on TensorFlow and JAX,
                ``torch.compile`` on torch. Default "auto" (Keras' choice).
            steps_per_execution: int. Steps per compiled call. Default 1.
            run_eagerly: bool. Debug mode. Default False.
        """
        if isinstance(optimizer, dict) and "class_name" not in optimizer:
            optimizer = OptimizerGroup(optimizer)
        optimizer = keras.optimizers.get(optimizer)
        if isinstance(optimizer, OptimizerGroup):
            optimizer.bind({p: getattr(self, p).trainable_variables for p in self.players})
        super().compile(
            optimizer=optimizer,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
            run_eagerly=run_eagerly,
        )

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {
            "optimizer": optimizer_config(self.optimizer),
            "steps_per_execution": self.steps_per_execution,
        }

    def compile_from_config(self, config):
        self.compile(
            optimizer=optimizer_from_config(config["optimizer"]),
            steps_per_execution=config.get("steps_per_execution", 1),
        )
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # ------------------------------------------------------------------- I/O
    def save(self, filepath, overwrite=True, **kwargs):
        """Saves to ``filepath`` (``.keras``) atomically: temp file, then rename."""
        filepath = os.fspath(filepath)
        if not filepath.endswith(".keras"):
            raise ValueError(f"filepath must end in '.keras'; got {filepath!r}.")
        if os.path.exists(filepath) and not overwrite:
            raise FileExistsError(f"{filepath} exists and overwrite=False.")
        with atomic_path(filepath) as tmp:
            super().save(tmp, overwrite=True, **kwargs)

    def training_monitors(self, ds):
        """``{file name: callback}``: callbacks whose figure (``callback.save(path)``) a
        training run writes next to its model. None by default."""
        return {}

    # ---------------------------------------------------------------- checks
    @property
    def served_input_shape(self):
        """Input shape of the first player, without the batch axis."""
        return tuple(getattr(self, self.players[0]).input_shape[1:])

    def check_data(self, x, y=None):
        """Raises ``ValueError`` for NumPy inputs the game cannot take."""
        if isinstance(x, np.ndarray):
            check_inputs(x, self.served_input_shape)

    def training_inputs(self, x):
        """What ``fit`` feeds the train step for the NumPy inputs ``x``: ``x`` itself by
        default (MetaIADA adds each row's sample id)."""
        return x

    def fit(self, x=None, y=None, *args, **kwargs):
        for key, low in (("epochs", 1), ("batch_size", 1), ("initial_epoch", 0)):
            if kwargs.get(key) is not None:
                validate.integer(key, kwargs[key], low=low)
        self.check_data(x, y)
        if isinstance(x, np.ndarray):
            x = self.training_inputs(x)
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)) and len(validation) >= 2:
            self.check_data(validation[0], validation[1])
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_data(x, y)
        return super().evaluate(x, y, *args, **kwargs)


def check_inputs(x, expected_shape):
    """Checks finiteness and the per-example shape of a NumPy batch."""
    if len(x) == 0:
        raise ValueError("x holds no examples; fit, evaluate and attacks need at least one.")
    shape = tuple(x.shape[1:])
    expected = tuple(expected_shape)
    if len(shape) != len(expected) or any(
        e is not None and e != s for s, e in zip(shape, expected)
    ):
        raise ValueError(
            f"x has examples of shape {shape}; the model takes {expected}."
        )
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = int(np.size(x) - np.isfinite(x).sum())
        raise ValueError(f"x holds {bad} NaN or inf values; inputs must be finite.")


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
