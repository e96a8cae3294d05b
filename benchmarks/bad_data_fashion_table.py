"""BadDataGAN's Table 1, Fashion-MNIST column, re-run: long-tailed at imbalance 100 and 20.

Guo et al. (2019), table 1, on Fashion-MNIST at imbalance factors 100 / 20 / 1: classifier
79.89 / 87.33 / 93.46, DAGAN 77.63 / 86.30 / 92.87, class-balanced loss 83.77 / 89.97 /
93.43, theirs 83.06 / 89.03 / 93.24 (test accuracy, %). Here the training split of
Fashion-MNIST's published files (``kzoo.data.load("fashion_mnist")``) is made long-tailed
(exponential profile) at imbalance 100 and 20; the test set stays balanced. IF 1 (the whole
set) is left out: its GAN runs would take a CPU four times as long as IF 100's. Methods, all
with the nets, optimizers and budget of ``recipes/bad_data_gan/fashion_mnist-lt100.toml`` and
``-lt20.toml`` (C: the small CNN of width 32, SGD 0.05 with a cosine schedule; a
conditional WGAN-GP pair of width 32; 20 epochs at batch 64; eps 0.3, the paper's best on
CIFAR-10 at IF 10 (its figure 2d, the only setting it searched), fixed before any run):

- C alone: cross-entropy on the data;
- class-balanced loss (Cui et al., beta 0.9999);
- DAGAN-style: C on the data and on samples of "GAN w/o C", the conditional GAN trained
  first without C (BadDataGAN's ``generator_role = "independent"``);
- cooperative G: the generator helps C instead of opposing it;
- BadDataGAN (W): the Wasserstein form, the generator against C within eps of the data.

Seeds 0..n-1 (``--seeds``, default 3) set the validation carve, the long-tail draw and the
initialisation. Each method is compared with C alone, and BadDataGAN with each other method,
by the paired 95% interval over the seeds, in test accuracy and in tail accuracy (the
classes with at most n_max * IF^(-2/3) training images, ``kzoo.metrics.shot_groups``).
Seed 0 of BadDataGAN (W) is the recipes unchanged: ``recipes/bad_data_gan/fashion_mnist-lt100.toml``
(the ``fashion_mnist-lt100-cnn-bad-data-gan`` preset's run) and ``fashion_mnist-lt20.toml``.

Each run is a ``kzoo.runs.train`` run directory under ``--runs`` (default ``runs/tables``):
an interrupted run resumes after its last finished epoch. Finished runs are cached in
``bad_data_fashion_runs.json`` under ``--out`` (``--shard I/N`` shares them out over
processes); ``--report-only`` writes ``bad_data_fashion_table.md`` from the cache.

    python benchmarks/bad_data_fashion_table.py [--seeds 3] [--shard 0/1] [--runs runs/tables]
        [--report-only]
"""

import re
import tomllib
from functools import partial
from pathlib import Path

from common import (
    ROOT,
    RUNS_OPTION,
    WALL_TIME,
    fmt_mean_std,
    markdown_table,
    not_run,
    paired,
    parse_args,
    ran_on,
    run_missing,
    table_run,
    train_run,
)

from kzoo.recipes import Recipe

PROTOCOLS = {"IF 100": 100, "IF 20": 20}  # recipes/bad_data_gan/fashion_mnist-lt<IF>.toml
PAPER = {  # Guo et al. 2019, table 1, Fashion-MNIST, test accuracy in %
    "C alone": (79.89, 87.33), "Class-balanced": (83.77, 89.97),
    "DAGAN-style": (77.63, 86.30), "Cooperative G": (None, None),
    "BadDataGAN (W)": (83.06, 89.03)}
GAME = {  # a method's [game] against the recipe's
    "GAN w/o C": {"generator_role": "independent"},
    "Cooperative G": {"generator_role": "cooperative"},
    "BadDataGAN (W)": {},
}
METHODS = list(PAPER)
METRICS = {"accuracy": "accuracy", "tail_accuracy": "tail accuracy"}


def classifier_spec(s, loss):
    """The recipe ``s``'s classifier alone, trained with ``loss`` on the same data and budget."""
    return {"name": s["name"], "description": s["description"], "seed": s["seed"],
            "data": s["data"],
            "net": s["net"]["classifier"], "game": {"name": "Classifier", "loss": loss},
            "optimizer": s["optimizer"]["classifier"], "fit": s["fit"]}


