"""One optimizer that carries the optimizers of every player of a game."""

import keras


def optimizer_config(optimizer):
    """A serialisation of ``optimizer`` that names no backend module."""
    return {"class_name": keras.saving.get_registered_name(type(optimizer)),
            "config": optimizer.get_config()}


def optimizer_from_config(config):
    return keras.optimizers.get(
        {"class_name": config["class_name"], "config": dict(config["config"])}
    )


@keras.saving.register_keras_serializable(package="kzoo")
class OptimizerGroup(keras.optimizers.Optimizer):
    """The players' optimizers behind the single optimizer ``compile`` takes.

    Keras' JAX trainer carries only ``model.optimizer.variables`` through its
    state, so a second optimizer kept as an attribute would silently never
    advance. A game passes ``compile`` a dict ``{player: optimizer}``; the game
    wraps it in this group, whose ``variables`` are all its members'. A
    ``train_step`` applies each player's gradients with ``group[player]``.

    Args:
        optimizers: dict of str to optimizer (instance, name or config).
        name: str. Default "optimizer_group".

    Examples:
        >>> game.compile({"generator": keras.optimizers.Adam(2e-4),
        ...               "critic": keras.optimizers.Adam(2e-4)})
        >>> kzoo.backend.descend(game.optimizer["critic"], critic_loss, critic_variables)
    """

    def __init__(self, optimizers, name="optimizer_group", **kwargs):
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        if not isinstance(optimizers, dict) or not optimizers:
            raise ValueError(f"optimizers must be a non-empty dict {{player: optimizer}}; "
                             f"got {optimizers!r}.")
        self._members = {
            key: optimizer_from_config(opt) if isinstance(opt, dict) and "class_name" in opt
            else keras.optimizers.get(opt)
            for key, opt in optimizers.items()
        }
        self._player_variables = None

    @property
    def optimizers(self):
        return dict(self._members)

    def __getitem__(self, player):
        return self._members[player]

    def bind(self, player_variables):
        """Tells the group which variables each player's optimizer updates."""
        if set(player_variables) != set(self._members):
            raise ValueError(f"optimizers are given for {sorted(self._members)}; the game's "
                             f"players are {sorted(player_variables)}.")
        self._player_variables = dict(player_variables)

    def build(self, variables=None):
        if self._player_variables is None:
            raise ValueError("OptimizerGroup.build needs bind({player: variables}) first.")
        for key, opt in self._members.items():
            if not opt.built:
                opt.build(self._player_variables[key])

    @property
    def built(self):
        """Whether every member is built (TensorFlow builds each at its first use)."""
        return all(opt.built for opt in getattr(self, "_members", {}).values())

    @built.setter
    def built(self, value):
        pass  # derived from the members

    @property
    def variables(self):
        return [v for opt in self._members.values() for v in opt.variables]

    @property
    def iterations(self):
        return next(iter(self._members.values())).iterations

    def save_own_variables(self, store):
        """Nothing: each member saves its own state (Keras walks them as the group's
        ``optimizers``); ``variables``, all of theirs, would store it a second time."""

    def load_own_variables(self, store):
        """Nothing: each member loads its own state (a file that also holds the group's copy
        of it, as files saved before did, loads the same)."""

    def apply(self, grads, trainable_variables=None):
        raise TypeError("OptimizerGroup does not apply gradients itself; use group[player].")

    def get_config(self):
        return {"name": self.name,
                "optimizers": {k: optimizer_config(o) for k, o in self._members.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)
