"""RobustGAN's comparisons (its tables 1 and 2, figure 3), re-run on digits and grid25.

Each base GAN against its RobustGAN form, on scikit-learn digits (8x8, in [-1, 1];
Frechet classifier distance and classifier score from the digits feature network,
never called FID or IS) and on the 25-Gaussian grid (exact metrics: modes covered,
share of samples within 3 sigma of a mode, mean log density). The bases: DCGAN
(non-saturating loss, 1 critic step), WGAN-GP (5 critic steps), WGAN-GP-res (the
ResNet pair; digits only: the grid's nets are MLPs) and BWGAN (L^10 dual norm, 5
critic steps). Each run takes the recipes in recipes/gan/ (the WGAN-GP ones, and
recipes/gan/digits-dcgan.toml for DCGAN's optimizer on digits) with the loss, the
critic steps and the net replaced, and the RobustGAN keys (lam, eps1, eps2) of the
robust recipes. Then the ablation of table 2 (WGAN-GP on digits: robust G only,
robust D only, both) and figure 3: every metric on samples from the worst input
noise within l2 radius 0.01 (the training radius) and 1.0, next to samples from z.

Seeds 0..n-1 set the data split and the initialisation; DCGAN, whose FCD spreads over
several points between seeds, takes ``--wide-seeds`` (default 20). Every RobustGAN form
is compared with its base by the paired 95% interval of the difference over the seeds,
with its verdict. Runs are cached in ``rgan_runs.json`` under ``--out`` (a rerun with
more seeds trains only the new runs; ``--shard I/N`` splits them over N processes);
tables go to ``rgan_table.md``, sample grids (seed 0) to ``rgan_samples_<data>.png``
and the worst-noise figure to ``rgan_worst_noise.png``.

    python benchmarks/rgan_table.py [--seeds 5] [--wide-seeds 20] [--out benchmarks/results]
        [--report-only] [--shard I/N]
"""

import time
import tomllib

import keras
import numpy as np
from common import (
    ROOT,
    add_to_cache,
    fmt_interval,
    fmt_mean_std,
    paired,
    paired_interval,
    parse_args,
    ran_on,
    read_cache,
    seeds_of,
    verdict,
)

from kzoo import runs
from kzoo.metrics import generate, latent_batch
from kzoo.metrics.plots import image_grid, plt, show_grid
from kzoo.recipes import Recipe

DATA = {"digits": ("gan/digits-wgan-gp.toml", "gan/digits-robust-wgan-gp.toml"),
        "grid25": ("gan/grid25-wgan-gp.toml", "gan/grid25-robust-wgan-gp.toml")}
BASES = {  # name: (game keys, net keys, datasets)
    "DCGAN": ({"loss": "ns", "n_critic": 1}, {}, ("digits", "grid25")),
    "WGAN-GP": ({}, {}, ("digits", "grid25")),
    "WGAN-GP-res": ({}, {"arch": "resnet", "width": 32}, ("digits",)),
    "BWGAN": ({"loss": "bwgan"}, {}, ("digits", "grid25")),
}
FORMS = {"GAN": None, "RobustGAN": {}, "robust G only": {"robust_d": False},
         "robust D only": {"robust_g": False}}
WIDE = ("DCGAN",)  # bases whose metrics spread widely between seeds: --wide-seeds
ABLATION = ("digits", "WGAN-GP")
HEADLINE = {"digits": ("frechet_classifier_distance", "kernel_classifier_distance",
                       "classifier_score"),
            "grid25": ("modes", "high_quality", "log_density")}
SHORT = {"frechet_classifier_distance": "FCD", "kernel_classifier_distance": "KCD",
         "classifier_score": "classifier score", "modes": "modes",
         "high_quality": "high quality", "log_density": "log density"}


def load(path):
    return tomllib.loads((ROOT / "recipes" / path).read_text())


