"""TOML recipes: data and its biases, net, game, optimizer, fit schedule, seed.

A recipe looks like::

    name = "digits-lt10-cnn-ce"
    seed = 0
    [data]
    name = "digits"
    bias = [{kind = "long_tail", imbalance = 10}]
    [net]
    arch = "small_cnn"          # or: preset = "digits-lt10-cnn-ce" (start from its net)
    [game]
    name = "Classifier"
    loss = "ce"
    [optimizer]
    name = "sgd"
    learning_rate = 0.05
    momentum = 0.9
    [fit]
    epochs = 60
    batch_size = 64

A bias entry names its transform with ``kind``, or with ``transform`` when the
transform itself takes a ``kind`` (``{transform = "label_noise", rate = 0.4,
kind = "flip"}``). ``[game] name`` is a registered game (``kzoo.games.GAMES``) or
``"module:Class"`` for a game defined elsewhere; the game takes what it needs from
the data itself (``Game.from_dataset``). Unknown keys are refused with the key and
the allowed ones named.

Players: ``[net]`` is the game's first player (``arch`` from ``kzoo.nets.ARCHS`` and
its arguments, or ``preset``), or, with ``arch = "dcgan"``, "resnet" or "mlp", a
generator and critic pair (``latent_dim``, ``width`` or ``hidden``,
``spectral_norm``, ``conditional``). ``[net.<player>]`` tables name each player
apart (beside ``[net]``'s own keys, which stay the first player's). ``preset`` is a
preset name or a run directory; the player is taken from that game: its player of
the same name, else its served classifier, or the one named by ``player = "..."``.
``[optimizer]`` is the game's optimizer (``name``, ``learning_rate``, ``schedule`` =
"constant", "cosine" or "steps" with ``decay_epochs`` and ``decay_factor``, and the
optimizer's own keys: ``kzoo.recipe_optimizers``; a game of several players copies it or
sets its own defaults); ``[optimizer.<player>]`` tables give each player its own, their
keys overriding the top-level ones.

``[eval]``: for a game serving a classifier, accuracy under PGD (``robust_epsilons``,
``robust_steps``, ``robust_step_ratio``: steps of ``ratio * epsilon / steps``, 2.5 by
default) and under AutoAttack (``autoattack_epsilons``,
``autoattack_square_queries``; computed where an engine is installed, on torch); for a
generator, ``samples``, ``worst_noise_eps`` (the radii of the worst-input-noise metrics)
and ``features`` (the classifier preset whose features the image metrics use; default:
the data set's own, ``kzoo.metrics.feature_preset``). ``[card]``: ``intended_use`` and
``limitations`` added to the card's own (``kzoo.cards``). ``[data] scale = "signed"``
maps images to [-1, 1], for games that serve no classifier; ``[data] augment`` lists
random augmentations of the training images (``kzoo.data.augment``: "crop", "flip").
``[fit]``: ``epochs``, ``batch_size``, ``jit_compile``, ``precision`` ("float32",
"mixed_bfloat16", "mixed_float16": ``Recipe.precision``) and ``workers`` (threads making
batches ahead of the step). ``[distribute] devices``: data parallel on that many devices
(``kzoo.distribute``; ``kzoo train --devices`` overrides it); ``sync_batch_norm``.
"""

import contextlib
import hashlib
import inspect
import math
import re
import tomllib
from pathlib import Path

from kzoo import recipe_optimizers, roles, validate
from kzoo.recipe_keywords import call, check_keywords
from kzoo.recipe_optimizers import staged_rate

__all__ = ["Recipe", "RecipeError", "bias_step", "staged_rate"]

KEYS = {
    "": {"name", "description", "seed", "data", "net", "game", "optimizer", "fit", "eval",
         "card", "distribute"},
    "distribute": {"devices", "sync_batch_norm"},
    "card": {"intended_use", "limitations"},
    "data": {"name", "bias", "scale", "augment"},
    "fit": {"epochs", "batch_size", "jit_compile", "precision", "workers"},
    "eval": set().union(*(role.eval_keys for role in roles.ROLES.values())),
}
REQUIRED = {"": {"name", "data", "net", "game", "fit"}, "data": {"name"}, "game": {"name"},
            "fit": {"epochs"}, "net": set()}
