"""Rob-GAN's claims on Fashion-MNIST: co-training, fine-tuning and Madry on one net, 3 seeds.

Liu and Hsieh (2019) claim that Rob-GAN's co-training with a generator, then fine-tuning
its critic's class head on attacked real and generated images, gives a classifier at least
as robust as Madry's adversarial training with a smaller gap between training and test
robust accuracy (table 1; the gap: figures 1 and 8). Here on Fashion-MNIST's published files
(``kzoo.data.load("fashion_mnist")``), one net for every classifier: the class head of the
AC-GAN critic of ``recipes/robgan/fashion_mnist.toml`` (DCGAN body of width 64 with batch
norm; ``kzoo.nets.acgan_classifier``). Methods:

- Madry: ``recipes/madry/fashion_mnist.toml`` (PGD-7 from a random start, epsilon 0.1, Adam
  2e-3 with a cosine schedule) on that net, for as many epochs as co-training and fine-tuning
  together, at batch 64;
- RobGAN: ``recipes/robgan/fashion_mnist.toml`` (epsilon 0.1, the split loss);
- RobGAN + fine-tune: ``recipes/robgan/fashion_mnist-finetune.toml`` from that run.

Every classifier is attacked by the cards' PGD-20 (linf, no random start) at epsilon 0,
0.05, 0.1, 0.15 and 0.2 on the 10,000 test images, and on the first 10,000 training images
for the gap (training minus test robust accuracy). No paper reports these methods on
Fashion-MNIST; the table has no paper column. Seeds 0..n-1 set the validation carve and the
initialisation; each comparison is paired over the seeds. Seed 0 of RobGAN is the recipe
unchanged: its run is the ``fashion_mnist-robgan`` preset's.

Each run is a ``kzoo.runs.train`` run directory under ``--runs`` (default ``runs/tables``):
an interrupted run resumes after its last finished epoch. Finished runs are cached in
``robgan_fashion_runs.json`` under ``--out`` (``--shard I/N`` shares them out over
processes); ``--report-only`` writes ``robgan_fashion_table.md`` from the cache.

    python benchmarks/robgan_fashion_table.py [--seeds 3] [--shard 0/1] [--runs runs/tables]
        [--report-only]
"""

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

import kzoo
from kzoo.recipes import Recipe

RECIPES = ROOT / "recipes"
ROBGAN, FINE_TUNE, MADRY = (RECIPES / "robgan" / "fashion_mnist.toml",
                            RECIPES / "robgan" / "fashion_mnist-finetune.toml",
                            RECIPES / "madry" / "fashion_mnist.toml")
METHODS = ("Madry", "RobGAN", "RobGAN + fine-tune")
GAP_EXAMPLES = 10_000  # training images attacked for the gap


def load(path):
    return tomllib.loads(path.read_text())


def recipe_of(method, seed, runs_dir):
    """The recipe of ``method`` at ``seed`` (the fine-tuning's start: the run of RobGAN of
    the same seed, under ``runs_dir``)."""
    if (method, seed) == ("RobGAN", 0):
        return Recipe.from_file(ROBGAN)
    robgan = load(ROBGAN)
    s = load({"RobGAN": ROBGAN, "RobGAN + fine-tune": FINE_TUNE, "Madry": MADRY}[method])
    s["seed"] = s["game"]["seed"] = seed
    name = (f"{s['name']}-seed{seed}" if method != "Madry" else
            f"fashion_mnist-acgan-classifier-madry-seed{seed}")
    table_run(s, name, f"{method} on Fashion-MNIST", seed, Path(__file__).name)
    if method == "RobGAN + fine-tune":
        start = f"{runs_dir}/{recipe_of('RobGAN', seed, runs_dir).name}"
        s["net"] = {"critic": {"preset": start}, "generator": {"preset": start}}
    elif method == "Madry":
        s["net"] = {**robgan["net"]["critic"], "arch": "acgan_classifier"}
        s["fit"] = {"epochs": robgan["fit"]["epochs"] + load(FINE_TUNE)["fit"]["epochs"],
                    "batch_size": robgan["fit"]["batch_size"]}
        s["eval"] = robgan["eval"]
    return Recipe(s)


