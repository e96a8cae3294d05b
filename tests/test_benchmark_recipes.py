"""Every run of the comparison scripts that train kzoo recipes is a valid recipe, before any of
their hours of training (the runs others start from too: ``recipe_of`` builds them to name
them); each run has its own name (its own directory under ``--runs``), and a run that starts
from another names a run of the table's ``--runs`` folder, not a shipped preset. A run a
table takes from a preset (its recipe file's own run) trains what the table's would."""

import dataclasses
import importlib
import inspect
import json
from pathlib import Path

import pytest
from conftest import ROOT, once

from kzoo import recipe_spec, zoo
from kzoo.model_card import ModelCard
from kzoo.recipes import Recipe

# Scripts with ``units(seeds)`` and ``recipe_of(*unit[, runs_dir])``: those of kzoo train runs.
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py")
                 if "\ndef units(seeds):" in p.read_text())


def presets(source):
    """The ``preset`` references of a recipe's [net] table, at any depth."""
    if isinstance(source, dict):
        return [v for k, v in source.items() if k == "preset"] + [
            p for v in source.values() for p in presets(v)]
    return []


@once
def test_every_script_of_train_runs_is_checked():
    assert SCRIPTS == sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py")
                             if "train_run(" in p.read_text() and p.stem != "common")


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
    """What a run of ``recipe`` trains and measures: its spec less its words (name,
    description, card) and AutoAttack's settings, each bias step's seed written out (the
    transform's default where absent)."""
    import kzoo.data

    spec = recipe.spec
    def seeded(step):
        seed = inspect.signature(kzoo.data.TRANSFORMS[step.transform]).parameters.get("seed")
        return step if seed is None else dataclasses.replace(
            step, arguments={"seed": seed.default, **step.arguments})

    bias = tuple(seeded(step) for step in spec.data.bias)
    default = recipe_spec.Eval()
    evaluation = dataclasses.replace(spec.eval, **{  # AutoAttack's: measured, not trained
        f.name: getattr(default, f.name) for f in dataclasses.fields(default)
        if f.name.startswith("autoattack")})
    return dataclasses.replace(spec, name="", description="", card=recipe_spec.Card(),
                               data=dataclasses.replace(spec.data, bias=bias), eval=evaluation)


# script with PRESETS: its unit -> the arguments of its spec(), the table's own run of it
SPEC_ARGUMENTS = {"meta_iada_fashion_table": lambda setting, method, seed: (method, setting, seed),
                  "madry_fashion_table": lambda method, seed: (method, seed)}


@once
def test_every_script_with_runs_of_presets_is_checked():
    assert sorted(SPEC_ARGUMENTS) == [s for s in SCRIPTS if "\nPRESETS = " in (
        ROOT / "benchmarks" / f"{s}.py").read_text()]


@once
@pytest.mark.parametrize("script", SPEC_ARGUMENTS)
def test_a_table_run_that_is_a_presets_trains_as_the_tables_own_would(script, monkeypatch):
    """Some runs of a table are presets' (their recipe files' own runs): each is a unit of
    the table; its preset's card names that recipe, which trains and measures what the
    table's own run of the unit would; and a cached row of it holds the card's metrics."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    module = importlib.import_module(script)
    assert module.PRESETS and module.PRESETS <= set(module.units(3))
    cache = next((ROOT / "benchmarks" / "results").glob(
        f"{script.removesuffix('_table')}_runs.json"), None)
    rows = json.loads(cache.read_text()) if cache else {}
    for unit in module.PRESETS:
        recipe = module.recipe_of(*unit)
        card = ModelCard.read(zoo.resolve(recipe.name))
        assert (card.recipe, card.recipe_sha256) == (
            str(Path(recipe.path).relative_to(ROOT)), recipe.sha256)
        own = Recipe(module.spec(*SPEC_ARGUMENTS[script](*unit)))
        assert training(recipe) == training(own)
        row = rows.get(module.key(*unit))
        assert row is None or {k: row[k] for k in card.metrics} == dict(card.metrics)


@once
def test_a_figure_copied_from_a_preset_is_the_presets():
    """The Meta-IADA Fashion page's adversarial shares are those of the preset whose run
    the table takes (the script copies them from its run directory, absent in CI)."""
    figure = ROOT / "benchmarks" / "results" / "meta_iada_fashion_epsilon_shares_flip40.png"
    preset = zoo.resolve("fashion_mnist-flip40-cnn-meta-iada") / "epsilon_shares.png"
    assert figure.read_bytes() == preset.read_bytes()


@once
def test_a_run_finished_by_another_shard_meanwhile_is_taken(monkeypatch):
    """``common.train_run`` retries once when the run directory turns out to hold a finished
    run (another shard finished it between train's look for it and its lock): the retry
    returns that run's card; a directory that still refuses the run is an error."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import common

    from kzoo import runs

    class Card:
        metrics, wall_time_s, ms_per_step = {"accuracy": 0.5}, 12.0, 3.0

    calls = []

    def finished_meanwhile(recipe, out, verbose):
        calls.append(out)
        if len(calls) == 1:
            raise FileExistsError(f"{out} already holds a different run: a finished run")
        return Card

    monkeypatch.setattr(runs, "train", finished_meanwhile)
    recipe = Recipe.from_file(ROOT / "recipes" / "classifier" / "digits-ce.toml")
    assert common.train_run(recipe, "runs") == {"accuracy": 0.5, "wall_s": 12.0,
                                                "ms_per_step": 3.0}
    assert len(calls) == 2

    def refused(recipe, out, verbose):
        calls.append(out)
        raise FileExistsError(f"{out} already holds a different run")

    calls.clear()
    monkeypatch.setattr(runs, "train", refused)
    with pytest.raises(FileExistsError, match="different run"):
        common.train_run(recipe, "runs")
    assert len(calls) == 2
