"""A recipe, typed: frozen dataclasses, one per TOML table, every key's default, meaning
and JSON Schema in one place (the fields below). ``kzoo.recipe_parse.parse`` makes a
``Spec`` from a TOML table, refusing what is wrong with a ``RecipeError`` naming the file,
the table and the key; ``kzoo.recipe_schema`` turns the fields into the JSON Schema
(``recipes/recipe.schema.json``) and the docs' recipe reference.

Examples:
    >>> from kzoo.recipe_parse import parse
    >>> spec = parse({"name": "r", "data": {"name": "digits"}, "net": {"arch": "small_cnn"},
    ...               "game": {"name": "Classifier"}, "fit": {"epochs": 2}})
    >>> spec.fit.batch_size, spec.optimizers[0].learning_rate
    (32, 0.001)
"""

import dataclasses
from types import MappingProxyType

from kzoo.validate import PLAIN_NAME

__all__ = ["RecipeError", "Spec"]

SCALES = ("unit", "signed")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
SCHEDULES = ("constant", "cosine", "steps")


class RecipeError(ValueError):
    """A recipe that cannot be run, with the file and key named."""


def key(default=dataclasses.MISSING, doc="", schema=None):
    """A recipe key: its default, one line of documentation and its JSON Schema."""
    return dataclasses.field(default=default, metadata={"doc": doc, "schema": schema or {}})


NUMBERS = {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1}


@dataclasses.dataclass(frozen=True)
class Bias:
    """One ``[data] bias`` entry: ``{kind = "long_tail", imbalance = 10}``, or
    ``{transform = "label_noise", kind = "flip", rate = 0.4}`` when the transform itself
    takes a ``kind``; the other keys are the transform's arguments (``kzoo.data``)."""

    transform: str
    arguments: MappingProxyType = dataclasses.field(
        default_factory=lambda: MappingProxyType({}))


@dataclasses.dataclass(frozen=True)
class Data:
    """``[data]``: the data set (``name``, or your own at ``path``), its biases in order, its
    scale and augmentation."""

    name: str | None = key(None, "a data set of kzoo.data (its registry); give name or path",
                           {"type": "string"})
    path: str | None = key(None, "your own data instead of name: an .npz file (x_train, "
                                 "y_train, x_test, y_test, optionally class_names) or a folder "
                                 "of train/ and test/, one image folder per class in each; "
                                 "relative to the recipe's folder", {"type": "string",
                                                                     "minLength": 1})
    image_size: tuple | None = key(None, "a folder's images are read at this [height, width] "
                                         "(required for a folder)",
                                   {"type": "array", "items": {"type": "integer", "minimum": 1},
                                    "minItems": 2, "maxItems": 2})
    color_mode: str | None = key(None, "a folder's images as \"rgb\" (the default), "
                                       "\"grayscale\" or \"rgba\"", {"type": "string"})
    bias: tuple = key((), "biases applied in order, each a table naming its transform with "
                          "kind (or transform) and its arguments",
                      {"type": "array", "items": {"type": "object", "properties": {
                          "kind": {"type": "string"}, "transform": {"type": "string"}}}})
    scale: str = key("unit", "\"signed\" maps images to [-1, 1], for games that serve no "
                             "classifier", {"enum": list(SCALES)})
    augment: tuple | None = key(None, "random augmentations of the training images "
                                      "(kzoo.data.augment)",
                                {"type": "array", "items": {"type": "string"}})


@dataclasses.dataclass(frozen=True)
class Player:
    """``[net]`` (the game's first player, or a GAN's generator and critic pair) or one
    ``[net.<player>]`` table (that player): built fresh from ``arch`` and its arguments, or
    taken from a preset or run directory. ``player`` here is the table's player, "" for
    ``[net]``."""

    player: str = ""
    arch: str | None = key(None, "a net of kzoo.nets (ARCHS; for [net] of a GAN, a pair: "
                                 "PAIRS); the table's other keys are its arguments",
                           {"type": "string"})
    conditional: bool = key(False, "a class-conditional net (num_classes from the data)",
                            {"type": "boolean"})
    preset: str | None = key(None, "start from this preset's or run directory's trained net "
                                   "(no other key but player)", {"type": "string"})
    take: str | None = key(None, "with preset: the player to take (TOML key player; default: "
                                 "the one of the same name, else the served classifier)",
                           {"type": "string"})
    arguments: MappingProxyType = dataclasses.field(
        default_factory=lambda: MappingProxyType({}))

    @property
    def where(self):
        return f"[net.{self.player}]" if self.player else "[net]"


