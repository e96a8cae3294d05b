"""The base class of every kzoo game, and the registry of games."""

import importlib
import os

import keras
import numpy as np
from keras import ops

from kzoo import backend, distribute, validate
from kzoo.files import atomic_path
from kzoo.games.optimizer_group import OptimizerGroup, optimizer_config, optimizer_from_config
from kzoo.games.stages import Stage, StageProgbar, StageSwitcher, with_stage_in_logs
from kzoo.validate import check_inputs, check_labels  # noqa: F401  (kzoo.games.game's API)

GAMES = {}  # registered name -> Game subclass; filled as each game's class is defined


def game_name(cls):
    """The name a recipe and a card use for ``cls``: its class name for kzoo's own games,
    ``"module:Class"`` for a game defined elsewhere."""
    if cls.__module__.split(".")[0] == "kzoo":
        return cls.__name__
    return f"{cls.__module__}:{cls.__qualname__}"


def get(name):
    """The game class registered as ``name``; ``"module:Class"`` imports ``module`` first."""
    if not isinstance(name, str):
        raise ValueError(f"a game name must be a string; got {name!r}.")
    if name not in GAMES and ":" in name:
        module = name.split(":")[0]
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ValueError(f"game {name!r}: cannot import {module!r} ({err}).") from err
    if name not in GAMES:
        known = [n for n in GAMES if ":" not in n]
        raise ValueError(f"unknown game {name!r}; allowed: {', '.join(known)}, or "
                         f"\"module:Class\" naming a kzoo.games.Game subclass."
                         f"{validate.did_you_mean(name, known)}")
    return GAMES[name]


