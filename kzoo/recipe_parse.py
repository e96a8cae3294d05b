"""A recipe's TOML table checked and parsed into a ``kzoo.recipe_spec.Spec``: every key
kzoo reads, against the data sets, games, nets and roles kzoo knows; a refusal is a
``RecipeError`` naming the file, the table and the key.

Examples:
    >>> spec = parse(tomllib.loads(Path("recipes/aegl/digits-lt10.toml").read_text()))
"""

import collections
import dataclasses
import hashlib
import inspect
from pathlib import Path
from types import MappingProxyType

from kzoo import validate
from kzoo.recipe_players import check_arguments, is_pair
from kzoo.recipe_spec import (
    OPTIMIZERS,
    PRECISIONS,
    REQUIRED_TOP,
    SCALES,
    SCHEDULES,
    TOP,
    Bias,
    Card,
    Data,
    Distribute,
    Eval,
    Fit,
    Game,
    Optimizer,
    Player,
    RecipeError,
    Spec,
    keys_of,
    required,
)

__all__ = ["Outline", "net_tables", "outline", "parse", "read"]


class _Parser:
    """One parse of a raw recipe; ``fail`` raises a RecipeError prefixed by its origin."""

    def __init__(self, origin):
        self.origin = origin

    def fail(self, message):
        raise RecipeError(f"{self.origin}: {message}")

    def check(self, check, name, *args, **kwargs):
        """``check(name, ...)`` from ``kzoo.validate``, its ValueError as a RecipeError."""
        try:
            return check(name, *args, **kwargs)
        except ValueError as err:
            self.fail(str(err))

    def table(self, raw, where, allowed=None, needed=()):
        if not isinstance(raw, dict):
            self.fail(f"{where} must be a table.")
        if allowed is not None:  # first: a misspelt key is also a missing one
            self.check(validate.known_keys, where, raw, sorted(allowed))
        missing = sorted(set(needed) - set(raw))
        if missing:
            self.fail(f"missing key(s) {missing} in {where}.")
        return raw

    def section(self, cls, raw, where):
        """The checked keys of ``raw`` as ``cls``'s fields (allowed: its documented ones)."""
        names = [f.name for f in keys_of(cls)]
        self.table(raw, where, names, required(cls))
        return {k: v for k, v in raw.items() if k in names}


def parse(raw, origin="recipe"):
    """The typed ``Spec`` of the recipe table ``raw`` (as ``tomllib`` reads it); a
    ``RecipeError`` starting with ``origin`` (its file) names what is wrong. The checks that
    need no backend (``outline``) come first."""
    p = _Parser(origin)
    name, seed, data = _outline(p, raw)
    import kzoo.games

    game_raw = raw["game"]
    try:
        game_cls = kzoo.games.get(game_raw["name"])
    except ValueError as err:
        p.fail(f"[game] name: {err}")
    game = Game(game_raw["name"], _frozen({k: v for k, v in game_raw.items() if k != "name"}))
    net = _net(p, raw["net"], game_cls, game.name)
    optimizers = _optimizers(p, raw.get("optimizer", {}), game_cls, game.name)
    fit = Fit(**p.section(Fit, raw["fit"], "[fit]"))
    distribute = Distribute(**p.section(Distribute, raw.get("distribute", {}),
                                        "[distribute]"))
    _check_fit(p, fit, distribute, game_cls, game.name)
    evaluation = _eval(p, raw.get("eval", {}), game_cls, game.name)
    card = Card(**p.section(Card, raw.get("card", {}), "[card]"))
    if not isinstance(card.intended_use, str):
        p.fail(f"[card] intended_use must be a string; got {card.intended_use!r}.")
    if not isinstance(card.limitations, (list, tuple)) or not all(
            isinstance(x, str) for x in card.limitations):
        p.fail(f"[card] limitations must be a list of strings; got {card.limitations!r}.")
    card = dataclasses.replace(card, limitations=tuple(card.limitations))
    spec = Spec(name=name, description=raw.get("description", ""), seed=seed, data=data,
                net=net, game=game, optimizers=optimizers, fit=fit, eval=evaluation,
                card=card, distribute=distribute)
    from kzoo import roles

    for role in roles.of(game_cls.serves):
        problem = role.check_recipe(spec)
        if problem:
            p.fail(problem)
    check_arguments(origin, spec, game_cls)
    return spec


