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
kind = "flip"}``). An optional ``[eval]`` table adds accuracy under PGD (``robust_epsilons``,
``robust_steps``) to the card. Unknown keys are refused with the key and the
allowed ones named.

A GAN recipe ("GAN" or "RobustGAN") names a generator and critic pair in ``[net]``
(``arch = "dcgan"``, "resnet" or "mlp", with ``latent_dim``, ``width`` or ``hidden``,
``spectral_norm``, ``conditional``); ``[data] scale = "signed"`` maps images to
[-1, 1]; ``[eval]`` takes ``samples`` and ``worst_noise_eps`` (the radii of the
worst-input-noise metrics).
"""

import hashlib
import math
import re
import tomllib
from pathlib import Path

from kzoo import validate

KEYS = {
    "": {"name", "description", "seed", "data", "net", "game", "optimizer", "fit", "eval"},
    "data": {"name", "bias", "scale"},
    "optimizer": {"name", "learning_rate", "momentum", "weight_decay", "schedule", "beta_1",
                  "beta_2"},
    "fit": {"epochs", "batch_size", "drw_epoch", "jit_compile"},
    "eval": {"robust_epsilons", "robust_steps", "samples", "worst_noise_eps"},
}
REQUIRED = {"": {"name", "data", "net", "game", "fit"}, "data": {"name"}, "game": {"name"},
            "fit": {"epochs"}}
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
SCHEDULES = ("constant", "cosine")
SCALES = ("unit", "signed")
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class RecipeError(ValueError):
    """A recipe that cannot be run, with the file and key named."""


class Recipe:
    """A parsed, validated recipe. ``Recipe.from_file(path)`` or ``Recipe(dict)``.

    Example:
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
    def is_gan(self):
        """Whether the game trains a generator (GAN or a game built on it)."""
        import kzoo.games

        return kzoo.games.trains_generator(self.spec["game"]["name"])

    def _fail(self, message):
        raise RecipeError(f"{self.path or 'recipe'}: {message}")

    def _validate(self):
        import kzoo.data
        import kzoo.games
        import kzoo.nets

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
        data, net, game = self.spec["data"], self.spec["net"], self.spec["game"]
        self._check(validate.choice, "[data] name", data["name"], kzoo.data.NAMES)
        bias = data.get("bias", [])
        if not isinstance(bias, list):
            self._fail(f"[data] bias must be a list of tables; got {bias!r}.")
        for step in bias:
            if not isinstance(step, dict) or not isinstance(_transform(step)[0], str) or \
                    _transform(step)[0] not in kzoo.data.TRANSFORMS:
                self._fail(f"each [data] bias needs kind in {sorted(kzoo.data.TRANSFORMS)}; "
                           f"got {step!r}.")
        self._check(validate.choice, "[data] scale", data.get("scale", "unit"), SCALES)
        self._check(validate.choice, "[game] name", game["name"], tuple(kzoo.games.GAMES))
        if self.is_gan:
            if not isinstance(net.get("arch"), str) or net.get("arch") not in kzoo.nets.PAIRS:
                self._fail(f"[net] of a {game['name']} needs arch in "
                           f"{', '.join(kzoo.nets.PAIRS)} (a generator and critic pair); "
                           f"got {net.get('arch', net.get('preset'))!r}.")
        elif "preset" in net:
            if set(net) != {"preset"} or not isinstance(net["preset"], str):
                self._fail(f"[net] with preset takes one string and no other key; got {net!r}.")
        elif not isinstance(net.get("arch"), str) or net.get("arch") not in kzoo.nets.BUILDERS:
            self._fail(f"[net] needs arch in {', '.join(kzoo.nets.BUILDERS)} or a preset; "
                       f"got arch {net.get('arch')!r}.")
        opt = self.spec.get("optimizer", {})
        self._check(validate.choice, "[optimizer] name", opt.get("name", "adam"),
                    tuple(OPTIMIZERS))
        self._check(validate.choice, "[optimizer] schedule", opt.get("schedule", "constant"),
                    SCHEDULES)
        self._check_values()

    def _check(self, check, key, *args, **kwargs):
        """``check(key, ...)`` from ``kzoo.validate``, its ValueError as a RecipeError."""
        try:
            return check(key, *args, **kwargs)
        except ValueError as err:
            self._fail(str(err))

    def _check_values(self):
        """The value of every key kzoo itself reads (players' and games' arguments are
        checked by their constructors, and named by ``_call``)."""
        spec, fit = self.spec, self.fit
        name = spec["name"]
        if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name) or ".." in name:
            self._fail(f"name must be a plain name (letters, digits, '.', '_', '-'; no '/' or "
                       f"'..'), as it names the run directory runs/<name>; got {name!r}.")
        if not isinstance(spec.get("description", ""), str):
            self._fail(f"description must be a string; got {spec['description']!r}.")
        self._check(validate.seed, "seed", spec.get("seed", 0))
        epochs = self._check(validate.integer, "[fit] epochs", fit["epochs"], low=1)
        self._check(validate.integer, "[fit] batch_size", fit.get("batch_size", 32), low=1)
        if "drw_epoch" in fit:
            self._check(validate.integer, "[fit] drw_epoch", fit["drw_epoch"], low=0,
                        high=epochs - 1)
        if fit.get("jit_compile", "auto") != "auto" and not isinstance(fit["jit_compile"], bool):
            self._fail(f"[fit] jit_compile must be true, false or \"auto\"; "
                       f"got {fit['jit_compile']!r}.")
        opt = spec.get("optimizer", {})
        bounds = {"learning_rate": {"low": 0, "low_open": True}, "weight_decay": {"low": 0},
                  **{k: {"low": 0, "high": 1, "high_open": True}
                     for k in ("momentum", "beta_1", "beta_2")}}
        for key, kwargs in bounds.items():
            if key in opt:
                self._check(validate.number, f"[optimizer] {key}", opt[key], **kwargs)
        evaluation = spec.get("eval", {})
        kind, other = (("a generator", {"robust_epsilons", "robust_steps", "drw_epoch"})
                       if self.is_gan else ("a classifier", {"samples", "worst_noise_eps"}))
        misplaced = sorted(other & (set(evaluation) | set(fit)))
        if misplaced:
            self._fail(f"{misplaced} do not apply to {spec['game']['name']}, {kind} game.")
        if spec["data"].get("scale") == "signed" and not self.is_gan:
            self._fail("[data] scale = \"signed\" is for GAN recipes; kzoo's classifiers and "
                       "attacks take [0, 1] inputs.")
        if self.is_gan:
            self._check(validate.boolean, "[net] conditional", spec["net"].get("conditional",
                                                                             False))
        if self.is_gan and "num_classes" in spec["net"]:
            self._fail("[net] num_classes is set from the data; write conditional = true "
                       "for a class-conditional pair.")
        for key in ("robust_epsilons", "worst_noise_eps"):
            if key in evaluation:
                self._check(validate.numbers_list, f"[eval] {key}", evaluation[key], low=0)
        for key in ("robust_steps", "samples"):
            if key in evaluation:
                self._check(validate.integer, f"[eval] {key}", evaluation[key], low=1)

    def dataset(self):
        """Loads the data and applies the biases in order."""
        import kzoo.data

        data = self.spec["data"]
        ds = kzoo.data.load(data["name"], seed=self.seed)
        for step in data.get("bias", []):
            name, kwargs = _transform(step)
            ds = _call(self, kzoo.data.TRANSFORMS[name], f"bias {name}", ds, **kwargs)
        if data.get("scale") == "signed":
            ds = _call(self, kzoo.data.signed, "[data] scale", ds)
        return ds

    def build(self, ds, epochs=None):
        """The compiled game for ``ds`` (nets built, optimizer and schedule set)."""
        import keras

        import kzoo.games

        net = self.net(ds)
        game_kwargs = {k: v for k, v in self.spec["game"].items() if k != "name"}
        game_cls = kzoo.games.GAMES[self.spec["game"]["name"]]
        params = _parameters(game_cls)
        if "class_counts" in params:
            game_kwargs.setdefault("class_counts", ds.class_counts())
        if "num_samples" in params:
            game_kwargs.setdefault("num_samples", len(ds.y_train))
        if "meta_data" in params:
            if "x_meta" not in ds.extras:
                self._fail(f"game {game_cls.__name__} needs a meta set: add "
                           f"{{kind = \"meta_split\"}} to [data] bias.")
            game_kwargs.setdefault("meta_data", (ds.extras["x_meta"], ds.extras["y_meta"]))
        players = net if self.is_gan else (net,)
        game = _call(self, game_cls, "[game]", *players, **game_kwargs)
        opt = dict(self.spec.get("optimizer", {}))
        name = OPTIMIZERS[opt.pop("name", "adam")]
        lr = opt.pop("learning_rate", 1e-3)
        if opt.pop("schedule", "constant") == "cosine":
            steps = (epochs or self.fit["epochs"]) * math.ceil(
                len(ds.y_train) / self.fit.get("batch_size", 32))
            lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps)
        optimizer = _call(self, getattr(keras.optimizers, name), "[optimizer]",
                          learning_rate=lr, **opt)
        game.compile(optimizer, jit_compile=self.fit.get("jit_compile", "auto"))
        return game

    def net(self, ds):
        """A fresh net from ``[net]``: built by its builder, or a preset's trained net;
        for a GAN, the ``(generator, critic)`` pair."""
        import kzoo.nets
        from kzoo import zoo

        spec = self.spec["net"]
        if self.is_gan:
            kwargs = {k: v for k, v in spec.items() if k not in ("arch", "conditional")}
            if spec.get("conditional"):
                kwargs["num_classes"] = ds.num_classes
            kwargs.setdefault("latent_dim", 64 if len(ds.input_shape) == 3 else 2)
            return _call(self, kzoo.nets.gan_pair, "[net]", spec["arch"], ds.input_shape,
                         **kwargs)
        if "preset" in spec:
            model = zoo.load(spec["preset"])
            if not hasattr(model, "net"):
                self._fail(f"[net] preset {spec['preset']!r} is a {type(model).__name__} "
                           f"(a generator); a classifier recipe starts from a classifier "
                           f"preset.")
            net = model.net
            if tuple(net.input_shape[1:]) != ds.input_shape or net.output_shape[-1] != \
                    ds.num_classes:
                self._fail(f"preset {spec['preset']!r} takes {net.input_shape[1:]} -> "
                           f"{net.output_shape[-1]} classes; the data is {ds.input_shape} -> "
                           f"{ds.num_classes}.")
            return net
        kwargs = {k: v for k, v in spec.items() if k != "arch"}
        builder = kzoo.nets.BUILDERS[spec["arch"]]
        return _call(self, builder, "[net]", ds.input_shape, ds.num_classes, **kwargs)

    @property
    def robust_eval(self):
        """``(epsilons, steps)`` of the card's robustness curve, or None."""
        spec = self.spec.get("eval", {})
        if "robust_epsilons" not in spec:
            return None
        return list(map(float, spec["robust_epsilons"])), spec.get("robust_steps", 10)

    def callbacks(self):
        import kzoo.games

        drw = self.fit.get("drw_epoch")
        return [] if drw is None else [kzoo.games.DRW(drw)]


