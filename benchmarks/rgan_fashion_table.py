"""RobustGAN against its base GAN on Fashion-MNIST: conditional WGAN-GP and DCGAN, 5 seeds.

RobustGAN's claim (Zhong et al., figure 1 and table 2) is that its robust form improves the base GAN
it wraps. Here each base and its robust form train on Fashion-MNIST's 54,000 training
images (28x28, in [-1, 1], the published files: ``kzoo.data.load("fashion_mnist")``) with
the nets of ``recipes/gan/fashion_mnist-wgan-gp.toml``: a conditional DCGAN pair (the
critic conditional by projection), latent 128, width 64. The bases:

- WGAN-GP: that recipe (5 critic steps, Adam 1e-4 with betas 0.5 and 0.9);
- DCGAN: the same nets with the non-saturating loss, one critic step, Adam 2e-4 with betas
  0.5 and 0.999 (``recipes/gan/digits-dcgan.toml``'s optimizer).

The robust form takes lam, eps1 and eps2 from ``recipes/gan/fashion_mnist-robust-wgan-gp.toml``
(eps2 2: the paper's 4 on 32x32x3 scaled by sqrt(784 / 3072)). Every run trains the recipes'
epochs at batch 64 (5, 4,220 generator steps: a CPU's budget; the paper trains 200,000), then
scores 10,000 samples against the 10,000 test images on the features of the
``fashion_mnist-cnn-ce`` preset: Frechet and kernel classifier distances (FCD, KCD; never
called FID or KID, the features being a Fashion-MNIST classifier's, not Inception's) and
the worst-noise metrics of the paper's figure 3 (samples from the worst input noise within
l2 radius 0.01, the training radius, and 1). Seeds 0..n-1 set the data carve and the
initialisation; each robust form is compared with its base by the paired 95% interval
over the seeds.

Each run is a ``kzoo.runs.train`` run directory under ``--runs`` (default ``runs/tables``):
an interrupted run resumes after its last finished epoch. Finished runs are cached in
``rgan_fashion_runs.json`` under ``--out`` (``--shard I/N`` shares them out over processes);
``--report-only`` writes ``rgan_fashion_table.md`` from the cache.

    python benchmarks/rgan_fashion_table.py [--seeds 5] [--shard 0/1] [--runs runs/tables]
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

from kzoo.recipes import Recipe

BASES = {  # name: (game keys, optimizer keys)
    "WGAN-GP": ({}, {}),
    "DCGAN": ({"loss": "ns", "n_critic": 1},
              {"learning_rate": 0.0002, "beta_1": 0.5, "beta_2": 0.999}),
}
FORMS = ("GAN", "RobustGAN")
METRICS = {"frechet_classifier_distance": "FCD", "kernel_classifier_distance": "KCD",
           "frechet_classifier_distance@z_adv0.01": "FCD at worst z (0.01)",
           "frechet_classifier_distance@z_adv1": "FCD at worst z (1)"}


RECIPES = {"GAN": "gan/fashion_mnist-wgan-gp.toml",
           "RobustGAN": "gan/fashion_mnist-robust-wgan-gp.toml"}


def recipe_of(base, form, seed):
    """The recipe of ``base`` in ``form`` at ``seed``: seed 0 of WGAN-GP is the recipe file
    itself (its run is the preset's), the others change its seed and base."""
    path = ROOT / "recipes" / RECIPES[form]
    if (base, seed) == ("WGAN-GP", 0):
        return Recipe.from_file(path)
    s = tomllib.loads(path.read_text())
    game_keys, optimizer_keys = BASES[base]
    what = f"conditional {base}" if form == "GAN" else f"RobustGAN over conditional {base}"
    table_run(s, f"{s['name'].replace('wgan-gp', base.lower())}-seed{seed}",
              f"{what} on Fashion-MNIST", seed, Path(__file__).name)
    s["seed"] = seed
    s["game"].update(game_keys)
    s["optimizer"].update(optimizer_keys)
    return Recipe(s)


def run_one(base, form, seed, runs_dir):
    """The card's metrics of ``base`` in ``form`` at ``seed``, trained under ``runs_dir``."""
    return train_run(recipe_of(base, form, seed), runs_dir)


def key(base, form, seed):
    return f"{base}|{form}|{seed}"


def tables(results, seeds, backends):
    def cells(base, form, metric):
        return [r[metric] for s in range(seeds) if (r := results.get(key(base, form, s)))]

    epochs = recipe_of("WGAN-GP", "GAN", 0).spec.fit.epochs
    lines = [f"Fashion-MNIST, conditional DCGAN pair (width 64), {epochs} epochs of batch 64 "
             f"over 54,000 images (the paper: 200,000 generator steps), 10,000 samples against "
             f"the test set on fashion_mnist-cnn-ce's features, mean +- std over {seeds} seeds "
             f"({backends}; `python benchmarks/rgan_fashion_table.py`); lower is "
             f"better. At worst z (r): samples from the worst input noise within l2 radius r "
             f"of z (the paper's figure 3). No paper reports these forms on this data. "
             f"{WALL_TIME}", ""]
    lines += markdown_table(["base", "form", *METRICS.values(), "wall s"], [
        [base, form, *(fmt_mean_std(cells(base, form, m), 1.0, 3, of=seeds) for m in METRICS),
         fmt_mean_std(cells(base, form, "wall_s"), 1.0, 0, of=seeds)]
        for base in BASES for form in FORMS])
    lines += ["", "RobustGAN - its base (paired over seeds, mean [95% interval], verdict on "
              "RobustGAN; the paper's claim: better):", ""]
    lines += markdown_table(["base", *METRICS.values()], [[base, *(
        paired(results, lambda s, b=base: key(b, "RobustGAN", s),
               lambda s, b=base: key(b, "GAN", s), m, seeds, scale=1.0, digits=3,
               higher_is_better=False, mark_short=True) for m in METRICS)] for base in BASES])
    return "\n".join(lines)


def units(seeds):
    """The table's runs, seed by seed: each seed's two WGAN-GP forms, the costly ones, go to
    different shards of two (RobustGAN's, two to three times plain WGAN-GP's cost, with
    plain DCGAN)."""
    return [(base, form, seed) for seed in range(seeds) for base, form in (
        ("WGAN-GP", "GAN"), ("WGAN-GP", "RobustGAN"), ("DCGAN", "RobustGAN"), ("DCGAN", "GAN"))]


def main():
    args, out = parse_args(__doc__, seeds=5, shards=True, options=[RUNS_OPTION])
    cache = out / "rgan_fashion_runs.json"
    jobs = units(args.seeds)
    results = run_missing(cache, jobs, key, partial(run_one, runs_dir=args.runs), args,
                          lambda row: f"FCD {row['frechet_classifier_distance']:.3f}, "
                                      f"{row['wall_s']:.0f} s")
    if results is None:
        return
    not_run(results, jobs, key)
    text = tables(results, args.seeds, ran_on(cache))
    print("\n" + text)
    (out / "rgan_fashion_table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