def read(path):
    """``(table, bytes)`` of the TOML file ``path``; a ``RecipeError`` when it is not UTF-8
    TOML."""
    import tomllib

    blob = Path(path).read_bytes()
    try:
        return tomllib.loads(blob.decode("utf-8")), blob
    except UnicodeDecodeError as err:
        raise RecipeError(f"{path} is not UTF-8 text (byte {err.start}); a recipe is a "
                          f"TOML file.") from err
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"{path} is not valid TOML: {err}") from err


Outline = collections.namedtuple("Outline", "name epochs devices sha256 own_data")


def outline(path):
    """The recipe file ``path`` with every check that needs no backend done (tables, keys,
    names, seed, ``[distribute]``), as an ``Outline``: its name, ``[fit] epochs``,
    ``[distribute] devices``, the file's sha256 and whether it reads data of one's own
    (``[data] path``). ``kzoo train`` reads it before Keras
    starts (the devices decide how it starts; a misspelt key is refused at once); ``parse``
    does the rest."""
    raw, blob = read(path)
    name, _, data = _outline(_Parser(path), raw)
    return Outline(name, Fit(**raw["fit"]).epochs, Distribute(**raw.get("distribute", {})).devices,
                   hashlib.sha256(blob).hexdigest(), data.path is not None)


def _outline(p, raw):
    """The checks of ``raw`` that need no backend; returns its name, seed and ``Data``."""
    p.table(raw, "the top level", TOP, REQUIRED_TOP)
    name = raw["name"]
    if not validate.is_plain_name(name):
        p.fail(f"name must be a plain name (letters, digits, '.', '_', '-'; no '/' or '..'), "
               f"as it names the run directory runs/<name>; got {name!r}.")
    if not isinstance(raw.get("description", ""), str):
        p.fail(f"description must be a string; got {raw['description']!r}.")
    seed = p.check(validate.seed, "seed", raw.get("seed", 0))
    p.table(raw["game"], "[game]", needed=("name",))
    for cls, key, where in ((Data, "data", "[data]"), (Fit, "fit", "[fit]"),
                            (Distribute, "distribute", "[distribute]"),
                            (Card, "card", "[card]"), (Eval, "eval", "[eval]")):
        p.section(cls, raw.get(key, {}), where)
    optimizer = p.table(raw.get("optimizer", {}), "[optimizer]")
    for player, table in optimizer.items():
        if isinstance(table, dict):
            p.section(Optimizer, table, f"[optimizer.{player}]")
    p.section(Optimizer, {k: v for k, v in optimizer.items() if not isinstance(v, dict)},
              "[optimizer]")
    p.table(raw["net"], "[net]")
    p.check(validate.integer, "[fit] epochs", Fit(**raw["fit"]).epochs, low=1)
    p.check(validate.integer, "[distribute] devices",
            Distribute(**raw.get("distribute", {})).devices, low=1)
    return name, seed, _data(p, raw["data"])


def _frozen(mapping):
    return MappingProxyType(dict(mapping))


def _data(p, raw):
    import kzoo.data
    from kzoo.data.image_folder import COLOR_MODES

    data = p.section(Data, raw, "[data]")
    if ("name" in data) == ("path" in data):
        p.fail(f"[data] takes name (a data set of kzoo.data: {', '.join(kzoo.data.NAMES)}) or "
               f"path (your own .npz file or image folder), one of them; got "
               f"{'both' if 'name' in data else 'neither'}.")
    if "name" in data:
        p.check(validate.choice, "[data] name", data["name"], kzoo.data.NAMES)
        folder_keys = sorted({"image_size", "color_mode"} & set(data))
        if folder_keys:
            p.fail(f"[data] {', '.join(folder_keys)}: only for an image folder ([data] "
                   f"path), not for the data set {data['name']!r}; leave "
                   f"{' and '.join(folder_keys)} out.")
    else:
        if not isinstance(data["path"], str) or not data["path"]:
            p.fail(f"[data] path must name your .npz file or image folder, a non-empty "
                   f"string; got {data['path']!r}.")
        if "image_size" in data:
            size = p.check(validate.int_tuple, "[data] image_size", data["image_size"])
            if len(size) != 2:
                p.fail(f"[data] image_size must be [height, width]; got "
                       f"{data['image_size']!r}.")
            data["image_size"] = size
        if "color_mode" in data:
            p.check(validate.choice, "[data] color_mode", data["color_mode"], COLOR_MODES)
    steps = data.get("bias", [])
    if not isinstance(steps, list):
        p.fail(f"[data] bias must be a list of tables; got {steps!r}.")
    bias = []
    for step in steps:
        which = "transform" if isinstance(step, dict) and "transform" in step else "kind"
        transform = step.get(which) if isinstance(step, dict) else None
        if not isinstance(transform, str) or transform not in kzoo.data.TRANSFORMS:
            p.fail(f"each [data] bias needs kind in {sorted(kzoo.data.TRANSFORMS)}; "
                   f"got {step!r}.")
        bias.append(Bias(transform, _frozen({k: v for k, v in step.items() if k != which})))
    p.check(validate.choice, "[data] scale", data.get("scale", "unit"), SCALES)
    augment = data.get("augment")
    if augment is not None:
        from kzoo.data.augment import check_names

        augment = tuple(p.check(check_names, "[data] augment", augment))
    return Data(**{**data, "bias": tuple(bias), "augment": augment})


