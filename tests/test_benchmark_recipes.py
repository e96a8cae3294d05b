"""Every run of the comparison scripts that train kzoo recipes is a valid recipe, before any of
their hours of training (the runs others start from too: ``recipe_of`` builds them to name
them); each run has its own name (its own directory under ``--runs``), and a run that starts
from another names a run of the table's ``--runs`` folder, not a shipped preset."""

import importlib
import inspect

import pytest
from conftest import ROOT, once

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
