"""Cards a user can trust: every preset says what it is for and not, its licences, the split
and size behind its numbers and the attack behind a robust one; `kzoo card` prints it."""

import json
import re
import shutil
from types import SimpleNamespace

import pytest
from conftest import ROOT

from kzoo import cards, cli, model_card, recipes, zoo

RECIPE = ROOT / "recipes/classifier/digits-ce.toml"
NAMES = [c.name for c in zoo.presets()]


@pytest.mark.parametrize("name", NAMES)
def test_every_card_carries_use_limits_licence_and_evaluation(name):
    card = zoo.ModelCard.read(zoo.resolve(name))
    assert "Research" in card.intended_use and card.limitations
    assert any("not a model of" in x and "CIFAR or any other data set" in x
               for x in card.limitations)
    assert card.licence["code_and_weights"] == "Apache-2.0" and card.licence["data"]
    ev = card.evaluation
    assert ev["split"] == "test" and ev["test_examples"] > 0
    robust = [k for k in card.metrics if k.startswith("robust_accuracy@")]
    if robust:
        attack = ev["robust_attack"]
        assert {"norm", "steps", "step_size", "random_start", "restarts", "epsilons"} <= set(attack)
        assert sorted(f"robust_accuracy@{e:g}" for e in attack["epsilons"]) == sorted(robust)
    if "generator" in card.serves:  # how many samples its metrics scored, as a number
        wanted = card.recipe_spec.get("eval", {}).get("samples", 1000)  # images' default
        assert ev["generator"]["samples"] == wanted and ev["generator"]["features"]


@pytest.mark.parametrize("name", NAMES)
def test_kzoo_card_prints_the_readme_beside_the_preset(name, capsys):
    assert cli.main(["card", name]) == 0
    out = capsys.readouterr().out
    assert out == (zoo.resolve(name) / model_card.README).read_text(encoding="utf-8")
    card = zoo.ModelCard.read(zoo.resolve(name))
    assert out.startswith(f"# {name}\n") and card.sha256 in out
    for key in card.metrics:
        assert f"| {key} | " in out


