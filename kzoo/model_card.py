"""A model card, typed: ``ModelCard`` is every field of ``card.json``, read as data (its
size, its nesting, the JSON type of every field, its version), refused when it names code
a publisher chose (``check_code``), written with its Markdown (``README.md``) and shown as
Markdown (``kzoo card NAME``). Nothing here imports a module a card names.

Examples:
    >>> card = ModelCard.read("saved_models/digits-cnn-ce")
    >>> card.name, card.metrics["accuracy"], card.serves
    >>> print(card.markdown())
"""

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

from kzoo.validate import boolean, is_plain_name

MODEL_FILE = "model.keras"
CARD_FILE = "card.json"
MAX_BYTES = 1 << 20  # a preset's card is 5-20 KB; its recipe and metrics are small
MAX_DEPTH = 16  # a card nests 5 levels deep (card > recipe_spec > data > bias > step)
MAX_FIGURES = 16  # a run draws a few: curves, confusion, robust, epsilon_shares, samples...
SHA256 = re.compile(r"[0-9a-f]{64}")
NUMBER = (int, float)
# field: JSON type(s); a dict value is a nested table of its own fields.
REQUIRED = {"name": str, "game": str, "backend": str, "metrics": dict, "sha256": str,
            "recipe_spec": dict, "data": dict}
OPTIONAL = {
    "version": int, "description": str, "intended_use": str, "limitations": list, "served": str,
    "serves": list, "paper": str, "recipe": (str, type(None)),
    "recipe_sha256": (str, type(None)), "seed": int, "epochs": int, "machine": str,
    "wall_time_s": NUMBER, "ms_per_step": NUMBER, "metrics_split": str, "metrics_command": str,
    "model_bytes": int, "versions": dict, "figures": list,
    "licence": {"code_and_weights": str, "data": str},
    "devices": {"count": int, "engine": (str, type(None)), "processes": int},
    "evaluation": {
        "split": str, "test_examples": int,
        "robust_attack": {"attack": str, "norm": str, "random_start": bool, "restarts": int,
                          "loss": str, "units": str, "step_ratio": NUMBER, "steps": int,
                          "epsilons": list, "step_size": str},
        "autoattack": {"engine": str, "version": str, "attacks": list, "apgd_steps": int,
                       "square_queries": int, "seed": int, "norm": str, "n": int,
                       "epsilons": list},
        "generator": {"samples": (int, str), "features": str},
    },
}
DATA = {"summary": str, "provenance": list, "provenance_hash": str}
# list fields and the type of their items
ITEMS = {"limitations": str, "serves": str, "epsilons": NUMBER, "attacks": str, "figures": str}


