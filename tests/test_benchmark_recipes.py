"""Every run of the comparison scripts that train kzoo recipes is a valid recipe, before any of
their hours of training (the runs others start from too: ``recipe_of`` builds them to name
them); each run has its own name (its own directory under ``--runs``), and a run that starts
from another names a run of the table's ``--runs`` folder, not a shipped preset."""

import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest
from conftest import ROOT, once

from kzoo import recipe_spec, zoo
from kzoo.model_card import ModelCard
from kzoo.recipes import Recipe

# Scripts with ``units(seeds)`` and ``recipe_of(*unit[, runs_dir])``.
SCRIPTS = ["meta_iada_fashion_table", "madry_fashion_table", "rgan_fashion_table",
           "bad_data_fashion_table", "robgan_fashion_table"]


def presets(source):
    """The ``preset`` references of a recipe's [net] table, at any depth."""
    if isinstance(source, dict):
        return [v for k, v in source.items() if k == "preset"] + [
            p for v in source.values() for p in presets(v)]
    return []


@once  # backend-independent: recipes are parsed, nothing is built
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_run_of_the_table_is_a_valid_recipe(script, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    module = importlib.import_module(script)
    takes_runs = "runs_dir" in inspect.signature(module.recipe_of).parameters
    runs = tmp_path / "runs"
    recipes = [module.recipe_of(*unit, **({"runs_dir": runs} if takes_runs else {}))
               for unit in module.units(5)]
    names = [r.name for r in recipes]
    assert len(set(names)) == len(names), f"{script}: two runs share a name"
    for recipe in recipes:
        for preset in presets(recipe.source.get("net", {})):
            assert preset.startswith(f"{runs}/"), (recipe.name, preset)


def training(recipe):
    """What a run of ``recipe`` trains: its spec less its words (name, description, card)
    and with each bias step's seed written out (the transform's default where absent)."""
    import kzoo.data

    spec = recipe.spec
    bias = tuple(dataclasses.replace(step, arguments={
        "seed": inspect.signature(kzoo.data.TRANSFORMS[step.transform]).parameters[
            "seed"].default, **step.arguments}) for step in spec.data.bias)
    return dataclasses.replace(spec, name="", description="", card=recipe_spec.Card(),
                               data=dataclasses.replace(spec.data, bias=bias))


@once
def test_a_table_run_that_is_a_presets_trains_as_the_tables_own_would(monkeypatch):
    """The Meta-IADA Fashion table takes two runs from presets (their recipe files' own
    runs): each preset's card names that recipe, and the recipe trains what the table's own
    run of the unit would."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    module = importlib.import_module("meta_iada_fashion_table")
    for setting, method, seed in module.PRESETS:
        recipe = module.recipe_of(setting, method, seed)
        card = ModelCard.read(zoo.resolve(recipe.name))
        assert (card.recipe, card.recipe_sha256) == (
            str(Path(recipe.path).relative_to(ROOT)), recipe.sha256)
        assert training(recipe) == training(Recipe(module.spec(method, setting, seed)))
