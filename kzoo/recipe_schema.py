"""The recipe's JSON Schema (``recipes/recipe.schema.json``, ``kzoo recipe --schema``) and
the docs' recipe reference, both made from the fields of ``kzoo.recipe_spec``.

Examples:
    >>> json.dumps(json_schema())
"""

import dataclasses
import html
from types import MappingProxyType
from typing import Any

from kzoo import recipe_spec as rs

__all__ = ["as_dict", "json_schema", "reference_markdown"]


def as_dict(spec):
    """``spec`` as plain JSON data (mappings as dicts, tuples as lists)."""
    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (dict, MappingProxyType)):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(spec)


def json_schema():
    """The recipe's JSON Schema (draft 2020-12): every key, its type, bounds, default and
    documentation; the names kzoo knows (data sets, games, nets, biases) as suggestions."""
    import kzoo.data
    import kzoo.games
    import kzoo.nets
    from kzoo.data.augment import AUGMENTATIONS
    from kzoo.data.image_folder import COLOR_MODES

    def props(cls, skip=()):
        out = {}
        for f in rs.keys_of(cls):
            if f.name in skip or not f.metadata["schema"]:
                continue
            entry = {**f.metadata["schema"], "description": f.metadata["doc"]}
            if f.default is not dataclasses.MISSING and f.default not in (None, ()):
                entry["default"] = f.default
            out[f.name] = entry
        return out

    def table(cls, skip=(), extra=True, more=None):
        return {"type": "object", "description": " ".join(cls.__doc__.split()),
                "properties": {**props(cls, skip), **(more or {})},
                "required": rs.required(cls), "additionalProperties": extra}

    def names(values, entry):
        return {**entry, "examples": sorted(values)}

    data = table(rs.Data, extra=False)
    data["properties"]["augment"]["items"] = {"enum": list(AUGMENTATIONS)}
    data["properties"]["color_mode"]["enum"] = list(COLOR_MODES)
    # name or path, one of them; image_size and color_mode read a folder (path)
    data["oneOf"] = [{"required": ["name"]}, {"required": ["path"]}]
    data["dependentRequired"] = {"image_size": ["path"], "color_mode": ["path"]}
    data["properties"]["name"] = names(kzoo.data.NAMES, data["properties"]["name"])
    data["properties"]["bias"]["items"]["properties"]["kind"]["examples"] = sorted(
        kzoo.data.TRANSFORMS)
    player = table(rs.Player, skip=("take",), more={"player": rs.Player.__dataclass_fields__[
        "take"].metadata["schema"] | {"description": rs.Player.__dataclass_fields__[
            "take"].metadata["doc"]}})
    player["properties"]["arch"] = names({**kzoo.nets.ARCHS, **kzoo.nets.PAIRS},
                                         player["properties"]["arch"])
    net = {**player, "additionalProperties": {"anyOf": [player, {"not": {"type": "object"}}]}}
    game = table(rs.Game)
    game["properties"]["name"] = names([n for n in kzoo.games.GAMES if ":" not in n],
                                       game["properties"]["name"])
    optimizer = table(rs.Optimizer, extra=False)
    optimizer["additionalProperties"] = table(rs.Optimizer, extra=False)
    top = table(rs.Spec, more={
        "data": data, "net": net, "game": game, "optimizer": optimizer,
        "fit": table(rs.Fit, extra=False), "eval": table(rs.Eval, extra=False),
        "card": table(rs.Card, extra=False), "distribute": table(rs.Distribute, extra=False)},
        extra=False)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://github.com/kzoo/kzoo/recipes/recipe.schema.json",
            "title": "kzoo recipe", **top}


def reference_markdown():
    """The recipe reference (docs): each table's keys, defaults and meaning, from the
    dataclasses above."""
    lines = []
    for title, cls in (("The top level", rs.Spec), ("`[data]`", rs.Data),
                       ("`[net]` and `[net.<player>]`", rs.Player), ("`[game]`", rs.Game),
                       ("`[optimizer]` and `[optimizer.<player>]`", rs.Optimizer),
                       ("`[fit]`", rs.Fit), ("`[eval]`", rs.Eval), ("`[card]`", rs.Card),
                       ("`[distribute]`", rs.Distribute)):
        lines += [f"### {title}", "", " ".join(cls.__doc__.split()), "",
                  "| key | default | meaning |", "| --- | --- | --- |"]
        for f in rs.keys_of(cls):
            if not f.metadata["doc"]:
                continue
            default = "required" if f.default is dataclasses.MISSING else (
                "none" if f.default in (None, ()) else f"`{_toml(f.default)}`")
            name = "player" if f.name == "take" else f.name
            lines.append(f"| `{name}` | {default} | {html.escape(f.metadata['doc'])} |")
        lines.append("")
    return "\n".join(lines)


def _toml(value: Any):
    if isinstance(value, bool):
        return str(value).lower()
    return f'"{value}"' if isinstance(value, str) else repr(value)