@dataclasses.dataclass(frozen=True)
class Game:
    """``[game]``: ``name`` and the game's own arguments (its constructor's)."""

    name: str = key(doc="a game of kzoo.games, or \"module:Class\" for one defined elsewhere",
                    schema={"type": "string"})
    arguments: MappingProxyType = dataclasses.field(
        default_factory=lambda: MappingProxyType({}))


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """``[optimizer]``, or ``[optimizer.<player>]`` (its keys over the top-level ones)."""

    player: str | None = None
    name: str = key("adam", "the optimizer", {"enum": list(OPTIMIZERS)})
    learning_rate: float = key(1e-3, "its learning rate", {"type": "number",
                                                           "exclusiveMinimum": 0})
    schedule: str = key("constant", "the learning rate over the run: constant, cosine decay "
                                    "to 0, or steps (decay_epochs)", {"enum": list(SCHEDULES)})
    decay_epochs: tuple = key((), "with schedule = \"steps\": the epochs (from 0) whose first "
                                  "update takes the next rate",
                              {"type": "array", "items": {"type": "integer", "minimum": 1}})
    decay_factor: float = key(0.1, "with schedule = \"steps\": the rate's factor at each",
                              {"type": "number", "exclusiveMinimum": 0})
    momentum: float | None = key(None, "SGD's momentum (Keras' default when absent)",
                                 {"type": "number", "minimum": 0, "exclusiveMaximum": 1})
    weight_decay: float | None = key(None, "decoupled weight decay (Keras' default when "
                                           "absent)", {"type": "number", "minimum": 0})
    beta_1: float | None = key(None, "Adam's beta_1 (Keras' default when absent)",
                               {"type": "number", "minimum": 0, "exclusiveMaximum": 1})
    beta_2: float | None = key(None, "Adam's beta_2 (Keras' default when absent)",
                               {"type": "number", "minimum": 0, "exclusiveMaximum": 1})

    @property
    def where(self):
        return f"[optimizer.{self.player}]" if self.player else "[optimizer]"

    def keras_arguments(self):
        """The optimizer's own arguments the table sets (momentum, betas, weight decay)."""
        return {k: getattr(self, k) for k in ("momentum", "weight_decay", "beta_1", "beta_2")
                if getattr(self, k) is not None}


@dataclasses.dataclass(frozen=True)
class Fit:
    """``[fit]``: the training schedule."""

    epochs: int = key(doc="epochs to train", schema={"type": "integer", "minimum": 1})
    batch_size: int = key(32, "examples per step (over all devices)",
                          {"type": "integer", "minimum": 1})
    jit_compile: bool | str = key("auto", "compile the step: true, false or \"auto\" "
                                          "(Keras' choice)",
                                  {"anyOf": [{"type": "boolean"}, {"const": "auto"}]})
    precision: str = key("float32", "Keras' dtype policy while nets are built and trained",
                         {"enum": list(PRECISIONS)})
    workers: int = key(1, "threads making batches ahead of the step",
                       {"type": "integer", "minimum": 1})


@dataclasses.dataclass(frozen=True)
class Eval:
    """``[eval]``: how the card measures what the game serves (kzoo.roles: a classifier's
    keys, a generator's keys)."""

    robust_epsilons: tuple | None = key(None, "classifier: accuracy under PGD at these l_inf "
                                              "radii ([0, 1] units)", NUMBERS)
    robust_steps: int = key(10, "classifier: PGD steps", {"type": "integer", "minimum": 1})
    robust_step_ratio: float = key(2.5, "classifier: PGD step size = ratio * epsilon / steps",
                                   {"type": "number", "exclusiveMinimum": 0})
    autoattack_epsilons: tuple | None = key(None, "classifier: accuracy under AutoAttack at "
                                                  "these radii (where an engine is installed)",
                                            NUMBERS)
    autoattack_square_queries: int = key(5000, "classifier: AutoAttack's Square queries",
                                         {"type": "integer", "minimum": 1})
    autoattack_examples: int = key(1000, "classifier: AutoAttack on the first this many test "
                                         "images (all, when fewer), as AutoAttack's own "
                                         "evaluation script does by default",
                                   {"type": "integer", "minimum": 1})
    samples: int | None = key(None, "generator: samples for its metrics (default: 1,000 on "
                                    "images, 2,500 on a 2-D mixture)",
                              {"type": "integer", "minimum": 1})
    worst_noise_eps: tuple = key((), "generator: l2 radii of the worst-input-noise metrics",
                                 NUMBERS)
    features: str | None = key(None, "generator: the classifier preset whose features image "
                                     "metrics use (default: the data set's own)",
                               {"type": "string"})


@dataclasses.dataclass(frozen=True)
class Card:
    """``[card]``: what the card adds to its own words."""

    intended_use: str = key("", "replaces the card's intended use", {"type": "string"})
    limitations: tuple = key((), "added to the card's limitations",
                             {"type": "array", "items": {"type": "string"}})


@dataclasses.dataclass(frozen=True)
class Distribute:
    """``[distribute]``: data parallel training (kzoo.distribute)."""

    devices: int = key(1, "replicas to train on (kzoo train --devices overrides it)",
                       {"type": "integer", "minimum": 1})
    sync_batch_norm: bool = key(False, "batch norm over the global batch",
                                {"type": "boolean"})


@dataclasses.dataclass(frozen=True)
class Spec:
    """A kzoo recipe: the data and its biases, the players, the game, its optimizers, the
    fit schedule, the card's evaluation and words, the devices."""

    name: str = key(doc="names the run directory runs/<name> and the card",
                    schema={"type": "string", "pattern": f"^{PLAIN_NAME.pattern}$",
                            "not": {"pattern": "[.][.]"}})
    data: Data = key(doc="", schema=None)
    net: tuple = key(doc="", schema=None)
    game: Game = key(doc="", schema=None)
    fit: Fit = key(doc="", schema=None)
    description: str = key("", "one paragraph for the card", {"type": "string"})
    seed: int = key(0, "seeds the data's carve and biases, the initialisation and batches",
                    {"type": "integer", "minimum": 0, "maximum": 2**32 - 1})
    optimizers: tuple = ()
    eval: Eval = Eval()
    card: Card = Card()
    distribute: Distribute = Distribute()


TOP = {"name", "description", "seed", "data", "net", "game", "optimizer", "fit", "eval", "card",
       "distribute"}


def keys_of(cls):
    """The TOML keys of a section class (those with documentation)."""
    return [f for f in dataclasses.fields(cls) if "doc" in f.metadata]


def required(cls):
    return [f.name for f in keys_of(cls) if f.default is dataclasses.MISSING]


REQUIRED_TOP = tuple(required(Spec))