class Game(keras.Model):
    """A ``keras.Model`` whose ``train_step`` plays one round of a game.

    A game declares, on its class:

    - ``players``: the attribute names of its sub-models (each saved, each with its
      optimizer when there are several);
    - ``serves``: what a user takes from a trained game, each a role of the zoo
      (``kzoo.roles``): ``"classifier"`` (``game.classifier``, a ``keras.Model`` from
      [0, 1] inputs to logits) and ``"generator"`` (the game itself: ``latent_dim``,
      ``conditional``, ``generate``, ``sample``; ``game.generator`` is the generator network);
    - ``log_names``: every value its steps log (``record`` keeps a mean of each), with
      one meaning in training and validation;
    - ``paper``: the reference a card names;
    - ``input_range``: the ``(low, high)`` of the images ``fit`` takes (kzoo's classifiers:
      [0, 1]), checked on NumPy inputs; None for any finite values.

    It writes ``train_step(self, data)`` and ``test_step(self, data)`` once with
    ``keras.ops`` and ``kzoo.backend`` (a subclass may call ``super().train_step(data)``
    on every backend), returns every ``__init__`` argument from ``get_config``, and may
    override ``from_dataset`` (what it takes from a data set), ``stages`` (a play that
    changes during training) and ``plan_training``. Defining the class registers it
    (``kzoo.games.get``). The base class provides:

    - the JAX ``train_step(state, data)`` bridge (applied to subclasses'
      ``train_step``/``test_step`` when they are defined);
    - stages: ``fit`` switches ``self.stage`` between steps (each stage is traced and
      compiled on its own) and logs the stage index when there are several;
    - ``get_config``/``from_config`` that serialise and rebuild the players;
    - a compile config that names optimizers without a backend module, so a
      ``.keras`` file saved under one backend loads under the others;
    - ``save`` that writes to a temporary file and renames it (a failed save
      leaves nothing behind);
    - input checks in ``fit`` and ``evaluate`` for NumPy inputs.
    """

    players = ()
    serves = ()
    input_range = None  # (low, high) of the images fit takes; None: any finite values
    range_fix = None  # how to declare another range, for the refusal ("{name}": the class)
    log_names = ()
    paper = ""
    loss_scaling = True  # every update goes through kzoo.backend.descend (mixed_float16)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "train_step" in cls.__dict__:
            cls.train_step = backend.stateful_step(with_stage_in_logs(cls.__dict__["train_step"]))
        if "test_step" in cls.__dict__:
            cls.test_step = backend.stateful_test_step(cls.__dict__["test_step"])
        if not cls.__name__.startswith("_"):
            GAMES[game_name(cls)] = cls

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.log_names}
        self._stage = None

    @classmethod
    def from_dataset(cls, ds, **kwargs):
        """The game for the data set ``ds`` (a ``kzoo.data.Dataset``): ``kwargs`` are the
        players and arguments; a game adds what it takes from the data (class counts,
        sample count, meta set) unless given."""
        return cls(**kwargs)

    # ----------------------------------------------------------------- stages
    def stages(self):
        """The game's stages, in order (``Stage``); one by default."""
        return [Stage("train")]

    @property
    def stage(self):
        """The name of the stage the next training step plays (the first stage until
        ``fit`` says otherwise)."""
        return self._stage or self.stages()[0].name

    @stage.setter
    def stage(self, name):
        self._stage = name

    def enter_stage(self, name):
        """Called on the host when training enters stage ``name`` (after ``self.stage`` is
        set, before its first step). Nothing by default."""

    def plan_training(self, step, total_steps):
        """Called once per ``fit``, before its first step: the training step it starts at
        and the step it will end at. Nothing by default."""

    # -------------------------------------------------------------------- logs
    def record(self, values):
        """Folds ``values`` (``{log name: scalar or per-example tensor}``) into the running
        means and returns those logs only (a step that does not compute a value does not
        report it). Over several replicas, every replica folds the global batch's value, as
        one device would: a per-example tensor's global mean, weighted by the global
        count, and a scalar's mean over the replicas (one all-reduce of sums and counts)."""
        if backend.replicas() > 1 and values:
            stats = ops.stack([ops.stack([ops.sum(ops.cast(v, "float32")),
                                          ops.cast(ops.size(v), "float32")])
                               for v in values.values()])
            totals = ops.unstack(backend.replica_sum(stats))
            for (name, value), total in zip(values.items(), totals):
                weight = None if len(ops.shape(value)) == 0 else total[1]
                self.trackers[name].update_state(total[0] / total[1], sample_weight=weight)
        else:
            for name, value in values.items():
                self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}

    @property
    def metrics(self):
        return list(self.trackers.values())

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

        Under the ``"mixed_float16"`` dtype policy (``keras.config.set_dtype_policy``,
        set before the players are built) each player's optimizer is wrapped in a
        ``keras.optimizers.LossScaleOptimizer`` (dynamic loss scaling); under
        ``"mixed_bfloat16"`` none is needed.
        """
        if isinstance(optimizer, dict) and "class_name" not in optimizer:
            optimizer = OptimizerGroup(optimizer)
        optimizer = keras.optimizers.get(optimizer)
        if keras.config.dtype_policy().name == "mixed_float16":
            optimizer = self._loss_scaled(optimizer)
        if isinstance(optimizer, OptimizerGroup):
            optimizer.bind({p: getattr(self, p).trainable_variables for p in self.players})
        super().compile(
            optimizer=optimizer,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
            run_eagerly=run_eagerly,
            auto_scale_loss=False,  # Keras would wrap the group, not each player's optimizer
        )

    def _loss_scaled(self, optimizer):
        if not self.loss_scaling:
            raise ValueError(f"{type(self).__name__} does not train under mixed_float16 "
                             f"(its updates are not all loss-scaled); use mixed_bfloat16, "
                             f"which needs no loss scaling.")

        def scaled(opt):
            if isinstance(opt, keras.optimizers.LossScaleOptimizer):
                return opt
            return keras.optimizers.LossScaleOptimizer(opt, name=f"{opt.name}_scaled")

        if isinstance(optimizer, OptimizerGroup):
            return OptimizerGroup({p: scaled(o) for p, o in optimizer.optimizers.items()})
        return scaled(optimizer)

    def get_compile_config(self):
        if not self.compiled:
            return {}
        config = {
            "optimizer": optimizer_config(self.optimizer),
            "steps_per_execution": self.steps_per_execution,
        }
        if not self.optimizer.built:  # untrained, or saved without its state: no moments
            config["optimizer_state"] = False
        return config

    def compile_from_config(self, config):
        self.compile(
            optimizer=optimizer_from_config(config["optimizer"]),
            steps_per_execution=config.get("steps_per_execution", 1),
        )
        if self.built and config.get("optimizer_state", True):
            self.optimizer.build(self.trainable_variables)  # for the state the file holds

    # ------------------------------------------------------------------- I/O
    def save(self, filepath, overwrite=True, include_optimizer=True, **kwargs):
        """Saves to ``filepath`` (``.keras``) atomically: temp file, then rename.

        ``include_optimizer=False`` leaves the optimizers' state (moments, step count) out:
        the file holds the players' weights and the optimizers' settings, a third of the
        bytes under Adam, and the game loaded from it starts its optimizers afresh. A run's
        ``model.keras`` (a preset's file) is saved so; its checkpoints keep the state they
        resume from.

        Examples:
            >>> game.save("game.keras")  # to resume training where it stopped
            >>> game.save("weights_and_settings.keras", include_optimizer=False)
        """
        filepath = os.fspath(filepath)
        if not filepath.endswith(".keras"):
            raise ValueError(f"filepath must end in '.keras'; got {filepath!r}.")
        validate.boolean("include_optimizer", include_optimizer)
        if os.path.exists(filepath) and not overwrite:
            raise FileExistsError(f"{filepath} exists and overwrite=False.")
        trained = getattr(self, "optimizer", None)
        if not include_optimizer and self.compiled:  # an unbuilt copy: settings, no moments
            self.optimizer = optimizer_from_config(optimizer_config(trained))
        try:
            with atomic_path(filepath) as tmp:
                super().save(tmp, overwrite=True, **kwargs)
        finally:
            self.optimizer = trained

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
        """Raises ``ValueError`` for NumPy inputs the game cannot take (shape, finiteness,
        ``input_range``)."""
        if isinstance(x, np.ndarray):
            check_inputs(x, self.served_input_shape, self.input_range,
                         fix=self.range_fix and self.range_fix.format(name=type(self).__name__))

    def training_inputs(self, x):
        """What ``fit`` feeds the train step for the NumPy inputs ``x``: ``x`` itself by
        default (MetaIADA adds each row's sample id)."""
        return x

    def fit(self, x=None, y=None, *args, **kwargs):
        for key, low in (("epochs", 1), ("batch_size", 1), ("initial_epoch", 0)):
            if kwargs.get(key) is not None:
                validate.integer(key, kwargs[key], low=low)
        callbacks = [*(kwargs.get("callbacks") or []), StageSwitcher()]
        if len(self.stages()) > 1 and not any(
                isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks):
            callbacks.append(StageProgbar())  # after StageSwitcher: it names the epoch's stage
        kwargs["callbacks"] = callbacks
        self.check_data(x, y)
        if isinstance(x, np.ndarray):
            x = self.training_inputs(x)
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)) and len(validation) >= 2:
            self.check_data(validation[0], validation[1])
        x, y, kwargs = distribute.fit_inputs(x, y, kwargs)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_data(x, y)
        if distribute.current() is not None:
            x, y = distribute.evaluation_inputs(x, y, kwargs.get("batch_size") or 32)
        return super().evaluate(x, y, *args, **kwargs)


def call_frozen(model, inputs, training=True):
    """``model(inputs, training=training)`` leaving its non-trainable state (batch-norm
    statistics, spectral-norm vectors) as it is."""
    out, _ = model.stateless_call([v.value for v in model.trainable_variables],
                                  [v.value for v in model.non_trainable_variables], inputs,
                                  training=training)
    return out