VERSION = 1  # the card format; a card of a later version is refused, not half read
README = "README.md"


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """The card of a preset or run. ``ModelCard.read(directory)`` checks and reads one;
    ``card.write(directory)`` writes ``card.json`` and ``README.md``; ``card.markdown()``.

    Nested fields are read-only mappings as in ``card.json``: ``data`` (``summary``,
    ``provenance``, ``provenance_hash``), ``evaluation`` (how the numbers were measured),
    ``licence``, ``devices``, ``versions``, and ``recipe_spec`` (the recipe as written,
    which ``kzoo.recipes.Recipe`` parses)."""

    name: str
    game: str
    backend: str
    metrics: Any
    sha256: str
    recipe_spec: Any
    data: Any
    version: int = VERSION
    description: str = ""
    intended_use: str = ""
    limitations: tuple = ()
    licence: Any = dataclasses.field(default_factory=dict)
    evaluation: Any = dataclasses.field(default_factory=dict)
    served: str = ""
    serves: tuple = ()
    paper: str = ""
    recipe: str | None = None
    recipe_sha256: str | None = None
    seed: int | None = None
    epochs: int | None = None
    versions: Any = dataclasses.field(default_factory=dict)
    machine: str = ""
    wall_time_s: float | None = None
    ms_per_step: float | None = None
    metrics_split: str = "test"
    metrics_command: str = ""
    model_bytes: int | None = None
    devices: Any = dataclasses.field(default_factory=dict)
    figures: tuple | None = None  # the PNG files its run drew beside it; None: not listed

    @classmethod
    def from_dict(cls, card, path="card"):
        """The checked card of the JSON object ``card`` (read from ``path``)."""
        check(card, path)
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in card.items() if k in known}
        for key in ("limitations", "serves", "figures"):
            if key in fields:
                fields[key] = tuple(fields[key])
        return cls(**fields)

    @classmethod
    def read(cls, directory):
        """The card of a preset or run directory, checked as data (``check``: at most
        ``MAX_BYTES``, ``MAX_DEPTH`` levels, the JSON type of every field, a version kzoo
        reads); ``ValueError`` naming the file otherwise."""
        path = Path(directory) / CARD_FILE
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ValueError(f"{path}: {size} bytes; a card is at most {MAX_BYTES} bytes.")
        return cls.from_dict(_json(path.read_bytes(), path), path)

    def to_dict(self):
        """The card as its JSON object (fields left unset are left out)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or (value == {} and f.name in ("devices", "versions")):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def write(self, directory):
        """``card.json`` and its Markdown, ``README.md``, into ``directory``."""
        from kzoo.files import atomic_path, write_json

        write_json(Path(directory) / CARD_FILE, self.to_dict())
        with atomic_path(Path(directory) / README) as tmp:
            Path(tmp).write_text(self.markdown(), encoding="utf-8")

    def check_code(self, source, trust_code=False):
        """Refuses this card, from ``source`` (a URL or hub handle), if its game or its
        recipe's is a ``"module:Class"`` name: loading it would import that module, code the
        card's publisher chose. ``trust_code=True`` allows it (as Hugging Face's
        ``trust_remote_code``). kzoo's own games, named without a module, import nothing."""
        boolean("trust_code", trust_code)
        game = self.recipe_spec.get("game")
        names = [self.game, game.get("name") if isinstance(game, dict) else None]
        foreign = [n for n in names if not isinstance(n, str) or ":" in n]
        if foreign and not trust_code:
            raise ValueError(
                f"{source}: its card names the game {str(foreign[0])[:80]!r}, defined outside "
                f"kzoo; loading it would import and run code from that module. Pass "
                f"trust_code=True (kzoo ... --trust-code) only if you trust {source}.")

    def headline(self):
        """The card's main numbers in one line: the headline metrics of each part its game
        serves (FCD: Frechet classifier distance)."""
        short = {"balanced_accuracy": "balanced", "tail_accuracy": "tail",
                 "high_quality": "high quality", "log_density": "log density",
                 "frechet_classifier_distance": "FCD",
                 "frechet_classifier_distance_real": "FCD of real data",
                 "classifier_score": "classifier score"}
        m = self.metrics
        keys = self.headline_keys()
        if not keys:
            return ", ".join(f"{k} {v}" for k, v in list(m.items())[:3]) or "no metrics"
        return ", ".join(f"{short.get(k, k)} {m[k]:.4g}" for k in keys)

    def headline_keys(self):
        """The metrics of the card that its roles headline, in order."""
        from kzoo import roles

        return [k for role in roles.of(self.serves) for k in role.headlines
                if k in self.metrics]

    def markdown(self):
        """The card as Markdown: what ``kzoo card NAME`` prints and README.md holds."""
        from kzoo import roles

        ev, licence = self.evaluation, self.licence
        lines = [f"# {self.name}", ""]
        if self.description:
            lines += [self.description, ""]
        lines += [f"- **Serves**: {self.served or ', '.join(self.serves)}",
                  f"- **Game**: {self.game} ({self.paper})",
                  f"- **Intended use**: {self.intended_use or 'not stated'}",
                  f"- **Licence**: code and weights {licence.get('code_and_weights', '?')}; "
                  f"data: {licence.get('data', '?')}", "",
                  "## Limitations", ""]
        lines += [f"- {x}" for x in self.limitations or ["not stated"]]
        lines += ["", f"## Evaluation: {ev.get('split', self.metrics_split)} split, "
                      f"{ev.get('test_examples', '?')} examples", "",
                  f"Reproduce with `{self.metrics_command or 'kzoo eval ' + self.name}`.",
                  "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |"
                  for k, v in self.metrics.items()]
        for role in roles.of(self.serves):
            lines += role.markdown(self)
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        count = self.devices.get("count", 1)
        devices = "" if count == 1 else \
            f"; data parallel on {count} devices ({self.devices['engine']})"
        lines += ["", "## Training", "",
                  f"- recipe `{self.recipe}` (sha256 {str(self.recipe_sha256)[:12]}), "
                  f"seed {self.seed}, {self.epochs} epochs",
                  f"- data: {self.data.get('summary', '')}",
                  f"- {self.backend} backend, {versions}; {self.machine or '?'}; "
                  f"{_or_unknown(self.wall_time_s, '{:,.0f}')} s, "
                  f"{_or_unknown(self.ms_per_step, '{:.1f}')} ms per step" + devices,
                  f"- model.keras sha256 {self.sha256}", ""]
        if self.figures:
            lines += ["## Figures", ""]
            for name in self.figures:
                lines += [f"![{name}]({name})", ""]
        lines += ["## Use", "", "```python", "import kzoo", "",
                  f"model = kzoo.load({self.name!r})", "```", ""]
        return "\n".join(lines)


