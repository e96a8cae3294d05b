"""Meta-IADA against CE, LDAM-DRW and its meta-set control on Fashion-MNIST under 40% label noise.

Fashion-MNIST from its published files (``kzoo.data.load("fashion_mnist")``), 100 images per
class of the training split held out with their clean labels as Meta-IADA's meta set, then
40% of the other training labels corrupted: uniformly (another class at random) or by pair
flip (class c labelled c + 1). The test set is clean. For seeds 0-2 (``--seeds``; the seed
sets the validation carve, the meta set, the noise, the initialisation), four methods, all
with the small CNN of width 32, SGD with a cosine schedule, 30 epochs at batch 128:

- CE (``recipes/classifier/fashion_mnist-flip40-ce.toml``);
- CE + meta set, the control: CE on the training split plus the meta set (Meta-IADA sees
  those 1,000 clean images, CE does not);
- LDAM-DRW (the loss, cosine head and re-weighting from epoch 23 of
  ``recipes/classifier/fashion_mnist-lt100-ldam-drw.toml``, on this data);
- Meta-IADA (``recipes/meta_iada/fashion_mnist-flip40.toml``: 10 epochs of CE, then 20 of
  meta steps; alpha 0.5 and beta 1, its paper's defaults).

Nothing is tuned: every setting is the recipes'. No paper reports these methods on
Fashion-MNIST with label noise; the table has no paper column.

Each run is a ``kzoo.runs.train`` run directory under ``--runs`` (default ``runs/tables``):
an interrupted run resumes after its last finished epoch. CE and Meta-IADA under pair flips
at seed 0 are their recipe files' own runs, the presets ``fashion_mnist-flip40-cnn-ce`` and
``fashion_mnist-flip40-cnn-meta-iada``: with a copy of a preset's directory under ``--runs``
its run is not trained again on the preset's backend (TensorFlow; on another, the copy is
refused as another run: remove it). Finished runs are cached one per
setting, method and seed in ``meta_iada_fashion_runs.json`` under ``--out`` (``--shard I/N``
shares them out over processes; a rerun trains only what is missing); ``--report-only``
writes ``meta_iada_fashion_table.md`` from the cache, and copies the adversarial shares of
Meta-IADA's seed-0 runs (``epsilon_shares.png``: per class, and noisy against clean labels,
the paper's figures 3 and 4) where they are under ``--runs``, as
``meta_iada_fashion_epsilon_shares_{uniform40,flip40}.png``.

    python benchmarks/meta_iada_fashion_table.py [--seeds 3] [--shard 0/1] [--runs runs/tables]
        [--report-only]
"""

import re
import shutil
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
    table_run,
    train_run,
)
from common import fmt_mean_std as fmt

from kzoo.recipes import Recipe

META = {"kind": "meta_split", "per_class": 100}
SETTINGS = {name: [META, {"transform": "label_noise", "rate": 0.4, "kind": kind}]
            for name, kind in (("uniform 40%", "uniform"), ("flip 40%", "flip"))}
METHODS = {  # name: (recipe, extra bias steps)
    "CE": ("classifier/fashion_mnist-flip40-ce.toml", []),
    "CE + meta set": ("classifier/fashion_mnist-flip40-ce.toml", [{"kind": "meta_merge"}]),
    "LDAM-DRW": ("classifier/fashion_mnist-lt100-ldam-drw.toml", []),
    "Meta-IADA": ("meta_iada/fashion_mnist-flip40.toml", []),  # its 4,150 warm-up steps: 10
}  # epochs of the 53,000 images left after the meta set, whatever the noise
BASELINES = [m for m in METHODS if m != "Meta-IADA"]
PRESETS = {("flip 40%", "CE", 0), ("flip 40%", "Meta-IADA", 0)}  # their recipe files' own runs


def spec(method, setting, seed):
    """``method``'s recipe on ``setting``'s data at ``seed``, as a table's run (its own
    name and description, none of a preset's card text)."""
    recipe, extra = METHODS[method]
    s = tomllib.loads((ROOT / "recipes" / recipe).read_text())
    s["seed"] = seed
    s["data"] = {"name": "fashion_mnist",
                 "bias": [{**b, "seed": seed} for b in SETTINGS[setting]] + extra}
    if s["game"]["name"] == "MetaIADA":
        s["game"]["seed"] = seed
    slug = re.sub(r"[^a-z0-9]+", "-", f"{setting} {method}".lower()).strip("-")
    return table_run(s, f"fashion_mnist-{slug}-seed{seed}",
                     f"{method} on Fashion-MNIST under {setting} label noise", seed,
                     Path(__file__).name)