def recipe_of(protocol, method, seed, runs_dir):
    """The recipe of ``method`` at ``protocol`` and ``seed`` (DAGAN-style's generator: the
    run of GAN w/o C of the same protocol and seed, under ``runs_dir``)."""
    path = ROOT / "recipes" / "bad_data_gan" / f"fashion_mnist-lt{PROTOCOLS[protocol]}.toml"
    if (method, seed) == ("BadDataGAN (W)", 0):
        return Recipe.from_file(path)
    s = tomllib.loads(path.read_text())
    tag = re.sub(r"[^a-z0-9]+", "-", method.lower()).strip("-")
    table_run(s, f"fashion_mnist-lt{PROTOCOLS[protocol]}-{tag}-seed{seed}",
              f"{method} on Fashion-MNIST long-tailed at imbalance {PROTOCOLS[protocol]}",
              seed, Path(__file__).name)
    s["seed"] = s["game"]["seed"] = seed
    s["data"]["bias"] = [{**b, "seed": seed} for b in s["data"]["bias"]]
    if method in GAME:
        s["game"].update(GAME[method])
        return Recipe(s)
    if method == "DAGAN-style":
        gan = recipe_of(protocol, "GAN w/o C", seed, runs_dir).name
        c = classifier_spec(s, "ce")
        c["net"] = {**c["net"], "generator": {"preset": f"{runs_dir}/{gan}"}}
        c["game"] = {"name": "GeneratorAugmented", "loss": "ce", "labels": "empirical",
                     "seed": seed}
        return Recipe(c)
    return Recipe(classifier_spec(s, {"C alone": "ce", "Class-balanced": "class_balanced"}[method]))


def run_one(protocol, method, seed, runs_dir):
    """The card's metrics of ``method`` at ``protocol`` and ``seed`` (DAGAN-style's GAN w/o C
    trained first)."""
    gan = {"wall_s": 0.0}
    if method == "DAGAN-style":  # its wall time counts its generator's
        gan = train_run(recipe_of(protocol, "GAN w/o C", seed, runs_dir), runs_dir)
    row = train_run(recipe_of(protocol, method, seed, runs_dir), runs_dir)
    return {**row, "wall_s": row["wall_s"] + gan["wall_s"]}


def key(protocol, method, seed):
    return f"{protocol}|{method}|{seed}"


def tables(results, seeds, backends):
    def cells(method, protocol, metric):
        return [r[metric] for s in range(seeds) if (r := results.get(key(protocol, method, s)))]

    def run(method, protocol):
        return lambda s: key(protocol, method, s)

    lines = [f"Fashion-MNIST long-tailed, test accuracy in % on the balanced test set (where "
             f"accuracy equals balanced accuracy), mean +- std over {seeds} seeds, the "
             f"paper's test accuracy beside ({backends}; "
             f"`python benchmarks/bad_data_fashion_table.py`). Tail accuracy: the classes in "
             f"the lowest third of the log-range of training counts (kzoo.metrics.shot_groups: "
             f"the 4 rarest). Wall time: training, DAGAN-style's with its GAN w/o C's. "
             f"{WALL_TIME}", ""]
    head = ["method", *(f"{p} {m}" for p in PROTOCOLS for m in METRICS.values()),
            *(f"paper, {p}" for p in PROTOCOLS), "wall s, IF 100"]
    lines += markdown_table(head, [
        [m, *(fmt_mean_std(cells(m, p, k), of=seeds) for p in PROTOCOLS for k in METRICS),
         *("-" if v is None else f"{v:.2f}" for v in PAPER[m]),
         fmt_mean_std(cells(m, "IF 100", "wall_s"), 1.0, 0, of=seeds)] for m in METHODS])
    pairs = [(m, "C alone") for m in METHODS[1:]] + [
        ("BadDataGAN (W)", m) for m in METHODS[1:-1]]
    lines += ["", "Paired over seeds, in points, mean [95% interval], verdict on the first:", ""]
    lines += markdown_table(["a - b", *head[1:1 + len(PROTOCOLS) * len(METRICS)]], [
        [f"{a} - {b}", *(paired(results, run(a, p), run(b, p), k, seeds, higher_is_better=True,
                                mark_short=True)
                         for p in PROTOCOLS for k in METRICS)] for a, b in pairs])
    return "\n".join(lines)


def units(seeds):
    """The table's runs, seed first, each method's two protocols side by side, the one first
    in turn (IF 20's runs are longer than IF 100's), so that two shards share the cost."""
    return [(p, m, seed) for seed in range(seeds) for i, m in enumerate(METHODS)
            for p in (list(PROTOCOLS) if (i + seed) % 2 == 0 else list(PROTOCOLS)[::-1])]


def main():
    args, out = parse_args(__doc__, seeds=3, shards=True, options=[RUNS_OPTION])
    cache = out / "bad_data_fashion_runs.json"
    jobs = units(args.seeds)
    results = run_missing(cache, jobs, key, partial(run_one, runs_dir=args.runs), args,
                          lambda row: f"accuracy {row['accuracy']:.4f}, {row['wall_s']:.0f} s")
    if results is None:
        return
    not_run(results, jobs, key)
    text = tables(results, args.seeds, ran_on(cache))
    print("\n" + text)
    (out / "bad_data_fashion_table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