def _or_unknown(value, form):
    """``value`` written by the format string ``form``; "?" for None."""
    return "?" if value is None else form.format(value)


def _json(blob, path):
    """The JSON value in ``blob`` (bytes of ``path``); ``ValueError`` naming ``path``."""
    try:
        card = json.loads(blob.decode("utf-8"))
    except ValueError as err:  # UnicodeDecodeError is one
        raise ValueError(f"{path}: not a valid JSON card ({err}).") from err
    except RecursionError as err:
        raise ValueError(f"{path}: nested more than {MAX_DEPTH} levels deep.") from err
    return card


def check(card, path):
    """``ValueError`` unless ``card`` is a JSON object with the required fields, every field
    of the JSON type kzoo reads, no deeper than ``MAX_DEPTH``, finite metrics, an attack's
    metrics beside its ``evaluation`` table, figures named as ``is_figure`` allows, a
    version and roles kzoo knows."""
    if not isinstance(card, dict):
        raise ValueError(f"{path}: a card is a JSON object; got {type(card).__name__}.")
    if _depth(card) > MAX_DEPTH:
        raise ValueError(f"{path}: nested more than {MAX_DEPTH} levels deep.")
    missing = [k for k in REQUIRED if k not in card]
    if missing:
        raise ValueError(f"{path}: the card lacks {', '.join(missing)}.")
    _fields(card, {**REQUIRED, **OPTIONAL}, path, "")
    _fields(card["data"], DATA, path, "data.")
    for key, value in card["metrics"].items():
        if not isinstance(value, NUMBER) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{path}: metrics.{key} must be a finite number; got "
                             f"{value!r:.60}.")
    _measured_as_stated(card, path)
    for key, value in card.get("versions", {}).items():
        _type(value, str, path, f"versions.{key}")
    if not SHA256.fullmatch(card["sha256"]):
        raise ValueError(f"{path}: sha256 must be 64 hex digits; got {card['sha256']!r:.80}.")
    if not is_plain_name(card["name"]):
        raise ValueError(f"{path}: name must be a plain name (letters, digits, '.', '_', '-'); "
                         f"got {card['name']!r:.80}.")
    figures = card.get("figures", ())
    bad = [f for f in figures if not is_figure(f)]
    if bad:
        raise ValueError(f"{path}: figures must be plain names of .png files beside the card; "
                         f"got {bad[0]!r:.80}.")
    if len(figures) > MAX_FIGURES or len(set(figures)) < len(figures):
        raise ValueError(f"{path}: figures must name at most {MAX_FIGURES} files, each once; "
                         f"got {len(figures)} names, {len(set(figures))} distinct.")
    if card.get("version", VERSION) > VERSION or card.get("version", VERSION) < 1:
        raise ValueError(f"{path}: card version {card['version']}; this kzoo reads versions 1 "
                         f"to {VERSION} (a later kzoo wrote it: upgrade kzoo).")
    if "model_bytes" in card and card["model_bytes"] < 1:
        raise ValueError(f"{path}: model_bytes must be >= 1; got {card['model_bytes']}.")
    from kzoo.roles import ROLES

    unknown = [role for role in card.get("serves", ()) if role not in ROLES]
    if unknown:
        raise ValueError(f"{path}: serves {unknown}, which this kzoo does not know (its roles: "
                         f"{', '.join(ROLES)}; a later kzoo wrote it: upgrade kzoo).")