def run_one(method, seed, runs_dir):
    """The card's metrics of ``method`` at ``seed``, and the robust accuracy of its
    classifier on the first ``GAP_EXAMPLES`` training images (``train@<epsilon>``); the
    fine-tuning's wall time includes its co-training's."""
    start = {"wall_s": 0.0}
    if method == "RobGAN + fine-tune":  # its wall time counts the co-training's
        start = train_run(recipe_of("RobGAN", seed, runs_dir), runs_dir)
    recipe = recipe_of(method, seed, runs_dir)
    row = train_run(recipe, runs_dir)
    row["wall_s"] += start["wall_s"]
    ds, ev = recipe.dataset(), recipe.spec.eval
    train = kzoo.metrics.robust_accuracy(
        kzoo.load(f"{runs_dir}/{recipe.name}").classifier, ds.x_train[:GAP_EXAMPLES],
        ds.y_train[:GAP_EXAMPLES], ev.robust_epsilons, steps=ev.robust_steps,
        step_ratio=ev.robust_step_ratio, norm="linf", random_start=False)
    return {**row, **{f"train@{e:g}": a for e, a in train.items()}}


def key(method, seed):
    return f"{method}|{seed}"


def tables(results, seeds, backends):
    ev = Recipe.from_file(ROBGAN).spec.eval
    epsilons = list(ev.robust_epsilons)
    results = {k: {**r, **{f"gap@{e:g}": r[f"train@{e:g}"] - r[f"robust_accuracy@{e:g}"]
                           for e in epsilons}}  # the gap: training minus test
               for k, r in results.items()}

    def cells(method, metric):
        return [r[metric] for s in range(seeds) if (r := results.get(key(method, s)))]

    def run(method):
        return lambda s: key(method, s)

    head = [f"epsilon {e:g}" for e in epsilons]
    lines = [f"Fashion-MNIST, one net (the AC-GAN critic's class head), PGD-{ev.robust_steps} "
             f"robust accuracy in % on the test set (linf, no random start, steps of "
             f"{ev.robust_step_ratio:g} epsilon / {ev.robust_steps}), mean +- std over {seeds} "
             f"seeds ({backends}; "
             f"`python benchmarks/robgan_fashion_table.py`). No paper reports these "
             f"methods on this data. Wall time: training, RobGAN + fine-tune's with its "
             f"co-training's. {WALL_TIME}", ""]
    lines += markdown_table(["method", *head, "wall s"], [
        [m, *(fmt_mean_std(cells(m, f"robust_accuracy@{e:g}"), of=seeds) for e in epsilons),
         fmt_mean_std(cells(m, "wall_s"), 1.0, 0, of=seeds)] for m in METHODS])
    lines += ["", f"The gap: robust accuracy on the first {GAP_EXAMPLES:,} training images "
              f"minus the test set's, in points (the paper's claim: Rob-GAN's is smaller):", ""]
    lines += markdown_table(["method", *head], [
        [m, *(fmt_mean_std(cells(m, f"gap@{e:g}"), of=seeds) for e in epsilons)] for m in METHODS])
    lines += ["", "Paired over seeds, in points, mean [95% interval], verdict on the first "
              "(test robust accuracy: higher is better; gap: lower is better):", ""]
    rows = []
    for a, b in (("RobGAN + fine-tune", "Madry"), ("RobGAN", "Madry"),
                 ("RobGAN + fine-tune", "RobGAN")):
        rows.append([f"{a} - {b}, test", *(paired(
            results, run(a), run(b), f"robust_accuracy@{e:g}", seeds, higher_is_better=True,
            mark_short=True)
            for e in epsilons)])
        rows.append([f"{a} - {b}, gap", *(paired(
            results, run(a), run(b), f"gap@{e:g}", seeds, higher_is_better=False, mark_short=True)
            for e in epsilons)])
    lines += markdown_table(["a - b", *head], rows)
    return "\n".join(lines)


def units(seeds):
    """The table's runs, seed first."""
    return [(m, seed) for seed in range(seeds) for m in METHODS]


def main():
    args, out = parse_args(__doc__, seeds=3, shards=True, options=[RUNS_OPTION])
    cache = out / "robgan_fashion_runs.json"
    jobs = units(args.seeds)
    results = run_missing(cache, jobs, key, partial(run_one, runs_dir=args.runs), args,
                          lambda row: f"robust@0.1 {row['robust_accuracy@0.1']:.4f}, "
                                      f"{row['wall_s']:.0f} s")
    if results is None:
        return
    not_run(results, jobs, key)
    text = tables(results, args.seeds, ran_on(cache))
    print("\n" + text)
    (out / "robgan_fashion_table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
