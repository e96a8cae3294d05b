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

Every key, its default and what it means: ``kzoo.recipe_spec`` (the docs' recipe reference,
and ``recipes/recipe.schema.json`` for editors); ``kzoo recipe PATH`` checks a recipe and
prints it with every default filled in. Unknown keys are refused with the key and the
allowed ones named; a game's and a net's own arguments are checked against their
constructors (``kzoo.recipe_keywords``).
"""

import contextlib
import hashlib
import math
import tomllib
from pathlib import Path

from kzoo import recipe_optimizers
from kzoo.recipe_keywords import call
from kzoo.recipe_optimizers import staged_rate
from kzoo.recipe_parse import parse, read
from kzoo.recipe_spec import RecipeError

__all__ = ["RECIPES_DIR", "Recipe", "RecipeError", "locate", "shipped", "staged_rate"]

# The recipes that ship with kzoo (recipes/ in a checkout, through a link).
RECIPES_DIR = (Path(__file__).resolve().parent / "recipe_files").resolve()


class Recipe:
    """A recipe: its typed ``spec`` (``kzoo.recipe_spec.Spec``, parsed and checked once),
    the table it was read from (``source``, recorded on the card), its file and sha256.
    ``Recipe.from_file(path)`` or ``Recipe(table)``.

    Examples:
        >>> recipe = Recipe.from_file("recipes/classifier/digits-lt10-ce.toml")
        >>> recipe.spec.fit.epochs, recipe.spec.data.name
        (60, 'digits')
        >>> ds = recipe.dataset()
        >>> model = recipe.build(ds)
    """

    def __init__(self, source, path=None, sha256=None):
        self.path = None if path is None else str(path)
        self.sha256 = sha256
        self.spec = parse(source, self.origin)
        self.source = source

    @classmethod
    def from_file(cls, path):
        """The recipe in the TOML file ``path``, or the shipped recipe of that name
        (``locate``)."""
        path = locate(path)
        source, blob = read(path)
        return cls(source, path, hashlib.sha256(blob).hexdigest())

    @property
    def origin(self):
        """How its errors name it: the file, or "recipe"."""
        return self.path or "recipe"

    @property
    def name(self):
        return self.spec.name

    @property
    def result_names(self):
        """What another recipe's ``[net] preset`` calls this one's trained result: its run
        directory ``runs/<name>`` (``kzoo train``'s default) or its preset ``<name>``."""
        return (f"runs/{self.name}", self.name)

    @property
    def seed(self):
        return self.spec.seed

    @property
    def game_class(self):
        """The class of ``[game] name``."""
        import kzoo.games

        return kzoo.games.get(self.spec.game.name)

    @property
    def serves(self):
        return self.game_class.serves

    def learning_rates(self):
        """The recipe's learning rates, for a message: ``"[optimizer] learning_rate 0.05"``
        (one phrase per optimizer table)."""
        return "; ".join(f"{opt.where} learning_rate {opt.learning_rate}"
                         for opt in self.spec.optimizers)

    def steps_per_epoch(self, ds):
        """Steps of one epoch over ``ds``'s training split."""
        return math.ceil(len(ds.y_train) / self.spec.fit.batch_size)

    def dataset(self, ds=None):
        """Loads the data (a data set of ``kzoo.data``, or your own at ``[data] path``), or
        takes the loaded ``ds``, and applies the biases in order."""
        import kzoo.data

        data = self.spec.data
        if ds is None:
            ds = kzoo.data.load(data.name, seed=self.seed) if data.path is None else \
                self._own_data()
        for step in data.bias:
            ds = call(self.origin, kzoo.data.TRANSFORMS[step.transform],
                      f"bias {step.transform}", ds, **step.arguments)
        if data.scale == "signed":
            ds = call(self.origin, kzoo.data.signed, "[data] scale", ds)
        return ds

    def data_source(self):
        """The file or folder of ``[data] path`` (None for a data set of ``kzoo.data``); a
        relative path is read from the recipe file's folder (the current folder for a recipe
        without a file)."""
        if self.spec.data.path is None:
            return None
        path = Path(self.spec.data.path).expanduser()
        if not path.is_absolute() and self.path is not None:
            path = Path(self.path).parent / path
        return path

    def data_sha256(self):
        """The sha256 of the ``[data] path`` file (``sha256sum``) or folder
        (``kzoo.data.folder_sha256``) as its data set's provenance records it; None for a data
        set of ``kzoo.data`` (whose files are checked when it loads) or a path holding
        nothing."""
        from kzoo import files
        from kzoo.data.image_folder import folder_sha256

        path = self.data_source()
        if path is None or not path.exists():
            return None
        return folder_sha256(path)[0] if path.is_dir() else files.sha256(path)

    def _own_data(self):
        """The Dataset at ``[data] path`` (``data_source``): an .npz file
        (``kzoo.data.from_npz``) or an image folder (``kzoo.data.from_image_folder``)."""
        import kzoo.data

        data = self.spec.data
        path = self.data_source()
        where = f"[data] path {data.path!r}"
        if path.is_dir():
            if data.image_size is None:
                raise RecipeError(f"{self.origin}: {where} is an image folder: give [data] "
                                  f"image_size = [height, width], the size its images are "
                                  f"read at.")
            return call(self.origin, kzoo.data.from_image_folder, where, path,
                        data.image_size, color_mode=data.color_mode or "rgb", seed=self.seed)
        if not path.is_file():
            raise RecipeError(f"{self.origin}: {where}: no file or folder at {path} (a relative "
                              f"path is read from the recipe file's folder).")
        folder_keys = [k for k in ("image_size", "color_mode") if getattr(data, k) is not None]
        if folder_keys:
            raise RecipeError(f"{self.origin}: [data] {', '.join(folder_keys)}: only for an "
                              f"image folder, and {where} is a file (an .npz); leave "
                              f"{' and '.join(folder_keys)} out.")
        return call(self.origin, kzoo.data.from_npz, where, path, seed=self.seed)

    @contextlib.contextmanager
    def precision(self):
        """Within it, nets and games are built (and trained) under ``[fit] precision``,
        Keras' dtype policy ("float32", "mixed_bfloat16" or "mixed_float16"); the policy
        before it comes back after.

        Examples:
            >>> with recipe.precision():
            ...     game = recipe.build(ds)
            ...     game.fit(recipe.batches(game, ds), epochs=recipe.spec.fit.epochs)
        """
        import keras

        before = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.spec.fit.precision)
        try:
            yield
        finally:
            keras.config.set_dtype_policy(before)

    def batches(self, game, ds):
        """``kzoo.resume.EpochBatches`` of ``game``'s training inputs for ``ds``: the
        recipe's batch size, seed, ``[data] augment`` and ``[fit] workers``."""
        from kzoo.data.augment import Augment
        from kzoo.resume import EpochBatches

        names = self.spec.data.augment
        try:
            augment = None if names is None else Augment(names, ds.input_shape)
        except ValueError as err:
            raise RecipeError(f"{self.origin}: [data] {err}") from err
        return EpochBatches(game.training_inputs(ds.x_train), ds.y_train,
                            self.spec.fit.batch_size, self.seed, augment=augment,
                            workers=self.spec.fit.workers)

    def build(self, ds, epochs=None):
        """The compiled game for ``ds`` (players built, optimizers and schedule set)."""
        game_cls = self.game_class
        game_kwargs = dict(self.spec.game.arguments)
        players = self.players(ds)
        try:
            game = game_cls.from_dataset(ds, **players, **game_kwargs)
        except (TypeError, ValueError) as err:
            raise RecipeError(f"{self.origin}: [game]: {err}") from err
        per_epoch, epochs = self.steps_per_epoch(ds), epochs or self.spec.fit.epochs
        built = [recipe_optimizers.build(self.origin, opt, per_epoch, epochs)
                 for opt in self.spec.optimizers]
        optimizer = built[0] if len(built) == 1 else dict(zip(game_cls.players, built))
        try:
            game.compile(optimizer, jit_compile=self.spec.fit.jit_compile)
        except ValueError as err:
            raise RecipeError(f"{self.origin}: [optimizer]: {err}") from err
        return game

    def players(self, ds):
        """``{player: keras.Model}`` from ``[net]`` for the data set ``ds``: built fresh or
        taken from a preset or run (``kzoo.recipe_players``)."""
        from kzoo.recipe_players import build_players

        return build_players(self, ds)