def spec(data, base, form, seed):
    plain, robust = DATA[data]
    s = load("gan/digits-dcgan.toml" if (data, base) == ("digits", "DCGAN") else plain)
    game_keys, net_keys, _ = BASES[base]
    s["name"] = f"{data}-{base}-{form}-seed{seed}".replace(" ", "-")
    s["seed"] = seed
    s["game"].update(game_keys)
    s["net"].update(net_keys)
    if FORMS[form] is not None:
        r = load(robust)["game"]
        s["game"].update({"name": "RobustGAN", "lam": r["lam"], "eps1": r["eps1"],
                          "eps2": r["eps2"], **FORMS[form]})
    return s


def train(s):
    recipe = Recipe(s)
    keras.utils.set_random_seed(recipe.seed)
    ds = recipe.dataset()
    gan = recipe.build(ds)
    start = time.perf_counter()
    gan.fit(ds.x_train, epochs=recipe.spec.fit.epochs, batch_size=recipe.spec.fit.batch_size,
            verbose=0)
    wall = time.perf_counter() - start
    return gan, ds, recipe, {**runs.report(gan, ds, recipe), "fit_s": round(wall, 1)}


def plan(seeds):
    jobs = []
    for seed in range(max(seeds)):
        for data in DATA:
            for base, (_, _, datasets) in BASES.items():
                if data in datasets and seed < seeds_of(base, seeds, WIDE):
                    jobs += [(data, base, form, seed) for form in ("GAN", "RobustGAN")]
        if seed < seeds_of(ABLATION[1], seeds, WIDE):
            jobs += [(*ABLATION, form, seed) for form in ("robust G only", "robust D only")]
    return jobs


def fmt(values, digits=3):
    return fmt_mean_std(values, 1.0, digits) if len(values) > 1 else f"{values[0]:.{digits}f}"


def cells(results, data, base, form, keys, seeds):
    seeds = seeds_of(base, seeds, WIDE)
    runs_ = [results.get(f"{data}|{base}|{form}|{s}") for s in range(seeds)]
    runs_ = [r for r in runs_ if r is not None]
    if not runs_:
        return ["-"] * len(keys)
    short = f" (n={len(runs_)})" if len(runs_) < seeds else ""
    return [fmt([r[k] for r in runs_], 1 if k in ("modes", "log_density", "fit_s") else 3)
            + short for k in keys]