def net_tables(raw):
    """``{player: table}`` of a raw ``[net]``: one entry per ``[net.<player>]`` table, and
    the shorthand (``[net]``'s own keys, the first player) under ``""``."""
    tables = {k: v for k, v in raw.items() if isinstance(v, dict)}
    shorthand = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    return {**({"": shorthand} if shorthand or not tables else {}), **tables}


def _net(p, raw, game_cls, game_name):
    """``[net]``: the shorthand (the first player, or a GAN's pair), or one table per
    player."""
    import kzoo.nets

    specs = net_tables(p.table(raw, "[net]"))
    pair = is_pair(game_cls)
    first = ("generator", "critic") if pair else game_cls.players[:1]
    for player in first if "" in specs else ():
        if player in specs:
            p.fail(f"[net] keys and a [net.{player}] table both configure {player!r} "
                   f"([net]'s keys build {' and '.join(first)}); keep one.")
    configured = set(specs) - {""} | (set(first) if "" in specs else set())
    signature = inspect.signature(game_cls.__init__).parameters
    missing = [q for q in game_cls.players if q not in configured and q in signature
               and signature[q].default is inspect.Parameter.empty]
    if missing:
        p.fail(f"{game_name} needs a net for each of its players "
               f"{', '.join(game_cls.players)}; no [net.{missing[0]}] table (or [net] keys "
               f"for the first player) configures {missing[0]!r}.")
    players = []
    for player, spec in specs.items():
        where = f"[net.{player}]" if player else "[net]"
        if player and player not in game_cls.players:
            p.fail(f"{where}: {game_name} has no player {player!r}; its players: "
                   f"{', '.join(game_cls.players)}.")
        if "preset" in spec:
            if not set(spec) <= {"preset", "player"} or not all(
                    isinstance(v, str) for v in spec.values()):
                p.fail(f"{where} with preset takes a preset name or run directory (and "
                       f"optionally player = \"<name>\"), strings, and no other key; got "
                       f"{spec!r}.")
            players.append(Player(player, preset=spec["preset"], take=spec.get("player")))
            continue
        archs = kzoo.nets.PAIRS if pair and not player else kzoo.nets.ARCHS
        if not isinstance(spec.get("arch"), str) or spec["arch"] not in archs:
            p.fail(f"{where} needs arch in {', '.join(archs)} or a preset; "
                   f"got arch {spec.get('arch')!r}.")
        conditional = p.check(validate.boolean, f"{where} conditional",
                              spec.get("conditional", False))
        if "num_classes" in spec:
            classifier = spec["arch"] in kzoo.nets.BUILDERS and not (pair and not player)
            p.fail(f"{where} num_classes is set from the data; remove it" + (
                "." if classifier else " (a class-conditional net: conditional = true)."))
        arguments = {k: v for k, v in spec.items() if k not in ("arch", "conditional")}
        players.append(Player(player, spec["arch"], conditional, arguments=_frozen(arguments)))
    return tuple(players)


def _optimizers(p, raw, game_cls, game_name):
    """``[optimizer]``, or each ``[optimizer.<player>]`` over the top-level keys, one per
    player in the game's order."""
    p.table(raw, "[optimizer]")
    common = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    per_player = {k: v for k, v in raw.items() if isinstance(v, dict)}
    for player in per_player:
        if player not in game_cls.players:
            p.fail(f"[optimizer.{player}]: {game_name} has no player {player!r}; its "
                   f"players: {', '.join(game_cls.players)}.")
    if not per_player:
        return (_optimizer(p, None, common),)
    return tuple(_optimizer(p, q, {**common, **per_player.get(q, {})})
                 for q in game_cls.players)