def shipped():
    """The paths of the recipes that ship with kzoo, sorted.

    Examples:
        >>> [path.relative_to(RECIPES_DIR).as_posix() for path in shipped()][:3]
        ['acgan/digits.toml', 'aegl/cifar10-lt100.toml', 'aegl/digits-lt10.toml']
    """
    return sorted(RECIPES_DIR.rglob("*.toml"))


def locate(name_or_path):
    """The recipe file ``name_or_path`` names: a TOML file, else a shipped recipe by its
    file name (``digits-lt10-ldam-drw``), folder and file name (``madry/digits``) or recipe
    name (``digits-lt10-cnn-ldam-drw``). A ``RecipeError`` lists the candidates otherwise.

    Examples:
        >>> locate("madry/digits").relative_to(RECIPES_DIR).as_posix()
        'madry/digits.toml'
        >>> locate("digits-lt10-ldam-drw") == locate("digits-lt10-cnn-ldam-drw")
        True
        >>> locate("digits")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        kzoo.recipe_spec.RecipeError: 'digits' names several shipped recipes: acgan/digits, ...
    """
    from kzoo import validate

    path = Path(name_or_path)
    if path.is_file():
        return path
    text = str(name_or_path).removesuffix(".toml")
    keys = {}
    for file in shipped():
        relative = file.relative_to(RECIPES_DIR).with_suffix("").as_posix()
        for key in {file.stem, relative, _recipe_name(file)}:
            keys.setdefault(key, set()).add(relative)
    found = sorted(keys.get(text, ()))
    if len(found) == 1:
        return RECIPES_DIR / f"{found[0]}.toml"
    if found:
        raise RecipeError(f"{text!r} names several shipped recipes: {', '.join(found)}; "
                          f"name one of them.")
    raise RecipeError(f"No recipe file at {name_or_path}, and no shipped recipe of that name "
                      f"(kzoo recipes lists them).{validate.did_you_mean(text, keys)}")


def _recipe_name(file):
    """The ``name`` of a shipped recipe file (its file name if it does not parse)."""
    try:
        return str(tomllib.loads(file.read_text(encoding="utf-8")).get("name", file.stem))
    except tomllib.TOMLDecodeError:
        return file.stem