def tables(results, seeds, backends):
    lines = [f"RobustGAN / GAN on the {backends}, seeds 0-{seeds[0] - 1} ({', '.join(WIDE)}: "
             f"0-{seeds[1] - 1}), mean +- std (`python benchmarks/rgan_table.py`).", ""]
    for data in DATA:
        keys = HEADLINE[data]
        lines += [f"### {data}: each base GAN and its RobustGAN form", "",
                  "| base | form | " + " | ".join(SHORT[k] for k in keys) + " | fit s |",
                  "|---|---|" + "---|" * (len(keys) + 1)]
        for base, (_, _, datasets) in BASES.items():
            if data in datasets:
                for form in ("GAN", "RobustGAN"):
                    row = cells(results, data, base, form, (*keys, "fit_s"), seeds)
                    lines.append(f"| {base} | {form} | " + " | ".join(row) + " |")
        lines.append("")
    data, base = ABLATION
    keys = HEADLINE[data]
    lines += [f"### Ablation ({base} on {data}, table 2)", "",
              "| form | " + " | ".join(SHORT[k] for k in keys) + " |",
              "|---|" + "---|" * len(keys)]
    for form in FORMS:
        lines.append(f"| {form} | " + " | ".join(cells(results, data, base, form, keys, seeds))
                     + " |")
    lines += ["", "### Paired differences: RobustGAN form - GAN, same seeds", "",
              "Mean [95% interval] over the seeds, verdict on the RobustGAN form (lower FCD "
              "and KCD are better; higher score, modes, share and density are better). "
              "\"change at eps 1\" is the metric at z_adv (eps 1) minus at z: what the "
              "worst input noise does to it.", ""]
    for data in DATA:
        keys = HEADLINE[data]
        key = keys[0 if data == "digits" else 1]
        lines += [f"{data}:", "", "| base | form | " + " | ".join(SHORT[k] for k in keys)
                  + f" | {SHORT[key]} at eps 1 | {SHORT[key]} change at eps 1 |",
                  "|---|---|" + "---|" * (len(keys) + 2)]
        for base, (_, _, datasets) in BASES.items():
            if data not in datasets:
                continue
            forms = FORMS if (data, base) == ABLATION else {"RobustGAN": {}}
            for form in (f for f in forms if f != "GAN"):
                lines.append(f"| {base} | {form} - GAN | " + " | ".join(
                    difference(results, data, base, form, k, seeds)
                    for k in (*keys, f"{key}@z_adv1", f"{key}@change1")) + " |")
        lines.append("")
    lines += ["### Worst input noise (figure 3): the metric at z and at z_adv", "",
              "The change is the metric at z_adv minus at z, paired over the seeds (mean [95% "
              "interval]; \"up\" or \"down\" where the interval excludes 0).", ""]
    for data in DATA:
        key = HEADLINE[data][0 if data == "digits" else 1]
        cols = (key, f"{key}@z_adv0.01", f"{key}@z_adv1")
        lines += [f"{data}, {SHORT[key]}:", "",
                  "| base | form | z | z_adv (eps 0.01) | z_adv (eps 1) | change at eps 0.01 "
                  "| change at eps 1 |", "|---|---|---|---|---|---|---|"]
        for base, (_, _, datasets) in BASES.items():
            if data in datasets:
                for form in ("GAN", "RobustGAN"):
                    lines.append(f"| {base} | {form} | " + " | ".join(
                        [*cells(results, data, base, form, cols, seeds),
                         *(noise_change(results, data, base, form, key, eps, seeds)
                           for eps in ("0.01", "1"))]) + " |")
        lines.append("")
    return "\n".join(lines)


def difference(results, data, base, form, metric, seeds):
    """The paired interval of ``metric``, ``form`` minus GAN, with its verdict; a metric
    ending in ``@change1`` is ``<metric>@z_adv1 - <metric>`` (what the worst noise does)."""
    lower_better = metric.split("@")[0] in ("frechet_classifier_distance",
                                            "kernel_classifier_distance")
    if metric.endswith("@change1"):
        name = metric[:-len("@change1")]
        results = {k: {metric: r[f"{name}@z_adv1"] - r[name]} for k, r in results.items()
                   if f"{name}@z_adv1" in r}
    digits = 1 if metric.split("@")[0] in ("modes", "log_density") else 3
    return paired(results, lambda s: f"{data}|{base}|{form}|{s}",
                  lambda s: f"{data}|{base}|GAN|{s}", metric, seeds_of(base, seeds, WIDE), scale=1,
                  digits=digits, higher_is_better=not lower_better)


def noise_change(results, data, base, form, metric, eps, seeds):
    """The paired interval of ``metric`` at z_adv (radius ``eps``) minus at z, over the
    seeds of one form, and whether the worst noise moves it "up" or "down"."""
    done = [r for s in range(seeds_of(base, seeds, WIDE))
            if f"{metric}@z_adv{eps}" in (r := results.get(f"{data}|{base}|{form}|{s}", {}))]
    if not done:
        return "-"
    mean, low, high = paired_interval([r[f"{metric}@z_adv{eps}"] for r in done],
                                      [r[metric] for r in done])
    text = fmt_interval(mean, low, high, scale=1, digits=3)
    if np.isnan(low):
        return text
    move = {"better": "up", "worse": "down"}.get(verdict(low, high), "within noise")
    return f"{text} ({move})"