def _transform(step):
    """A bias entry's transform name and arguments: ``{kind = "long_tail", ...}``, or
    ``{transform = "label_noise", kind = "flip", ...}`` when the transform has a ``kind``."""
    key = "transform" if "transform" in step else "kind"
    return step.get(key), {k: v for k, v in step.items() if k != key}


def _parameters(fn):
    """Named parameters of ``fn``; for a class, of every ``__init__`` in its MRO
    (a game forwards ``**kwargs`` to the game it extends)."""
    import inspect

    if not inspect.isclass(fn):
        return inspect.signature(fn).parameters
    params = {}
    for cls in fn.__mro__:
        if cls is not object and "__init__" in cls.__dict__:
            for name, p in inspect.signature(cls.__init__).parameters.items():
                if name != "self":
                    params.setdefault(name, p)
    return params


def _call(recipe, fn, where, *args, **kwargs):
    """Calls ``fn``; an unexpected keyword becomes a RecipeError naming the allowed ones."""
    named = [n for n, p in _parameters(fn).items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    allowed = named[len(args):]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        recipe._fail(f"unknown key(s) {unknown} in {where}; allowed: {', '.join(allowed)}.")
    try:
        return fn(*args, **kwargs)
    except (TypeError, ValueError) as err:
        recipe._fail(f"{where}: {err}")
