"""The typed recipe (kzoo.recipe_spec): parsed once, defaults in one place, its JSON Schema in
sync and in agreement with the parser (jsonschema, an independent validator, as the oracle),
errors naming file, table and key. Parsing is backend-independent: these run once."""

import copy
import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT, once

from kzoo import cli, recipe_schema, recipe_spec, roles
from kzoo.recipe_parse import parse
from kzoo.recipes import RECIPES_DIR, Recipe, RecipeError, locate

pytestmark = once
SCHEMA_FILE = ROOT / "recipes" / "recipe.schema.json"
RECIPES = sorted((ROOT / "recipes").rglob("*.toml"))
SMALL = {"name": "r", "data": {"name": "digits"}, "net": {"arch": "small_cnn"},
         "game": {"name": "Classifier"}, "fit": {"epochs": 2}}


def validator():
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def test_the_committed_schema_is_the_codes():
    schema = json.loads(json.dumps(recipe_schema.json_schema()))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert json.loads(SCHEMA_FILE.read_text()) == schema, \
        "run: kzoo recipe --schema > recipes/recipe.schema.json"


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT / "recipes")))
def test_every_recipe_parses_and_meets_the_schema(path):
    source = tomllib.loads(path.read_text())
    assert not [e.message for e in validator().iter_errors(source)]
    spec = Recipe.from_file(path).spec
    assert spec.name == source["name"] and spec.fit.epochs == source["fit"]["epochs"]
    assert spec.fit.batch_size == source["fit"].get("batch_size", 32)


BAD = {
    "fit table unknown key": (("fit", "batchsize"), 3, r"unknown key\(s\) \['batchsize'\] in "
                                                       r"\[fit\]; allowed: batch_size"),
    "epochs 0": (("fit", "epochs"), 0, r"\[fit\] epochs"),
    "batch size a float": (("fit", "batch_size"), 8.5, r"\[fit\] batch_size"),
    "precision": (("fit", "precision"), "float64", r"\[fit\] precision"),
    "jit_compile": (("fit", "jit_compile"), "yes", r"\[fit\] jit_compile"),
    "scale": (("data", "scale"), "centred", r"\[data\] scale"),
    "devices": (("distribute", "devices"), 0, r"\[distribute\] devices"),
    "optimizer name": (("optimizer", "name"), "rmsprop", r"\[optimizer\] name"),
    "negative rate": (("optimizer", "learning_rate"), -1.0, r"\[optimizer\] learning_rate"),
    "momentum 1": (("optimizer", "momentum"), 1.0, r"\[optimizer\] momentum"),
    "robust epsilons": (("eval", "robust_epsilons"), [-0.1], r"\[eval\] robust_epsilons"),
    "robust steps": (("eval", "robust_steps"), 0, r"\[eval\] robust_steps"),
    "card limitations": (("card", "limitations"), "one", r"\[card\] limitations"),
    "name with a slash": (("name",), "a/b", r"name must be a plain name"),
    "seed": (("seed",), -1, r"seed"),
    "top-level key": (("fitt",), {"epochs": 1}, r"unknown key\(s\) \['fitt'\] in the top "
                                                r"level"),
}


@pytest.mark.parametrize("case", BAD)
def test_schema_and_parser_refuse_the_same_recipes_naming_file_table_and_key(case):
    where, value, message = BAD[case]
    source = copy.deepcopy(SMALL)
    table = source
    for k in where[:-1]:
        table = table.setdefault(k, {})
    table[where[-1]] = value
    assert list(validator().iter_errors(source)), f"the schema accepts {case}"
    with pytest.raises(RecipeError, match=r"^recipes/mine\.toml: .*" + message):
        parse(source, "recipes/mine.toml")