def recipe_of(setting, method, seed):
    """The run's recipe: for CE and Meta-IADA under pair flips at seed 0, the recipe file as
    it is (``spec`` would change only its name and words), whose run is the preset's (a copy
    of the preset's directory under ``--runs`` is taken as the run on the preset's backend,
    and refused as another run on any other: remove it there)."""
    path = ROOT / "recipes" / METHODS[method][0]
    if (setting, method, seed) in PRESETS:
        return Recipe.from_file(path)
    return Recipe(spec(method, setting, seed))


def run_one(setting, method, seed, runs_dir):
    return train_run(recipe_of(setting, method, seed), runs_dir)


def units(seeds):
    """The table's runs, method first, so that --shard shares each method's runs out
    (Meta-IADA's cost the most)."""
    return [(setting, method, seed) for method in METHODS for setting in SETTINGS
            for seed in range(seeds)]


def key(setting, method, seed):
    return f"{setting}|{method}|{seed}"


def tables(results, seeds, backends):
    def run(method, setting):
        return lambda s: key(setting, method, s)

    def cells(method, setting, metric="accuracy"):
        return [r[metric] for s in range(seeds) if (r := results.get(key(setting, method, s)))]

    head = ["method", *SETTINGS]
    lines = [f"Fashion-MNIST under 40% label noise (100 clean images per class held out as the "
             f"meta set), clean test set, accuracy in %, mean +- std over {seeds} seeds "
             f"({backends}; `python benchmarks/meta_iada_fashion_table.py`). No paper "
             f"reports these methods on this data.", ""]
    lines += markdown_table(head, [[m, *(fmt(cells(m, s), of=seeds) for s in SETTINGS)]
                                   for m in METHODS])
    lines += ["", "Meta-IADA - baseline (paired over seeds, test accuracy in points, mean [95% "
              "interval], verdict on Meta-IADA):", ""]
    lines += markdown_table(["a - b", *head[1:]], [[f"Meta-IADA - {b}", *(
        paired(results, run("Meta-IADA", s), run(b, s), "accuracy", seeds,
               higher_is_better=True, mark_short=True) for s in SETTINGS)] for b in BASELINES])
    lines += ["", "The baselines against CE (paired over seeds, points, mean [95% interval], "
              "verdict on the baseline, a):", ""]
    lines += markdown_table(["a - b", *head[1:]], [[f"{b} - CE", *(
        paired(results, run(b, s), run("CE", s), "accuracy", seeds, higher_is_better=True,
               mark_short=True) for s in SETTINGS)] for b in BASELINES[1:]])
    lines += ["", cost_line({m: [r for s in SETTINGS for i in range(seeds)
                                 if (r := results.get(key(s, m, i)))] for m in METHODS},
                            "settings and seeds")]
    return "\n".join(lines)


def main():
    args, out = parse_args(__doc__, seeds=3, shards=True, options=[RUNS_OPTION])
    cache = out / "meta_iada_fashion_runs.json"
    jobs = units(args.seeds)
    results = run_missing(cache, jobs, key, partial(run_one, runs_dir=args.runs), args,
                          lambda row: f"accuracy {row['accuracy']:.4f}")
    if results is None:
        return
    not_run(results, jobs, key)
    text = tables(results, args.seeds, ran_on(cache))
    print("\n" + text)
    (out / "meta_iada_fashion_table.md").write_text(text + "\n")
    for setting in SETTINGS:  # the paper's figures 3 and 4, from seed 0's run where it is here
        figure = Path(args.runs) / recipe_of(setting, "Meta-IADA", 0).name / "epsilon_shares.png"
        if figure.is_file():
            slug = re.sub(r"[^a-z0-9]+", "", setting)
            shutil.copyfile(figure, out / f"meta_iada_fashion_epsilon_shares_{slug}.png")


if __name__ == "__main__":
    main()
