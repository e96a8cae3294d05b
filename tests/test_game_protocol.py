"""The game protocol end to end: a game defined outside kzoo (tests/gan_with_classifier.py)
that serves a classifier and a generator trains from a recipe naming each player and each
optimizer, and every command works on its run."""

import json

import numpy as np
import pytest
from conftest import ROOT, once
from gan_with_classifier import GANWithClassifier

from kzoo import cli, games, recipes, zoo

RECIPE = ROOT / "tests" / "recipes" / "digits-gan-with-classifier.toml"
NAME = "gan_with_classifier:GANWithClassifier"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("protocol") / "run"
    assert cli.main(["train", str(RECIPE), "--out", str(out), "--quiet"]) == 0
    return out


def test_defining_the_class_registers_it():
    assert games.get(NAME) is GANWithClassifier and games.GAMES[NAME] is GANWithClassifier
    assert games.get("Classifier") is games.Classifier
    with pytest.raises(ValueError, match="unknown game 'Nope'; allowed: .*Classifier"):
        games.get("Nope")
    with pytest.raises(ValueError, match="cannot import 'no_such_module'"):
        games.get("no_such_module:Game")


def test_recipe_builds_every_player_and_optimizer():
    recipe = recipes.Recipe.from_file(RECIPE)
    ds = recipe.dataset()
    game = recipe.build(ds)
    assert isinstance(game, GANWithClassifier) and recipe.serves == ("classifier", "generator")
    assert game.generator.name == "dcgan_generator" and game.latent_dim == 16
    assert game.classifier.output_shape == (None, 10)
    rates = {p: float(np.asarray(game.optimizer[p].learning_rate)) for p in game.players}
    assert rates == pytest.approx({"generator": 2e-4, "critic": 2e-4, "classifier": 2e-3})
    assert float(np.asarray(game.optimizer["critic"].beta_1)) == pytest.approx(0.5)


def test_card_holds_both_reports(run):
    card = zoo.ModelCard.read(run)
    assert card.game == NAME and card.serves == ("classifier", "generator")
    m = card.metrics
    assert {"accuracy", "balanced_accuracy", "robust_accuracy@0.05",
            "frechet_classifier_distance", "classifier_score"} <= set(m)
    assert {p.name for p in run.iterdir()} >= {"confusion.png", "robust.png", "samples.png",
                                              "curves.png"}
    line = card.headline()
    assert line.startswith("accuracy ") and "FCD " in line


def test_training_and_validation_log_the_same_names(run):
    model = zoo.load(run)
    assert isinstance(model, GANWithClassifier) and model.serves == ("classifier", "generator")
    ds = recipes.Recipe.from_file(RECIPE).dataset()
    model.compile()
    history = model.fit(ds.x_train[:64], ds.y_train[:64], batch_size=32, epochs=1, verbose=0,
                        validation_data=(ds.x_val[:32], ds.y_val[:32])).history
    assert {"d_loss", "g_loss", "loss", "accuracy"} <= set(history)
    assert all(f"val_{k}" in history for k in ("d_loss", "g_loss", "loss", "accuracy"))


def test_eval_sample_and_list_work_on_the_run(run, tmp_path, capsys):
    assert cli.main(["eval", str(run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reproduced"] and "accuracy" in report["metrics"]
    out = tmp_path / "grid.png"
    assert cli.main(["sample", str(run), "--out", str(out), "--n", "16"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@once
def test_compare_backends_on_a_game_serving_both(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "tests"))
    command = ["compare-backends", str(RECIPE), "--backends", "torch,jax", "--epochs", "1",
               "--out", str(tmp_path)]
    assert cli.main(command) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("backend"))
    assert "accuracy" in header and "frechet_classifier_distance" in header
    assert "failed" not in table
    cards = {b: zoo.ModelCard.read(tmp_path / b) for b in ("torch", "jax")}  # kept in --out
    for b, card in cards.items():
        row = next(line for line in lines if line.startswith(b)).split()
        assert row[-3] == str(round(card.wall_time_s)) and row[-2].isdigit()  # whole seconds
    assert cli.main(command) == 0  # the finished runs are not trained again
    assert {b: zoo.ModelCard.read(tmp_path / b) for b in cards} == cards


def test_players_start_from_a_run_directory(run):
    ds_spec = {"name": "digits"}
    classifier = recipes.Recipe({"name": "c", "data": ds_spec, "net": {"preset": str(run)},
                                 "game": {"name": "Classifier"}, "fit": {"epochs": 1}})
    source = zoo.load(run)
    game = classifier.build(classifier.dataset())
    np.testing.assert_array_equal(game.net.get_weights()[0], source.classifier.get_weights()[0])
    pair = recipes.Recipe({"name": "g", "data": ds_spec, "game": {"name": "GAN"},
                           "net": {"generator": {"preset": str(run)},
                                   "critic": {"preset": str(run), "player": "critic"}},
                           "fit": {"epochs": 1}})
    gan = pair.build(pair.dataset())
    assert gan.latent_dim == source.latent_dim
    np.testing.assert_array_equal(gan.critic.get_weights()[0], source.critic.get_weights()[0])
    bad = {**pair.source, "net": {**pair.source["net"],
                                "generator": {"preset": str(run), "player": "head"}}}
    with pytest.raises(recipes.RecipeError, match=r"\[net.generator\]: .* with players "
                                                  r"generator, critic, classifier"):
        recipes.Recipe(bad).build(pair.dataset())


def test_recipes_refuse_players_and_eval_keys_the_game_does_not_have():
    spec = json.loads(json.dumps(recipes.Recipe.from_file(RECIPE).source))
    spec["net"]["head"] = {"arch": "small_cnn"}
    with pytest.raises(recipes.RecipeError, match=r"\[net.head\]: .* has no player 'head'; "
                                                  r"its players: generator, critic, "
                                                  r"classifier"):
        recipes.Recipe(spec)
    gan = {"name": "g", "data": {"name": "mnist"}, "game": {"name": "GAN"},
           "net": {"arch": "dcgan"}, "fit": {"epochs": 1}}
    with pytest.raises(recipes.RecipeError, match=r"\[eval\] features: the zoo has no "
                                                  r"feature network for 'mnist'"):
        recipes.Recipe(gan)
    recipes.Recipe({**gan, "eval": {"features": "runs/mnist-cnn"}})  # named: accepted
    both = {**gan, "net": {"arch": "dcgan", "critic": {"arch": "dcgan_critic"}},
            "eval": {"features": "x"}}
    with pytest.raises(recipes.RecipeError, match=r"\[net\] keys and a \[net.critic\] "
                                                  r"table both configure 'critic' \(\[net\]'s "
                                                  r"keys build generator and critic\)"):
        recipes.Recipe(both)
    with pytest.raises(recipes.RecipeError, match=r"GAN needs a net for each of its players "
                                                  r"generator, critic; no \[net.critic\]"):
        recipes.Recipe({**both, "net": {"generator": {"arch": "dcgan_generator"}}})
    with pytest.raises(recipes.RecipeError, match=r"\['robust_epsilons'\] do not apply to "
                                                  r"GAN, which serves generator"):
        recipes.Recipe({**gan, "eval": {"features": "x", "robust_epsilons": [0.1]}})