def test_defaults_are_filled_in_once():
    spec = parse(SMALL)
    assert (spec.seed, spec.description, spec.data.bias, spec.data.scale) == (0, "", (),
                                                                               "unit")
    assert (spec.fit.batch_size, spec.fit.jit_compile, spec.fit.precision,
            spec.fit.workers) == (32, "auto", "float32", 1)
    (opt,) = spec.optimizers
    assert (opt.name, opt.learning_rate, opt.schedule, opt.keras_arguments()) == (
        "adam", 1e-3, "constant", {})
    assert (spec.eval.robust_steps, spec.eval.robust_step_ratio, spec.distribute.devices) == (
        10, 2.5, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.fit.epochs = 3


def test_player_tables_merge_over_the_shared_optimizer():
    source = {"name": "g", "data": {"name": "grid25"}, "net": {"arch": "mlp"},
              "game": {"name": "GAN"}, "fit": {"epochs": 1},
              "optimizer": {"learning_rate": 0.01, "beta_1": 0.5,
                            "critic": {"learning_rate": 0.03}}}
    gen, critic = parse(source).optimizers
    assert (gen.where, gen.learning_rate, gen.beta_1) == ("[optimizer.generator]", 0.01, 0.5)
    assert (critic.where, critic.learning_rate, critic.beta_1) == ("[optimizer.critic]", 0.03,
                                                                   0.5)


# Keys whose names are also ordinary words elsewhere in kzoo (a card's "name", a metric's
# "samples") are left out of the search below, and so are the dicts that hold the same words
# and are not recipes: a card, Keras' fit arguments and parameters, a checkpoint's identity.
GENERIC = {"name", "description", "seed", "samples", "features", "devices", "player"}
NOT_RECIPES = {"card", "kwargs", "self.params", 'progress["identity"]'}


def test_no_module_reads_a_recipe_key_from_a_table():
    keys = {f.name for cls in (recipe_spec.Data, recipe_spec.Player, recipe_spec.Optimizer,
                               recipe_spec.Fit, recipe_spec.Eval, recipe_spec.Card,
                               recipe_spec.Distribute) for f in recipe_spec.keys_of(cls)}
    names = "|".join(sorted(keys - GENERIC))
    pattern = re.compile(r"""([\w.]+(?:\[[^\]]*\])?)\.get\(\s*["'](""" + names + r""")["']""")
    typed = {"recipe_spec.py", "recipe_parse.py", "recipe_schema.py"}
    found = [f"{path.relative_to(ROOT)}: {m.group(0)}"
             for path in (ROOT / "kzoo").rglob("*.py") if path.name not in typed
             for m in pattern.finditer(path.read_text()) if m.group(1) not in NOT_RECIPES]
    assert not found
    assert pattern.search('recipe.source["fit"].get("batch_size", 32)')  # it can fail


def test_the_eval_table_is_the_roles_keys():
    served = set().union(*(role.eval_keys for role in roles.ROLES.values()))
    assert served == {f.name for f in recipe_spec.keys_of(recipe_spec.Eval)}


def test_the_reference_names_every_key():
    text = recipe_schema.reference_markdown()
    for cls in (recipe_spec.Spec, recipe_spec.Data, recipe_spec.Player, recipe_spec.Game,
                recipe_spec.Optimizer, recipe_spec.Fit, recipe_spec.Eval, recipe_spec.Card,
                recipe_spec.Distribute):
        for f in recipe_spec.keys_of(cls):
            if f.metadata["doc"]:
                name = "player" if f.name == "take" else f.name
                assert f"| `{name}` |" in text


def test_kzoo_recipe_prints_the_filled_in_recipe_or_the_schema(capsys):
    path = ROOT / "recipes" / "classifier" / "digits-lt10-ldam-drw.toml"
    assert cli.main(["recipe", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["fit"] == {"epochs": 60, "batch_size": 64, "jit_compile": "auto",
                              "precision": "float32", "workers": 1}
    assert printed["data"]["bias"] == [{"transform": "long_tail",
                                        "arguments": {"imbalance": 10}}]
    assert cli.main(["recipe", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(SCHEMA_FILE.read_text())
    assert cli.main(["recipe"]) == 2
    assert "give a recipe's path (several with --order), or --schema" in \
        capsys.readouterr().err


def test_kzoo_recipe_order_puts_a_recipe_after_the_presets_it_starts_from(capsys):
    """Each after the recipes whose preset or run (``preset = "runs/<name>"``) it starts from."""
    paths = sorted(str(p.relative_to(ROOT)) for p in RECIPES
                   if p.name.startswith(("fashion_mnist", "cifar10")))
    assert len(paths) >= 20
    assert cli.main(["recipe", "--order", *[str(ROOT / p) for p in paths]]) == 0
    order = [str(Path(line).relative_to(ROOT)) for line in capsys.readouterr().out.split()]
    assert sorted(order) == paths
    for path in paths:  # from the TOML text: each [net] preset that is one of these recipes
        net = tomllib.loads((ROOT / path).read_text())["net"]
        for start in [t["preset"] for t in [net, *net.values()] if isinstance(t, dict)
                      and "preset" in t]:
            first = next(p for p in paths if start.removeprefix("runs/")
                         == tomllib.loads((ROOT / p).read_text())["name"])
            assert order.index(first) < order.index(path)
    assert order.index("recipes/classifier/fashion_mnist-lt100-ce.toml") < \
        order.index("recipes/aegl/fashion_mnist-lt100.toml")
    assert order.index("recipes/robgan/cifar10.toml") < \
        order.index("recipes/robgan/cifar10-finetune.toml")
    # the data set's feature network (kzoo.data.registry) before a generator measured with it
    assert order.index("recipes/classifier/fashion_mnist-ce.toml") < \
        order.index("recipes/bad_data_gan/fashion_mnist-lt20.toml")


def test_kzoo_recipe_order_refuses_two_recipes_of_one_name(tmp_path, capsys):
    """Both would train into runs/<name>: one would be lost from the order."""
    text = (ROOT / "recipes/classifier/digits-ce.toml").read_text()
    (tmp_path / "a.toml").write_text(text)
    (tmp_path / "b.toml").write_text(text)
    assert cli.main(["recipe", "--order", str(tmp_path / "a.toml"), str(tmp_path / "b.toml")]) == 2
    assert f"a.toml and {tmp_path / 'b.toml'} are both named 'digits-cnn-ce'" in \
        capsys.readouterr().err


@once  # no backend
def test_the_outline_is_read_and_checked_before_any_backend(tmp_path):
    """``recipe_parse.outline`` is what ``kzoo train`` reads before Keras starts: the devices,
    epochs, name and sha256, and the refusals that need no backend."""
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    text = (ROOT / "recipes/classifier/digits-lt10-ce.toml").read_text() + \
        "\n[distribute]\ndevices = 2\n"
    good.write_text(text)
    bad.write_text(text.replace("devices = 2", "devices = 0"))
    code = (f"import sys; from kzoo import recipe_parse\n"
            f"print(*recipe_parse.outline({str(good)!r}))\n"
            f"try: recipe_parse.outline({str(bad)!r})\n"
            f"except ValueError as err: print(err)\n"
            f"print('keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    epochs = tomllib.loads(text)["fit"]["epochs"]
    sha256 = hashlib.sha256(good.read_bytes()).hexdigest()
    assert out[0] == f"digits-lt10-cnn-ce {epochs} 2 {sha256} False"  # no data of its own
    assert out[1] == f"{bad}: [distribute] devices must be an int >= 1; got 0."
    assert out[2] == "False"


@once  # no backend
def test_a_bad_key_is_refused_before_any_backend_starts(tmp_path):
    """``kzoo train`` and ``kzoo recipe`` answer a misspelt key without importing Keras."""
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "recipes/classifier/digits-lt10-ce.toml").read_text().replace(
        "[fit]", "[fit]\nbatchsize = 3"))
    for command in ("train", "recipe"):
        code = (f"import sys; from kzoo import cli\n"
                f"assert cli.main([{command!r}, {str(bad)!r}]) == 2\n"
                f"assert 'keras' not in sys.modules")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Did you mean 'batch_size'?" in done.stderr


@pytest.mark.parametrize("change, message", [
    ({"fitt": {"epochs": 1}}, r"unknown key\(s\) \['fitt'\] in the top level; .* "
                              r"Did you mean 'fit'\?$"),
    ({"fit": {"epochs": 1, "batchsize": 8}}, r"Did you mean 'batch_size'\?$"),
    ({"game": {"name": "Clasifier"}}, r"unknown game 'Clasifier'.* Did you mean "
                                      r"'Classifier'\?$"),
    ({"data": {"name": "fashion-mnist"}}, r"Did you mean 'fashion_mnist'\?$"),
])
def test_a_misspelt_name_is_answered_with_the_closest(change, message):
    with pytest.raises(RecipeError, match=message):
        parse({**SMALL, **change}, "r.toml")


def test_a_games_keys_are_its_own_not_keras():
    with pytest.raises(RecipeError, match=r"allowed: loss, .*\. Did you mean 'loss'\?$") as err:
        Recipe({**SMALL, "game": {"name": "Classifier", "los": "ce"}})
    assert not {"trainable", "dtype", "autocast"} & set(
        str(err.value).split("allowed: ")[1].split(".")[0].split(", "))


@pytest.mark.parametrize("edit, message", [
    ({"game": {"name": "Classifier", "lossx": "ce"}}, r"\['lossx'\] in \[game\]"),
    ({"net": {"arch": "small_cnn", "widht": 8}}, r"\['widht'\] in \[net\]; allowed: width"),
    ({"data": {"name": "digits", "bias": [{"kind": "long_tail", "imb": 10}]}},
     r"\['imb'\] in bias long_tail; allowed: imbalance, seed\.$"),
])
def test_a_misspelt_argument_is_refused_as_the_recipe_is_read(edit, message):
    """``kzoo recipe`` refuses it, and ``kzoo train`` before it loads data or builds nets."""
    with pytest.raises(RecipeError, match=r"^recipe: unknown key\(s\) " + message):
        Recipe({**SMALL, **edit})


@pytest.mark.parametrize("game, arch, hint", [
    ("Classifier", "small_cnn", "."), ("Classifier", "mlp", "."),
    ("GAN", "mlp", " (a class-conditional net: conditional = true)."),
    ("GAN", "dcgan", " (a class-conditional net: conditional = true)."),
])
def test_num_classes_is_the_datas_whatever_the_net(game, arch, hint):
    """Refused as such for a classifier and for a GAN's pair alike (the pair's ``mlp`` shares
    its name with a classifier's), not as an unknown key."""
    with pytest.raises(RecipeError, match=re.escape(
            f"recipe: [net] num_classes is set from the data; remove it{hint}")):
        Recipe({**SMALL, "game": {"name": game}, "net": {"arch": arch, "num_classes": 10}})


@pytest.mark.parametrize("name, found", [
    ("digits-lt10-ldam-drw", "classifier/digits-lt10-ldam-drw.toml"),  # its file name
    ("madry/digits", "madry/digits.toml"),  # folder and file name
    ("digits-lt10-cnn-ldam-drw", "classifier/digits-lt10-ldam-drw.toml"),  # its name
    ("digits-lt10-ldam-drw.toml", "classifier/digits-lt10-ldam-drw.toml"),
])
def test_a_shipped_recipe_is_found_by_name(name, found):
    assert locate(name) == RECIPES_DIR / found == ROOT / "recipes" / found
    assert Recipe.from_file(name).path == str(ROOT / "recipes" / found)


@pytest.mark.parametrize("name, message", [
    ("digits", r"'digits' names several shipped recipes: acgan/digits, madry/digits, "
               r"robgan/digits; name one of them\.$"),
    ("digits-lt10-ldam", r"no shipped recipe of that name \(kzoo recipes lists them\)\. "
                         r"Did you mean 'digits-lt10-ldam-drw'"),
])
def test_a_recipe_name_that_is_not_one_is_answered(name, message):
    with pytest.raises(RecipeError, match=message):
        locate(name)


def test_kzoo_recipes_lists_every_shipped_recipe(capsys):
    assert cli.main(["recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()[2:]
    assert sorted(line.split()[0] for line in lines) == sorted(
        p.relative_to(ROOT / "recipes").with_suffix("").as_posix() for p in RECIPES)