def is_figure(name):
    """Whether ``name`` may be in a card's ``figures``: a plain name of a ``.png`` file."""
    return is_plain_name(name) and name.endswith(".png")


def listed_figures(directory):
    """The names the card in ``directory`` lists as its figures (those ``is_figure``
    allows), read on their own: a card refused for another field still names them. None
    when the card has no such list or cannot be read."""
    path = Path(directory) / CARD_FILE
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:  # a FIFO would block
            return None
        card = _json(path.read_bytes(), path)
    except (OSError, ValueError):
        return None
    listed = card.get("figures") if isinstance(card, dict) else None
    return [name for name in listed if is_figure(name)] if isinstance(listed, list) else None


def _fields(table, schema, path, prefix):
    for key, kind in schema.items():
        if key not in table:
            continue
        where = prefix + key
        if isinstance(kind, dict):
            _type(table[key], dict, path, where)
            _fields(table[key], kind, path, where + ".")
            _complete(table[key], kind, path, where)
            continue
        _type(table[key], kind, path, where)
        if key in ITEMS:
            for i, item in enumerate(table[key]):
                _type(item, ITEMS[key], path, f"{where}[{i}]")


def _measured_as_stated(card, path):
    """A metric under attack comes with how it was attacked: ``robust_accuracy@eps`` with
    ``evaluation.robust_attack``, ``autoattack_accuracy@eps`` with ``evaluation.autoattack``
    (``kzoo eval`` and ``kzoo.reproduce`` attack as the card says)."""
    from kzoo.roles import AUTOATTACK_METRIC, ROBUST_METRIC

    evaluation = card.get("evaluation", {})
    for prefix, table in ((ROBUST_METRIC, "robust_attack"), (AUTOATTACK_METRIC, "autoattack")):
        metric = next((k for k in card["metrics"] if k.startswith(prefix)), None)
        if metric is not None and not evaluation.get(table):
            raise ValueError(f"{path}: metrics.{metric} without evaluation.{table} (how it "
                             f"was attacked).")


def _complete(table, schema, path, where):
    """A nested table, unless empty, holds every field of its ``schema`` (kzoo writes them
    together; the card's text reads them together); only its own nested tables are
    optional."""
    missing = [k for k, kind in schema.items() if not isinstance(kind, dict) and k not in table]
    if table and missing:
        raise ValueError(f"{path}: {where} lacks {', '.join(missing)}.")


def _type(value, kind, path, where):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        names = " or ".join(_JSON_NAMES[k] for k in kinds)
        raise ValueError(f"{path}: {where} must be {names}; got {value!r:.60}.")


_JSON_NAMES = {str: "a string", int: "an integer", float: "a number", dict: "an object",
               list: "a list", bool: "true or false", type(None): "null"}


def _depth(value):
    """How deeply ``value`` nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else \
            item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        stack.extend((child, level + 1) for child in children)
    return deepest