def show(gan, ds, data):
    """Seed-0 samples to draw: 2,000 points, or 36 images in [0, 1] (``generate``'s)."""
    z, _ = latent_batch(gan, 2000 if data == "grid25" else 36)
    return generate(gan, z)


def sample_figure(samples, data, real, path):
    """Seed-0 samples: one row per base, GAN left, RobustGAN right."""
    bases = [b for b in BASES if f"{data}|{b}|GAN|0" in samples]
    fig, axes = plt.subplots(len(bases), 2, figsize=(6, 3 * len(bases)), squeeze=False)
    for row, base in enumerate(bases):
        for col, form in enumerate(("GAN", "RobustGAN")):
            ax, x = axes[row, col], samples.get(f"{data}|{base}|{form}|0")
            if x is None:
                continue
            if data == "grid25":
                ax.scatter(*real[:2000].T, s=1, c="0.75")
                ax.scatter(*x.T, s=1, c="tab:blue")
                ax.set(aspect="equal", xlim=(-6, 6), ylim=(-6, 6))
            else:
                show_grid(ax, image_grid(x, 6))
            ax.set_title(f"{base}, {form}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def worst_noise_figure(results, seeds, path):
    fig, axes = plt.subplots(1, len(DATA), figsize=(6 * len(DATA), 3.5), squeeze=False)
    for ax, data in zip(axes[0], DATA):
        key = HEADLINE[data][0 if data == "digits" else 1]
        offsets = np.arange(3)
        bases = [b for b, (_, _, d) in BASES.items() if data in d]
        for base, form in ((b, f) for b in bases for f in ("GAN", "RobustGAN")):
            done = [results[k] for s in range(seeds_of(base, seeds, WIDE))
                    if (k := f"{data}|{base}|{form}|{s}") in results]
            if not done:
                continue
            means = [np.mean([r[c] for r in done])
                     for c in (key, f"{key}@z_adv0.01", f"{key}@z_adv1")]
            ax.plot(offsets, means, "o-" if form == "GAN" else "s--",
                    color=plt.cm.tab10(bases.index(base)), label=f"{base}, {form}")
        ax.set(xticks=offsets, xticklabels=["z", "z_adv eps 0.01", "z_adv eps 1"],
               ylabel=SHORT[key], title=f"{data}: {SHORT[key]} under the worst input noise")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    args, out = parse_args(__doc__, seeds=5, shards=True, wide=WIDE, wide_seeds=20)
    seeds = args.counts
    cache, sample_cache = out / "rgan_runs.json", out / "rgan_samples.npz"
    results = read_cache(cache)
    samples = dict(np.load(sample_cache)) if sample_cache.is_file() else {}
    real = {}
    start = time.perf_counter()
    index, count = args.shard
    for data, base, form, seed in plan(seeds)[index::count]:
        key = f"{data}|{base}|{form}|{seed}"
        if key in results or args.report_only:
            continue
        gan, ds, _, metrics = train(spec(data, base, form, seed))
        real[data] = ds.x_test
        if seed == 0 and form in ("GAN", "RobustGAN"):
            if sample_cache.is_file():  # with what other shards saved since
                samples.update(np.load(sample_cache))
            samples[key] = show(gan, ds, data)
            np.savez_compressed(sample_cache, **samples)
        results = add_to_cache(cache, {key: metrics})
        print(f"[{time.perf_counter() - start:6.0f} s] {key}: "
              + ", ".join(f"{SHORT.get(k, k)} {metrics[k]:.3f}" for k in HEADLINE[data])
              + f" ({metrics['fit_s']:.0f} s)", flush=True)
    for data in DATA:
        if data not in real:
            real[data] = Recipe(load(DATA[data][0])).dataset().x_test
        sample_figure(samples, data, real[data], out / f"rgan_samples_{data}.png")
    worst_noise_figure(results, seeds, out / "rgan_worst_noise.png")
    text = tables(results, seeds, ran_on(cache))
    (out / "rgan_table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
