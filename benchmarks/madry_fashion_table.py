"""Madry's PGD adversarial training against CE on Fashion-MNIST: the robust accuracy curve.

Fashion-MNIST from its published files (``kzoo.data.load("fashion_mnist")``); the small CNN
of width 32, Adam with a cosine schedule, 20 epochs at batch 128
(``recipes/madry/fashion_mnist.toml``). Madry trains on linf PGD-7 examples at epsilon 0.1
from a random start; CE is the same recipe with the attack removed (game ``Classifier``,
cross-entropy), so the two differ in nothing else. For seeds 0-2 (``--seeds``; the seed sets
the validation carve, the initialisation and the attack's random starts), each net's test
accuracy under the card's attack: linf PGD-20, steps of 2.5 epsilon / 20, from the clean
image, at epsilon 0, 0.05, 0.1, 0.15 and 0.2 ([0, 1] pixels), over the 10,000 test images.
Nothing is tuned. No paper of this zoo reports Madry's training on Fashion-MNIST; the table
has no paper column.

Each run is a ``kzoo.runs.train`` run directory under ``--runs`` (default ``runs/tables``):
an interrupted run resumes after its last finished epoch, and its card holds the curve.
Madry at seed 0 is its recipe file's own run, the preset ``fashion_mnist-cnn-madry`` (trained
on torch): with a copy of its directory under ``--runs``, a run of this script on torch does
not train it again (on another backend the copy is refused as another run: remove it).
Finished runs are cached one per method and seed in ``madry_fashion_runs.json`` under
``--out`` (``--shard I/N`` shares them out over processes); ``--report-only`` writes
``madry_fashion_table.md`` and ``madry_fashion_curve.png`` from the cache.

    python benchmarks/madry_fashion_table.py [--seeds 3] [--shard 0/1] [--runs runs/tables]
        [--report-only]
"""

import tomllib
from functools import partial
from pathlib import Path

from common import (
    ROOT,
    RUNS_OPTION,
    cost_line,
    markdown_table,
    not_run,
    paired,
    parse_args,
    ran_on,
    run_missing,
    save_figure,
    table_run,
    train_run,
)
from common import fmt_mean_std as fmt

from kzoo.metrics.plots import plt
from kzoo.recipes import Recipe

RECIPE = "madry/fashion_mnist.toml"
METHODS = {"CE": {"name": "Classifier", "loss": "ce"}, "Madry": None}  # None: the recipe's
PRESETS = {("Madry", 0)}  # the recipe file's own run: fashion_mnist-cnn-madry


def spec(method, seed):
    """``method`` at ``seed``: the recipe, its attack removed for CE, as a table's run (its
    own name and description, no AutoAttack, none of the preset's card text)."""
    s = tomllib.loads((ROOT / "recipes" / RECIPE).read_text())
    s["seed"] = seed
    if METHODS[method] is None:
        s["game"]["seed"] = seed
    else:
        s["game"] = dict(METHODS[method])
    table_run(s, f"fashion_mnist-madry-table-{method.lower()}-seed{seed}",
              f"{method} on Fashion-MNIST", seed, Path(__file__).name)
    s["eval"].pop("autoattack_epsilons")
    s["eval"].pop("autoattack_square_queries")
    return s


def recipe_of(method, seed):
    """The run's recipe: for Madry at seed 0, the recipe file as it is (``spec`` would
    change only its name and words and drop its AutoAttack evaluation), whose run is the
    preset's (a copy of the preset's directory under ``--runs`` is taken as the run on the
    preset's backend, torch, and refused as another run on any other: remove it there)."""
    if (method, seed) in PRESETS:
        return Recipe.from_file(ROOT / "recipes" / RECIPE)
    return Recipe(spec(method, seed))


def run_one(method, seed, runs_dir):
    return train_run(recipe_of(method, seed), runs_dir)


def units(seeds):
    """The table's runs, method first, so that --shard shares each method's runs out
    (Madry's cost the most)."""
    return [(method, seed) for method in METHODS for seed in range(seeds)]


def key(method, seed):
    return f"{method}|{seed}"


def epsilons():
    return Recipe(spec("Madry", 0)).spec.eval.robust_epsilons


def tables(results, seeds, backends):
    cols = [f"robust_accuracy@{e:g}" for e in epsilons()]

    def cells(method, metric):
        return [r[metric] for s in range(seeds) if (r := results.get(key(method, s)))]

    head = ["method", *(f"epsilon {e:g}" for e in epsilons())]
    lines = [f"Fashion-MNIST, test accuracy in % under linf PGD-20 (epsilon 0: clean), mean +- "
             f"std over {seeds} seeds ({backends}; `python "
             f"benchmarks/madry_fashion_table.py`). No paper of this zoo reports it.", ""]
    lines += markdown_table(head, [[m, *(fmt(cells(m, c), of=seeds) for c in cols)]
                                   for m in METHODS])
    lines += ["", "Madry - CE (paired over seeds, points, mean [95% interval], verdict on "
              "Madry):", ""]
    lines += markdown_table(["a - b", *head[1:]], [["Madry - CE", *(
        paired(results, lambda s: key("Madry", s), lambda s: key("CE", s), c, seeds,
               higher_is_better=True, mark_short=True) for c in cols)]])
    lines += ["", cost_line({m: [r for i in range(seeds) if (r := results.get(key(m, i)))]
                             for m in METHODS}, "seeds")]
    return "\n".join(lines)


def figure(results, seeds, path):
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for method in METHODS:
        runs = [results[key(method, s)] for s in range(seeds) if key(method, s) in results]
        if runs:
            acc = [[100 * r[f"robust_accuracy@{e:g}"] for e in epsilons()] for r in runs]
            mean = [sum(col) / len(col) for col in zip(*acc)]
            label = f"{method} ({len(runs)} seed{'s' * (len(runs) > 1)})"
            ax.plot(epsilons(), mean, "o-", label=label)
    ax.set(xlabel="epsilon (linf, [0, 1] pixels)", ylabel="test accuracy under PGD-20 (%)",
           title="Fashion-MNIST, small CNN")
    save_figure(fig, [ax], path)


def main():
    args, out = parse_args(__doc__, seeds=3, shards=True, options=[RUNS_OPTION])
    cache = out / "madry_fashion_runs.json"
    jobs = units(args.seeds)
    results = run_missing(cache, jobs, key, partial(run_one, runs_dir=args.runs), args,
                          lambda row: (
        f"clean {row['accuracy']:.4f}, at 0.1 {row['robust_accuracy@0.1']:.4f}"))
    if results is None:
        return
    not_run(results, jobs, key)
    text = tables(results, args.seeds, ran_on(cache))
    print("\n" + text)
    (out / "madry_fashion_table.md").write_text(text + "\n")
    figure(results, args.seeds, out / "madry_fashion_curve.png")


if __name__ == "__main__":
    main()