SCALES = ("unit", "signed")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class RecipeError(ValueError):
    """A recipe that cannot be run, with the file and key named."""


class Recipe:
    """A parsed, validated recipe. ``Recipe.from_file(path)`` or ``Recipe(dict)``.

    Examples:
        >>> recipe = Recipe.from_file("recipes/classifier/digits-lt10-ce.toml")
        >>> ds = recipe.dataset()
        >>> model = recipe.build(ds)
    """

    def __init__(self, spec, path=None, sha256=None):
        self.spec = spec
        self.path = None if path is None else str(path)
        self.sha256 = sha256
        self._validate()

    @classmethod
    def from_file(cls, path):
        path = Path(path)
        if not path.is_file():
            raise RecipeError(f"No recipe file at {path}.")
        blob = path.read_bytes()
        try:
            spec = tomllib.loads(blob.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise RecipeError(f"{path} is not UTF-8 text (byte {err.start}); a recipe is a "
                              f"TOML file.") from err
        except tomllib.TOMLDecodeError as err:
            raise RecipeError(f"{path} is not valid TOML: {err}") from err
        return cls(spec, path, hashlib.sha256(blob).hexdigest())

    @property
    def name(self):
        return self.spec["name"]

    @property
    def seed(self):
        return self.spec.get("seed", 0)

    @property
    def fit(self):
        return self.spec["fit"]

    @property
    def game_class(self):
        """The class of ``[game] name``."""
        import kzoo.games

        return kzoo.games.get(self.spec["game"]["name"])

    @property
    def serves(self):
        return self.game_class.serves

    @property
    def player_specs(self):
        """``{player: table}`` of ``[net]``: one entry per ``[net.<player>]`` table, and
        the shorthand (``[net]``'s own keys, the first player) under the key ``""``."""
        net = self.spec["net"]
        tables = {k: v for k, v in net.items() if isinstance(v, dict)}
        shorthand = {k: v for k, v in net.items() if not isinstance(v, dict)}
        return {**({"": shorthand} if shorthand or not tables else {}), **tables}

    def _fail(self, message):
        raise RecipeError(f"{self.path or 'recipe'}: {message}")

    def _validate(self):
        import kzoo.data
        import kzoo.games

        for section in (*KEYS, *(REQUIRED.keys() - KEYS.keys())):
            table = self.spec if section == "" else self.spec.get(section, {})
            where = f"[{section}]" if section else "the top level"
            if not isinstance(table, dict):
                self._fail(f"{where} must be a table.")
            missing = REQUIRED.get(section, set()) - set(table)
            if missing:
                self._fail(f"missing key(s) {sorted(missing)} in {where}.")
            allowed = KEYS.get(section)  # None: the keys are the net's or game's arguments
            unknown = set() if allowed is None else set(table) - allowed
            if unknown:
                self._fail(f"unknown key(s) {sorted(unknown)} in {where}; "
                           f"allowed: {', '.join(sorted(allowed))}.")
        data, game = self.spec["data"], self.spec["game"]
        self._check(validate.choice, "[data] name", data["name"], kzoo.data.NAMES)
        bias = data.get("bias", [])
        if not isinstance(bias, list):
            self._fail(f"[data] bias must be a list of tables; got {bias!r}.")
        for step in bias:
            if not isinstance(step, dict) or not isinstance(bias_step(step)[0], str) or \
                    bias_step(step)[0] not in kzoo.data.TRANSFORMS:
                self._fail(f"each [data] bias needs kind in {sorted(kzoo.data.TRANSFORMS)}; "
                           f"got {step!r}.")
        self._check(validate.choice, "[data] scale", data.get("scale", "unit"), SCALES)
        try:
            kzoo.games.get(game["name"])
        except ValueError as err:
            self._fail(f"[game] name: {err}")
        self._check_players()
        for where, opt in self._optimizer_tables():
            self._check(recipe_optimizers.check_table, where, opt)
        self._check_values()

    def _check_players(self):
        """``[net]``: the shorthand, or one table per player of the game."""
        import kzoo.nets

        game = self.game_class
        specs = self.player_specs
        pair = set(game.players) == {"generator", "critic"}
        shorthand = ("generator", "critic") if pair else game.players[:1]
        for player in shorthand if "" in specs else ():
            if player in specs:
                self._fail(f"[net] keys and a [net.{player}] table both configure {player!r} "
                           f"([net]'s keys build {' and '.join(shorthand)}); keep one.")
        configured = set(specs) - {""} | (set(shorthand) if "" in specs else set())
        signature = inspect.signature(game.__init__).parameters
        missing = [p for p in game.players if p not in configured and p in signature
                   and signature[p].default is inspect.Parameter.empty]
        if missing:
            self._fail(f"{self.spec['game']['name']} needs a net for each of its players "
                       f"{', '.join(game.players)}; no [net.{missing[0]}] table (or [net] keys "
                       f"for the first player) configures {missing[0]!r}.")
        for player, spec in specs.items():
            where = f"[net.{player}]" if player else "[net]"
            if player and player not in game.players:
                self._fail(f"{where}: {self.spec['game']['name']} has no player {player!r}; "
                           f"its players: {', '.join(game.players)}.")
            if "preset" in spec:
                if not set(spec) <= {"preset", "player"} or not all(
                        isinstance(v, str) for v in spec.values()):
                    self._fail(f"{where} with preset takes a preset name or run directory "
                               f"(and optionally player = \"<name>\"), strings, and no other "
                               f"key; got {spec!r}.")
                continue
            pair = not player and set(game.players) == {"generator", "critic"}
            archs = kzoo.nets.PAIRS if pair else kzoo.nets.ARCHS
            if not isinstance(spec.get("arch"), str) or spec["arch"] not in archs:
                self._fail(f"{where} needs arch in {', '.join(archs)} or a preset; "
                           f"got arch {spec.get('arch')!r}.")
            self._check(validate.boolean, f"{where} conditional", spec.get("conditional",
                                                                            False))
            if "num_classes" in spec and spec["arch"] not in kzoo.nets.BUILDERS:
                self._fail(f"{where} num_classes is set from the data; write "
                           f"conditional = true for a class-conditional net.")

    def _optimizer_tables(self):
        """``[(where, keys)]``: ``[optimizer]``, or each ``[optimizer.<player>]`` merged over
        the top-level keys."""
        opt = self.spec.get("optimizer", {})
        if not isinstance(opt, dict):
            self._fail("[optimizer] must be a table.")
        common = {k: v for k, v in opt.items() if not isinstance(v, dict)}
        per_player = {k: v for k, v in opt.items() if isinstance(v, dict)}
        for player in per_player:
            if player not in self.game_class.players:
                self._fail(f"[optimizer.{player}]: {self.spec['game']['name']} has no player "
                           f"{player!r}; its players: {', '.join(self.game_class.players)}.")
        if not per_player:
            return [("[optimizer]", common)]
        return [(f"[optimizer.{p}]", {**common, **per_player.get(p, {})})
                for p in self.game_class.players]

    def learning_rates(self):
        """The recipe's learning rates, for a message: ``"[optimizer] learning_rate 0.05"``
        (one phrase per optimizer table)."""
        return "; ".join(f"{where} learning_rate {table.get('learning_rate', '(default)')}"
                         for where, table in self._optimizer_tables())

    def _check(self, check, key, *args, **kwargs):
        """``check(key, ...)`` from ``kzoo.validate``, its ValueError as a RecipeError."""
        try:
            return check(key, *args, **kwargs)
        except ValueError as err:
            self._fail(str(err))

    def _check_values(self):
        """The value of every key kzoo itself reads (players' and games' arguments are
        checked by their constructors, and named by ``kzoo.recipe_keywords.call``)."""
        spec, fit = self.spec, self.fit
        name = spec["name"]
        if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name) or ".." in name:
            self._fail(f"name must be a plain name (letters, digits, '.', '_', '-'; no '/' or "
                       f"'..'), as it names the run directory runs/<name>; got {name!r}.")
        if not isinstance(spec.get("description", ""), str):
            self._fail(f"description must be a string; got {spec['description']!r}.")
        self._check(validate.seed, "seed", spec.get("seed", 0))
        self._check(validate.integer, "[fit] epochs", fit["epochs"], low=1)
        self._check(validate.integer, "[fit] batch_size", fit.get("batch_size", 32), low=1)
        if fit.get("jit_compile", "auto") != "auto" and not isinstance(fit["jit_compile"], bool):
            self._fail(f"[fit] jit_compile must be true, false or \"auto\"; "
                       f"got {fit['jit_compile']!r}.")
        self._check(validate.choice, "[fit] precision", fit.get("precision", "float32"),
                    PRECISIONS)
        self._check(validate.integer, "[fit] workers", fit.get("workers", 1), low=1)
        devices = self._check(validate.integer, "[distribute] devices", self.devices, low=1)
        self._check(validate.boolean, "[distribute] sync_batch_norm", self.sync_batch_norm)
        if fit.get("batch_size", 32) % devices:
            self._fail(f"[fit] batch_size {fit.get('batch_size', 32)} does not split over "
                       f"[distribute] devices = {devices}; give a multiple of {devices}.")
        if fit.get("precision") == "mixed_float16" and not self.game_class.loss_scaling:
            self._fail(f"[fit] precision: {spec['game']['name']} does not train under "
                       f"mixed_float16 (its updates are not all loss-scaled); use "
                       f"\"mixed_bfloat16\", which needs no loss scaling.")
        if "augment" in spec["data"]:
            from kzoo.data.augment import check_names

            self._check(check_names, "[data] augment", spec["data"]["augment"])
        evaluation = spec.get("eval", {})
        served = roles.of(self.serves)
        misplaced = sorted(set(evaluation) - set().union(*(r.eval_keys for r in served)))
        if misplaced:
            self._fail(f"[eval] {misplaced} do not apply to {spec['game']['name']}, which "
                       f"serves {' and '.join(self.serves) or 'nothing'}.")
        for role in served:
            problem = role.check_recipe(self)
            if problem:
                self._fail(problem)
        for key in ("robust_epsilons", "worst_noise_eps"):
            if key in evaluation:
                self._check(validate.numbers_list, f"[eval] {key}", evaluation[key], low=0)
        card = spec.get("card", {})
        if not isinstance(card.get("intended_use", ""), str):
            self._fail(f"[card] intended_use must be a string; got {card['intended_use']!r}.")
        limits = card.get("limitations", [])
        if not isinstance(limits, list) or not all(isinstance(x, str) for x in limits):
            self._fail(f"[card] limitations must be a list of strings; got {limits!r}.")
        for key in ("robust_steps", "samples"):
            if key in evaluation:
                self._check(validate.integer, f"[eval] {key}", evaluation[key], low=1)
        if "robust_step_ratio" in evaluation:
            self._check(validate.number, "[eval] robust_step_ratio",
                        evaluation["robust_step_ratio"], low=0, low_open=True)

    def dataset(self, ds=None):
        """Loads the data (or takes the loaded ``ds``) and applies the biases in order."""
        import kzoo.data

        data = self.spec["data"]
        if ds is None:
            ds = kzoo.data.load(data["name"], seed=self.seed)
        for step in data.get("bias", []):
            name, kwargs = bias_step(step)
            ds = call(self, kzoo.data.TRANSFORMS[name], f"bias {name}", ds, **kwargs)
        if data.get("scale") == "signed":
            ds = call(self, kzoo.data.signed, "[data] scale", ds)
        return ds

    @property
    def devices(self):
        """``[distribute] devices``: the replicas ``kzoo train`` trains on (default 1)."""
        return self.spec.get("distribute", {}).get("devices", 1)

    @property
    def sync_batch_norm(self):
        """``[distribute] sync_batch_norm``: batch norm over the global batch
        (``kzoo.distribute.synchronized_batch_norm``; default false)."""
        return self.spec.get("distribute", {}).get("sync_batch_norm", False)

    @contextlib.contextmanager
    def precision(self):
        """Within it, nets and games are built (and trained) under ``[fit] precision``,
        Keras' dtype policy ("float32", "mixed_bfloat16" or "mixed_float16"); the policy
        before it comes back after.

        Examples:
            >>> with recipe.precision():
            ...     game = recipe.build(ds)
            ...     game.fit(recipe.batches(game, ds), epochs=recipe.fit["epochs"])
        """
        import keras

        before = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.fit.get("precision", "float32"))
        try:
            yield
        finally:
            keras.config.set_dtype_policy(before)

    def batches(self, game, ds):
        """``kzoo.resume.EpochBatches`` of ``game``'s training inputs for ``ds``: the
        recipe's batch size, seed, ``[data] augment`` and ``[fit] workers``."""
        from kzoo.data.augment import Augment
        from kzoo.resume import EpochBatches

        names = self.spec["data"].get("augment")
        try:
            augment = None if names is None else Augment(names, ds.input_shape)
        except ValueError as err:
            self._fail(f"[data] {err}")
        return EpochBatches(game.training_inputs(ds.x_train), ds.y_train,
                            self.fit.get("batch_size", 32), self.seed, augment=augment,
                            workers=self.fit.get("workers", 1))

    def build(self, ds, epochs=None):
        """The compiled game for ``ds`` (players built, optimizers and schedule set)."""
        game_cls = self.game_class
        game_kwargs = {k: v for k, v in self.spec["game"].items() if k != "name"}
        players = self.players(ds)
        check_keywords(self, game_cls, "[game]", game_kwargs, taken=game_cls.players)
        try:
            game = game_cls.from_dataset(ds, **players, **game_kwargs)
        except (TypeError, ValueError) as err:
            self._fail(f"[game]: {err}")
        tables = self._optimizer_tables()
        if len(tables) == 1:
            optimizer = self._optimizer(tables[0], ds, epochs)
        else:
            optimizer = {p: self._optimizer(t, ds, epochs)
                         for p, t in zip(game_cls.players, tables)}
        try:
            game.compile(optimizer, jit_compile=self.fit.get("jit_compile", "auto"))
        except ValueError as err:
            self._fail(f"[optimizer]: {err}")
        return game

    def _optimizer(self, table, ds, epochs):
        per_epoch = math.ceil(len(ds.y_train) / self.fit.get("batch_size", 32))
        return recipe_optimizers.build(self, *table, per_epoch, epochs or self.fit["epochs"])

    def players(self, ds):
        """``{player: keras.Model}`` from ``[net]`` for the data set ``ds``: built fresh or
        taken from a preset or run (``kzoo.recipe_players``)."""
        from kzoo.recipe_players import build_players

        return build_players(self, ds)

    @property
    def autoattack_eval(self):
        """``(epsilons, square_queries)`` of the card's AutoAttack numbers, or None."""
        spec = self.spec.get("eval", {})
        if "autoattack_epsilons" not in spec:
            return None
        return (list(map(float, spec["autoattack_epsilons"])),
                spec.get("autoattack_square_queries", 5000))

    @property
    def robust_eval(self):
        """``(epsilons, steps, step_ratio)`` of the card's robustness curve (PGD of
        ``steps`` steps of ``step_ratio * epsilon / steps``), or None."""
        spec = self.spec.get("eval", {})
        if "robust_epsilons" not in spec:
            return None
        return (list(map(float, spec["robust_epsilons"])), spec.get("robust_steps", 10),
                float(spec.get("robust_step_ratio", 2.5)))


def bias_step(step):
    """A bias entry's transform name and arguments: ``{kind = "long_tail", ...}``, or
    ``{transform = "label_noise", kind = "flip", ...}`` when the transform has a ``kind``."""
    key = "transform" if "transform" in step else "kind"
    return step.get(key), {k: v for k, v in step.items() if k != key}
