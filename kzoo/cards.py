"""What a card says beyond its numbers (``kzoo.model_card.ModelCard`` holds and shows it).

``kzoo train`` writes, beside the metrics, the intended use, the limitations, the licences
(code and weights; the data's), and how the numbers were measured (the split, its size, every
setting of the attack behind a robust number).

A recipe may add to them in a ``[card]`` table: ``intended_use`` (replaces the default
sentence) and ``limitations`` (a list of sentences added to the defaults).

Examples:
    >>> fields = cards.describe(game, ds, recipe)   # description, use, limits, evaluation
"""

from kzoo import roles
from kzoo.data import registry

LICENCE = "Apache-2.0"
BIAS_WORDS = {
    "long_tail": "a long-tailed training set (its tail classes are weaker: see the per-class "
                 "accuracies)",
    "label_noise": "corrupted training labels",
    "reduce": "a reduced training set",
    "spurious_colour": "a training set whose colour goes with the label, unlike its test set",
    "corrupt_test": "clean training data, tested on corrupted images",
    "meta_split": "a training set less a small clean meta set taken from it",
    "meta_merge": "a training set whose clean meta set was put back into it",
}


def describe(game, ds, recipe):
    """The card fields of a run of ``recipe`` (``game`` trained on ``ds``)."""
    extra = recipe.spec.card
    return {
        "description": recipe.spec.description,
        "intended_use": extra.intended_use or _intended_use(game, ds),
        "limitations": _limitations(game, ds, recipe) + list(extra.limitations),
        "licence": {"code_and_weights": LICENCE, "data": _data_terms(ds, recipe)[1]},
        "evaluation": evaluation(game, ds, recipe),
    }


def evaluation(game, ds, recipe):
    """How the card's numbers are measured: split, size, and each part's settings (the
    attack behind a robust number, a generator's samples and features)."""
    out = {"split": "test", "test_examples": int(len(ds.y_test))}
    for role in roles.of(game.serves):
        out.update(role.evaluation(game, ds, recipe))
    return out


def _intended_use(game, ds):
    parts = " and ".join(role.intended_use(ds) for role in roles.of(game.serves))
    return (f"Research and teaching on learning from bad data: {parts}. Not for decisions "
            f"about people or anything in production.")


def _data_terms(ds, recipe):
    """``(description, licence)`` of the data: its registry entry's, or, for your own data
    (``[data] path``), its file's name and the licence left to you."""
    path = recipe.spec.data.path
    if path is None:
        entry = registry.get(ds.name)
        return entry.description, entry.licence
    return (f"your own data {ds.name!r} ({path}; its sha256 is in the provenance)",
            f"not recorded: the terms of {path} are its owner's")


def _limitations(game, ds, recipe):
    shape = "x".join(map(str, ds.input_shape))
    others = {"mnist": "Fashion-MNIST, CIFAR", "cifar10": "MNIST, CIFAR-100",
              "cifar100": "MNIST, CIFAR-10"}.get(ds.name, "MNIST, CIFAR")
    out = [f"Trained and tested only on {_data_terms(ds, recipe)[0]}, inputs {shape}; "
           f"it is not a model of {others} or any other data set."]
    for step in recipe.spec.data.bias:
        settings = ", ".join(f"{k} {v}" for k, v in step.arguments.items())
        out.append(f"Trained on {BIAS_WORDS[step.transform]}"
                   + (f" ({settings})." if settings else "."))
    for role in roles.of(game.serves):
        out += role.limitations(game, ds, recipe)
    return out