def test_list_verbose_prints_every_card(capsys):
    assert cli.main(["list", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n## Limitations\n") == len(NAMES)


def test_a_recipe_adds_to_the_card():
    spec = recipes.Recipe.from_file(RECIPE).source
    spec = {**spec, "card": {"intended_use": "A demo.", "limitations": ["Tiny."]}}
    recipe = recipes.Recipe(spec)
    ds = recipe.dataset()
    described = cards.describe(recipe.build(ds), ds, recipe)
    assert described["intended_use"] == "A demo." and described["limitations"][-1] == "Tiny."


def test_a_card_says_in_words_what_each_bias_did():
    import kzoo.data

    assert sorted(cards.BIAS_WORDS) == sorted(kzoo.data.TRANSFORMS)


@pytest.mark.parametrize("card, message", [
    ({"intended_use": 3}, r"\[card\] intended_use must be a string; got 3"),
    ({"limitations": "short"}, r"\[card\] limitations must be a list of strings; got 'short'"),
    ({"licence": "MIT"}, r"unknown key\(s\) \['licence'\] in \[card\]"),
])
def test_bad_card_tables_are_refused(card, message):
    spec = recipes.Recipe.from_file(RECIPE).source
    with pytest.raises(recipes.RecipeError, match=message):
        recipes.Recipe({**spec, "card": card})


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_card_is_a_model_card_and_writes_back_the_same(name, tmp_path):
    directory = zoo.resolve(name)
    raw = json.loads((directory / model_card.CARD_FILE).read_text())
    card = model_card.ModelCard.read(directory)
    assert card.version == model_card.VERSION == raw.get("version", 1)  # 1 if written before it
    assert {k: v for k, v in card.to_dict().items() if k != "version" or k in raw} == raw
    card.write(tmp_path)
    assert model_card.ModelCard.read(tmp_path) == card
    assert (tmp_path / model_card.README).read_text() == \
        (directory / model_card.README).read_text()


@pytest.mark.parametrize("version, message", [
    (2, r"card version 2; this kzoo reads versions 1 to 1 \(a later kzoo wrote it"),
    (0, r"card version 0"),
    ("1", r"version must be an integer"),
])
def test_a_card_of_an_unknown_version_is_refused(version, message):
    raw = json.loads((zoo.resolve(NAMES[0]) / model_card.CARD_FILE).read_text())
    with pytest.raises(ValueError, match=r"^c\.json: " + message):
        model_card.ModelCard.from_dict({**raw, "version": version}, "c.json")


@pytest.mark.parametrize("figures, message", [
    (["../x.png"], r"figures must be plain names of \.png files beside the card; got "
                   r"'\.\./x\.png'"),
    (["model.keras"], r"figures must be plain names .*; got 'model\.keras'"),
    ([3], r"figures\[0\] must be a string"),
    (["a.png", "a.png"], r"figures must name at most 16 files, each once; got 2 names, 1 "
                         r"distinct"),
    ([f"f{i}.png" for i in range(17)], r"figures must name at most 16 files, each once; got 17 "
                                       r"names, 17 distinct"),
])
def test_a_card_listing_figures_other_than_its_own_pngs_is_refused(figures, message):
    raw = json.loads((zoo.resolve(NAMES[0]) / model_card.CARD_FILE).read_text())
    with pytest.raises(ValueError, match=r"^c\.json: " + message):
        model_card.ModelCard.from_dict({**raw, "figures": figures}, "c.json")


def test_a_card_shows_the_figures_it_lists():
    raw = json.loads((zoo.resolve(NAMES[0]) / model_card.CARD_FILE).read_text())
    raw.pop("figures", None)  # a card written before cards listed their figures
    card = model_card.ModelCard.from_dict({**raw, "figures": ["curves.png", "confusion.png"]})
    assert "## Figures\n\n![curves.png](curves.png)\n\n![confusion.png](confusion.png)\n" in \
        card.markdown()
    assert "## Figures" not in model_card.ModelCard.from_dict(raw).markdown()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_card_with_a_non_finite_metric_is_refused(value):
    raw = json.loads((zoo.resolve(NAMES[0]) / model_card.CARD_FILE).read_text())
    with pytest.raises(ValueError, match=r"^c\.json: metrics\.accuracy must be a finite number"):
        model_card.ModelCard.from_dict({**raw, "metrics": {**raw["metrics"], "accuracy": value}},
                                       "c.json")


@pytest.mark.parametrize("name, others", [("cifar10", "MNIST, CIFAR-100"),
                                          ("mnist", "Fashion-MNIST, CIFAR"),
                                          ("fashion_mnist", "MNIST, CIFAR")])
def test_a_card_names_data_sets_other_than_its_own(name, others):
    spec = recipes.Recipe.from_file(RECIPE).source
    recipe = recipes.Recipe({**spec, "data": {"name": name}})
    ds = SimpleNamespace(name=name, input_shape=(32, 32, 3))
    first = cards._limitations(SimpleNamespace(serves=()), ds, recipe)[0]
    assert first.endswith(f"it is not a model of {others} or any other data set.")


def test_a_card_serving_a_role_this_kzoo_lacks_is_refused_not_listed(tmp_path, monkeypatch):
    """One such card is left out of the zoo with a warning; kzoo list still lists the rest."""
    raw = json.loads((zoo.resolve(NAMES[0]) / model_card.CARD_FILE).read_text())
    with pytest.raises(ValueError, match=r"^c\.json: serves \['segmenter'\], which this kzoo "
                                         r"does not know \(its roles: classifier, generator;"):
        model_card.ModelCard.from_dict({**raw, "serves": ["classifier", "segmenter"]}, "c.json")
    for name in NAMES[:2]:
        shutil.copytree(zoo.resolve(name), tmp_path / name)
    card = tmp_path / NAMES[0] / model_card.CARD_FILE
    card.write_text(json.dumps({**raw, "serves": ["segmenter"]}))
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    cards_, problems = zoo.scan()
    assert [c.name for c in cards_] == NAMES[1:2]
    assert problems == [f"{card}: serves ['segmenter'], which this kzoo does not know (its "
                        f"roles: classifier, generator; a later kzoo wrote it: upgrade kzoo); "
                        f"left out of the zoo."]


@pytest.mark.parametrize("table, key", [("evaluation.autoattack", "version"),
                                        ("evaluation.robust_attack", "attack"),
                                        ("evaluation", "test_examples"),
                                        ("devices", "engine")])
def test_a_card_missing_part_of_a_table_is_refused_as_it_is_read(table, key):
    """Not later, as a KeyError from the text that reads the table (kzoo card, kzoo eval)."""
    card = json.loads((zoo.resolve("fashion_mnist-cnn-madry") / model_card.CARD_FILE).read_text())
    card["devices"] = {"count": 2, "engine": "torch DDP", "processes": 2}
    parent = card
    for part in table.split("."):
        parent = parent[part]
    del parent[key]
    with pytest.raises(ValueError, match=rf"^c\.json: {re.escape(table)} lacks {key}\.$"):
        model_card.ModelCard.from_dict(card, "c.json")


def test_a_card_table_is_type_checked_before_it_is_found_partial_and_may_be_empty():
    card = json.loads((zoo.resolve("fashion_mnist-cnn-madry") / model_card.CARD_FILE).read_text())
    card["evaluation"]["robust_attack"] = {"steps": "x"}
    with pytest.raises(ValueError, match=r"robust_attack\.steps must be an integer; got 'x'"):
        model_card.ModelCard.from_dict(card, "c.json")
    card["evaluation"]["robust_attack"] = {}  # as a card written with no attack, ...
    card["metrics"] = {k: v for k, v in card["metrics"].items() if "@" not in k}  # ... or metric
    card["licence"] = {}
    assert model_card.ModelCard.from_dict(card, "c.json").licence == {}


@pytest.mark.parametrize(("metric", "table"), [("robust_accuracy@0.1", "robust_attack"),
                                               ("autoattack_accuracy@0.1", "autoattack")])
def test_a_metric_under_attack_needs_the_attack_on_its_card(metric, table):
    card = json.loads((zoo.resolve("fashion_mnist-cnn-madry") / model_card.CARD_FILE).read_text())
    assert metric in card["metrics"]
    for evaluation in ({**card["evaluation"], table: {}},
                       {k: v for k, v in card["evaluation"].items() if k != table}):
        with pytest.raises(ValueError, match=rf"^c\.json: metrics\.{metric.split('@')[0]}@[0-9.]+ "
                                             rf"without evaluation\.{table} "):
            model_card.ModelCard.from_dict({**card, "evaluation": evaluation}, "c.json")