def _optimizer(p, player, raw):
    where = Optimizer(player).where
    opt = Optimizer(player, **p.section(Optimizer, raw, where))
    p.check(validate.choice, f"{where} name", opt.name, tuple(OPTIMIZERS))
    p.check(validate.choice, f"{where} schedule", opt.schedule, SCHEDULES)
    staged = sorted({"decay_epochs", "decay_factor"} & set(raw))
    if (opt.schedule == "steps") != ("decay_epochs" in raw) or (
            staged and opt.schedule != "steps"):
        p.fail(f"{where}: schedule = \"steps\" goes with decay_epochs (and optionally "
               f"decay_factor), and they with it; got schedule {opt.schedule!r} and "
               f"{staged or 'neither'}.")
    bounds = {"learning_rate": {"low": 0, "low_open": True}, "weight_decay": {"low": 0},
              "decay_factor": {"low": 0, "low_open": True},
              **{k: {"low": 0, "high": 1, "high_open": True}
                 for k in ("momentum", "beta_1", "beta_2")}}
    values = {k: p.check(validate.number, f"{where} {k}", getattr(opt, k), **b)
              for k, b in bounds.items() if getattr(opt, k) is not None}
    if opt.schedule == "steps":
        epochs = p.check(validate.int_tuple, f"{where} decay_epochs", opt.decay_epochs)
        if list(epochs) != sorted(set(epochs)):
            p.fail(f"{where} decay_epochs must be increasing epochs >= 1; got "
                   f"{opt.decay_epochs!r}.")
        values["decay_epochs"] = epochs
    return dataclasses.replace(opt, **values)


def _check_fit(p, fit, distribute, game_cls, game_name):
    p.check(validate.integer, "[fit] epochs", fit.epochs, low=1)
    p.check(validate.integer, "[fit] batch_size", fit.batch_size, low=1)
    if fit.jit_compile != "auto" and not isinstance(fit.jit_compile, bool):
        p.fail(f"[fit] jit_compile must be true, false or \"auto\"; got {fit.jit_compile!r}.")
    p.check(validate.choice, "[fit] precision", fit.precision, PRECISIONS)
    p.check(validate.integer, "[fit] workers", fit.workers, low=1)
    devices = p.check(validate.integer, "[distribute] devices", distribute.devices, low=1)
    p.check(validate.boolean, "[distribute] sync_batch_norm", distribute.sync_batch_norm)
    if fit.batch_size % devices:
        p.fail(f"[fit] batch_size {fit.batch_size} does not split over [distribute] devices "
               f"= {devices}; give a multiple of {devices}.")
    if fit.precision == "mixed_float16" and not game_cls.loss_scaling:
        p.fail(f"[fit] precision: {game_name} does not train under mixed_float16 (its "
               f"updates are not all loss-scaled); use \"mixed_bfloat16\", which needs no "
               f"loss scaling.")


def _eval(p, raw, game_cls, game_name):
    from kzoo import roles

    p.table(raw, "[eval]", [f.name for f in keys_of(Eval)])
    served = roles.of(game_cls.serves)
    misplaced = sorted(set(raw) - set().union(*(r.eval_keys for r in served)))
    if misplaced:
        p.fail(f"[eval] {misplaced} do not apply to {game_name}, which serves "
               f"{' and '.join(game_cls.serves) or 'nothing'}.")
    values = dict(raw)
    for k in ("robust_epsilons", "autoattack_epsilons", "worst_noise_eps"):
        if k in raw:
            values[k] = tuple(p.check(validate.numbers_list, f"[eval] {k}", raw[k], low=0))
    for k in ("robust_steps", "samples", "autoattack_square_queries", "autoattack_examples"):
        if k in raw:
            p.check(validate.integer, f"[eval] {k}", raw[k], low=1)
    if "robust_step_ratio" in raw:
        values["robust_step_ratio"] = p.check(validate.number, "[eval] robust_step_ratio",
                                              raw["robust_step_ratio"], low=0, low_open=True)
    if not isinstance(raw.get("features", ""), str):
        p.fail(f"[eval] features must be a preset name; got {raw['features']!r}.")
    return Eval(**values)
