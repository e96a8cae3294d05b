"""kzoo's layers, read from its imports (module level and inside functions alike): no two
modules import each other, directly or in a loop, and the library core never imports the
layer that turns recipes into runs and cards (the zoo layer)."""

import ast

import pytest
from conftest import ROOT, once

PACKAGE = ROOT / "kzoo"
CORE = ("kzoo.games", "kzoo.backend", "kzoo.attacks", "kzoo.losses", "kzoo.nets",
        "kzoo.metrics", "kzoo.data", "kzoo.validate", "kzoo.ops", "kzoo.files",
        "kzoo.distribute", "kzoo.callbacks", "kzoo.resume", "kzoo.startup")
ZOO_LAYER = ("kzoo.zoo", "kzoo.hub", "kzoo.runs", "kzoo.run_dir", "kzoo.recipes",
             "kzoo.recipe_keywords", "kzoo.recipe_optimizers", "kzoo.recipe_players",
             "kzoo.recipe_spec", "kzoo.recipe_parse", "kzoo.recipe_schema",
             "kzoo.cards", "kzoo.model_card", "kzoo.roles", "kzoo.demo", "kzoo.cli",
             "kzoo.paper_scale", "kzoo.tables", "kzoo.reproduce")


def modules():
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports():
    """``{module: {kzoo module it imports}}``."""
    known = modules()

    def resolve(name):
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in known.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {resolve(a.name) for a in node.names if a.name.startswith("kzoo")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kzoo"):
                targets |= {resolve(f"{node.module}.{a.name}") for a in node.names}
        graph[name] = {t for t in targets if t and t != name and t != "kzoo"}
    return graph


def layer_of(name):
    for layer, prefixes in (("core", CORE), ("zoo", ZOO_LAYER)):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return layer
    return None


@once
def test_every_module_has_a_layer():
    unplaced = sorted(m for m in modules() if m != "kzoo" and layer_of(m) is None)
    assert not unplaced, f"place these in CORE or ZOO_LAYER: {unplaced}"


@once
def test_the_core_never_imports_the_zoo_layer():
    graph = imports()
    upward = {(a, b) for a, targets in graph.items() for b in targets
              if layer_of(a) == "core" and layer_of(b) == "zoo"}
    assert not upward, f"core modules importing the zoo layer: {sorted(upward)}"


@once
def test_no_modules_import_each_other_in_a_loop():
    graph = imports()
    # Tarjan's strongly connected components, iteratively
    index, low, on_stack, stack, loops, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    loops.append(sorted(component))
    assert not loops, f"modules importing each other: {loops}"


@once
def test_every_game_serves_roles_the_zoo_knows():
    """A kind of part is one role in kzoo.roles; each game's serves names roles of it."""
    import kzoo.games
    from kzoo import roles

    for name, game in kzoo.games.GAMES.items():  # with any game a test defined
        assert game.serves or ":" in name, f"kzoo's {name} serves nothing"
        roles.of(game.serves)  # ValueError naming an unknown one
    with pytest.raises(ValueError, match=r"unknown role\(s\) \['clasifier'\]; kzoo's: "
                                         r"classifier, generator"):
        roles.of(("clasifier",))
