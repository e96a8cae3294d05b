"""A card read as data: its size, its nesting and the JSON type of every field kzoo reads.

``check(card, path)`` raises ``ValueError`` naming the file and the field; ``parse(blob,
path)`` reads a card's bytes within ``MAX_BYTES`` and ``MAX_DEPTH`` first. Nothing here
imports a module a card names: which games may be imported is ``kzoo.zoo.check_code``'s.

Examples:
    >>> card = parse(Path("saved_models/digits-cnn-ce/card.json").read_bytes(), "card.json")
"""

import json
import math
import re
from pathlib import Path

MODEL_FILE = "model.keras"
CARD_FILE = "card.json"
MAX_BYTES = 1 << 20  # a preset's card is 5-20 KB; its recipe and metrics are small
MAX_DEPTH = 16  # a card nests 5 levels deep (card > recipe_spec > data > bias > step)
SHA256 = re.compile(r"[0-9a-f]{64}")
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NUMBER = (int, float)
# field: JSON type(s); a dict value is a nested table of its own fields.
REQUIRED = {"name": str, "game": str, "backend": str, "metrics": dict, "sha256": str,
            "recipe_spec": dict, "data": dict}
OPTIONAL = {
    "description": str, "intended_use": str, "limitations": list, "served": str,
    "serves": list, "paper": str, "recipe": (str, type(None)),
    "recipe_sha256": (str, type(None)), "seed": int, "epochs": int, "machine": str,
    "wall_time_s": NUMBER, "ms_per_step": NUMBER, "metrics_split": str, "metrics_command": str,
    "model_bytes": int, "versions": dict,
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
ITEMS = {"limitations": str, "serves": str, "epsilons": NUMBER, "attacks": str}


def parse(blob, path):
    """The card in ``blob`` (bytes of ``path``), checked: ``ValueError`` naming ``path``."""
    if len(blob) > MAX_BYTES:
        raise ValueError(f"{path}: {len(blob)} bytes; a card is at most {MAX_BYTES} bytes.")
    try:
        card = json.loads(blob.decode("utf-8"))
    except ValueError as err:  # UnicodeDecodeError is one
        raise ValueError(f"{path}: not a valid JSON card ({err}).") from err
    except RecursionError as err:
        raise ValueError(f"{path}: nested more than {MAX_DEPTH} levels deep.") from err
    check(card, path)
    return card


def check(card, path):
    """``ValueError`` unless ``card`` is a JSON object with the required fields, every field
    of the JSON type kzoo reads, and no deeper than ``MAX_DEPTH``."""
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
        if not isinstance(value, NUMBER) or isinstance(value, bool):
            raise ValueError(f"{path}: metrics.{key} must be a number; got {value!r:.60}.")
    for key, value in card.get("versions", {}).items():
        _type(value, str, path, f"versions.{key}")
    if not SHA256.fullmatch(card["sha256"]):
        raise ValueError(f"{path}: sha256 must be 64 hex digits; got {card['sha256']!r:.80}.")
    if not PLAIN_NAME.fullmatch(card["name"]) or ".." in card["name"]:
        raise ValueError(f"{path}: name must be a plain name (letters, digits, '.', '_', '-'); "
                         f"got {card['name']!r:.80}.")
    if "model_bytes" in card and card["model_bytes"] < 1:
        raise ValueError(f"{path}: model_bytes must be >= 1; got {card['model_bytes']}.")


def _fields(table, schema, path, prefix):
    for key, kind in schema.items():
        if key not in table:
            continue
        where = prefix + key
        if isinstance(kind, dict):
            _type(table[key], dict, path, where)
            _fields(table[key], kind, path, where + ".")
            continue
        _type(table[key], kind, path, where)
        if key in ITEMS:
            for i, item in enumerate(table[key]):
                _type(item, ITEMS[key], path, f"{where}[{i}]")


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


def read_card(directory):
    """The card of a preset or run directory, checked as data (at most
    ``MAX_BYTES``, ``MAX_DEPTH`` levels, the JSON type of every field kzoo reads);
    ``ValueError`` naming the file otherwise."""
    path = Path(directory) / CARD_FILE
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path}: {size} bytes; a card is at most {MAX_BYTES} "
                         f"bytes.")
    return parse(path.read_bytes(), path)


def check_code(card, source, trust_code=False):
    """Refuses a card from ``source`` (a URL or hub handle) whose game, or its recipe's, is
    a ``"module:Class"`` name: loading it would import that module, code the card's
    publisher chose. ``trust_code=True`` allows it (as Hugging Face's
    ``trust_remote_code``). kzoo's own games, named without a module, import nothing."""
    game = card["recipe_spec"].get("game")
    names = [card["game"], game.get("name") if isinstance(game, dict) else None]
    foreign = [n for n in names if not isinstance(n, str) or ":" in n]
    if foreign and not trust_code:
        raise ValueError(
            f"{source}: its card names the game {str(foreign[0])[:80]!r}, defined outside kzoo; "
            f"loading it would import and run code from that module. Pass trust_code=True "
            f"(kzoo ... --trust-code) only if you trust {source}.")
