"""What a card says beyond its numbers, and the card as Markdown.

``kzoo train`` writes, beside the metrics, the intended use, the limitations, the licences
(code and weights; the data's), and how the numbers were measured (the split, its size, every
setting of the attack behind a robust number). ``markdown(card)`` is what ``kzoo card NAME``
prints and what each run directory and preset holds as ``README.md``.

A recipe may add to them in a ``[card]`` table: ``intended_use`` (replaces the default
sentence) and ``limitations`` (a list of sentences added to the defaults).

Examples:
    >>> from kzoo import cards, zoo
    >>> print(cards.markdown(zoo.read_card(zoo.resolve("digits-cnn-madry"))))
"""

from kzoo import roles
from kzoo.data import registry

README = "README.md"
LICENCE = "Apache-2.0"
BIAS_WORDS = {
    "long_tail": "a long-tailed training set (its tail classes are weaker: see the per-class "
                 "accuracies)",
    "label_noise": "corrupted training labels",
    "reduce": "a reduced training set",
    "spurious_colour": "a training set whose colour goes with the label, unlike its test set",
    "corrupt_test": "clean training data, tested on corrupted images",
    "meta_split": "a training set less a small clean meta set taken from it",
}


def describe(game, ds, recipe):
    """The card fields of a run of ``recipe`` (``game`` trained on ``ds``)."""
    extra = recipe.spec.card
    return {
        "description": recipe.spec.description,
        "intended_use": extra.intended_use or _intended_use(game, ds),
        "limitations": _limitations(game, ds, recipe) + list(extra.limitations),
        "licence": {"code_and_weights": LICENCE, "data": registry.get(ds.name).licence},
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


def _limitations(game, ds, recipe):
    shape = "x".join(map(str, ds.input_shape))
    others = "Fashion-MNIST, CIFAR" if ds.name == "mnist" else "MNIST, CIFAR"
    out = [f"Trained and tested only on {registry.get(ds.name).description}, inputs {shape}; "
           f"it is not a model of {others} or any other data set."]
    for step in recipe.spec.data.bias:
        settings = ", ".join(f"{k} {v}" for k, v in step.arguments.items())
        out.append(f"Trained on {BIAS_WORDS[step.transform]}"
                   + (f" ({settings})." if settings else "."))
    for role in roles.of(game.serves):
        out += role.limitations(game, ds, recipe)
    return out


def markdown(card):
    """The card as Markdown: what ``kzoo card NAME`` prints and README.md holds."""
    ev, licence = card.get("evaluation", {}), card.get("licence", {})
    lines = [f"# {card['name']}", ""]
    if card.get("description"):
        lines += [card["description"], ""]
    lines += [f"- **Serves**: {card.get('served', ', '.join(card.get('serves', [])))}",
              f"- **Game**: {card['game']} ({card.get('paper', '')})",
              f"- **Intended use**: {card.get('intended_use', 'not stated')}",
              f"- **Licence**: code and weights {licence.get('code_and_weights', '?')}; "
              f"data: {licence.get('data', '?')}", "",
              "## Limitations", ""]
    lines += [f"- {x}" for x in card.get("limitations", ["not stated"])]
    lines += ["", f"## Evaluation: {ev.get('split', card.get('metrics_split', 'test'))} split, "
                  f"{ev.get('test_examples', '?')} examples", "",
              f"Reproduce with `{card.get('metrics_command', 'kzoo eval ' + card['name'])}`.",
              "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |"
              for k, v in card["metrics"].items()]
    for role in roles.of(card.get("serves", [])):
        lines += role.markdown(card)
    lines += ["", "## Training", "",
              f"- recipe `{card.get('recipe')}` (sha256 {str(card.get('recipe_sha256'))[:12]}), "
              f"seed {card.get('seed')}, {card.get('epochs')} epochs",
              f"- data: {card['data'].get('summary', '')}",
              f"- {card['backend']} backend, {_versions(card)}; {card.get('machine', '?')}; "
              f"{card.get('wall_time_s', '?')} s, {card.get('ms_per_step', '?')} ms per step"
              + _devices(card),
              f"- model.keras sha256 {card['sha256']}", "",
              "## Use", "", "```python", "import kzoo", "",
              f"model = kzoo.load({card['name']!r})", "```", ""]
    return "\n".join(lines)


def _devices(card):
    devices = card.get("devices") or {}
    if devices.get("count", 1) == 1:
        return ""
    return f"; data parallel on {devices['count']} devices ({devices['engine']})"


def _versions(card):
    return ", ".join(f"{k} {v}" for k, v in card.get("versions", {}).items())
