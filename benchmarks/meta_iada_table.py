"""Meta-IADA's comparisons (its tables 2, 5, 6 and 7, figures 3, 4 and 6), re-run on digits.

Seven biased versions of digits, each with 10 images per class of the training split
(with their clean labels) held out as Meta-IADA's meta set: long tail at imbalance
10 and 20, uniform and pair-flip label noise at 20% and 40%, and spurious colour
(95% of class c wear colour c in training, colours uniform at test). For seeds 0-4
(``--seeds``; the seed sets the data split, the biases and the initialisation), trains CE, logit
adjustment (LA), LDAM-DRW, CE on the training split plus the meta set (a control:
Meta-IADA sees those 100 clean images, the baselines do not), and Meta-IADA, all
with the small CNN and the schedule of the recipes (60 epochs, SGD, cosine).
Meta-IADA's CE warm-up is 45 epochs for the long tail and spurious colour, 15 for
label noise, as in recipes/meta_iada/. Prints mean +- std of test accuracy (and
tail accuracy for the long tail, worst-group accuracy for spurious colour). The long
tail and spurious colour, whose tail and worst-group accuracies spread widely between
seeds (standard deviations up to 6 and 18 points), take ``--wide-seeds`` (default 10).

Then the ablation of the IADA loss's three terms (table 7) on LT 10 and flip 40%:
without the covariance term G (alpha 0), the perturbation R (eps 0), the prior term F
(beta 0); and the sensitivity to alpha and beta on LT 10 (figure 6: a PNG, and a table
of each value against the default, over seeds 0-2). The
shares of adversarial (eps > 0) samples per class (LT 10) and for noisy vs clean
labels (flip 40%), seed 0, are saved as PNG (figures 3 and 4).

Each comparison a sentence of the README makes is reported as the paired 95% interval
of the difference over the seeds, with its verdict. Runs are cached per setting and
seed in ``meta_iada_runs.json`` under ``--out``: a rerun with more seeds trains only the
new ones, and ``--shard I/N`` splits the settings and seeds over N processes.

    python benchmarks/meta_iada_table.py [--seeds 5] [--wide-seeds 10] [--out benchmarks/results]
        [--report-only] [--shard I/N]
"""

import math
import time
import tomllib

import keras
import numpy as np
from common import (
    ROOT,
    add_to_cache,
    fmt_mean_std,
    markdown_table,
    paired,
    parse_args,
    ran_on,
    read_cache,
    seeds_of,
    values,
)

import kzoo
from kzoo.callbacks import EpsilonShares
from kzoo.metrics.plots import plt
from kzoo.recipes import Recipe

META = {"kind": "meta_split", "per_class": 10}


def noise(rate, kind):
    return [{"transform": "label_noise", "rate": rate, "kind": kind}, META]


SETTINGS = {  # name: (bias, warm-up epochs)
    "LT 10": ([META, {"kind": "long_tail", "imbalance": 10}], 45),
    "LT 20": ([META, {"kind": "long_tail", "imbalance": 20}], 45),
    "uniform 20%": (noise(0.2, "uniform"), 15),
    "uniform 40%": (noise(0.4, "uniform"), 15),
    "flip 20%": (noise(0.2, "flip"), 15),
    "flip 40%": (noise(0.4, "flip"), 15),
    "colour": ([{"kind": "spurious_colour", "correlation": 0.95}, META], 45),
}
METHODS = {  # name: (recipe, game arguments, DRW epoch)
    "CE": ("classifier/digits-lt10-ce.toml", {}, None),
    "CE + meta set": ("classifier/digits-lt10-ce.toml", {}, None),
    "LA": ("classifier/digits-lt10-ce.toml", {"loss": "logit_adjusted"}, None),
    "LDAM-DRW": ("classifier/digits-lt10-ldam-drw.toml", {}, 45),
    "Meta-IADA": ("meta_iada/digits-lt10.toml", {}, None),
}
ABLATION = {"without G (alpha 0)": {"alpha": 0.0}, "without R (eps 0)": {"perturb": False},
            "without F (beta 0)": {"beta": 0.0}}
ALPHAS = (0.1, 0.25, 0.5, 0.75, 1.0)
SENSITIVITY_SEEDS = 3  # seeds 0-2 run the alpha and beta values
BETAS = (0.5, 0.75, 1.0, 1.25, 1.5)


def spec(recipe, setting, seed, game=None, drw=None):
    """The recipe with this setting's data, the seed, and ``game`` arguments replaced."""
    s = tomllib.loads((ROOT / "recipes" / recipe).read_text())
    bias, warm_epochs = SETTINGS[setting]
    s["seed"] = seed
    s["data"]["bias"] = [{**b, "seed": seed} for b in bias]
    s["game"].update(game or {})
    s["game"].pop("reweight_epoch", None)
    if drw is not None:
        s["game"]["reweight_epoch"] = drw
    if s["game"]["name"] == "MetaIADA":
        s["game"]["seed"] = seed
        s["game"]["warmup_steps"] = warm_epochs  # in epochs here; steps set in train()
    return s


def train(s, ds, shares=None, fit_ds=None):
    """Trains on ``fit_ds`` (default ``ds``); the report uses ``ds``'s training counts."""
    fit_ds = fit_ds or ds
    if s["game"]["name"] == "MetaIADA":  # warm-up epochs -> steps on this training split
        s["game"]["warmup_steps"] *= math.ceil(len(ds.y_train) / s["fit"]["batch_size"])
    recipe = Recipe(s)
    keras.utils.set_random_seed(recipe.seed)
    game = recipe.build(fit_ds)
    callbacks = [shares] if shares else []
    game.fit(fit_ds.x_train, fit_ds.y_train, epochs=s["fit"]["epochs"],
             batch_size=s["fit"]["batch_size"], callbacks=callbacks, verbose=0)
    pred = kzoo.metrics.predict_proba(game, ds.x_test).argmax(-1)
    return kzoo.metrics.classification_report(ds, pred)


def run_setting(setting, seed, out):
    """Every run of one setting and seed: ``{method or variant: report}``."""
    rows = {}
    ds = Recipe(spec("classifier/digits-lt10-ce.toml", setting, seed)).dataset()
    for method, (recipe, game, drw) in METHODS.items():
        fit_ds = kzoo.data.meta_merge(ds) if method == "CE + meta set" else None
        shares = None
        if method == "Meta-IADA" and seed == 0 and setting in ("LT 10", "flip 40%"):
            shares = EpsilonShares(ds.y_train, ds.extras.get("noisy"))
        rows[method] = train(spec(recipe, setting, seed, game, drw), ds, shares,
                                        fit_ds)
        if shares:
            name = "lt10" if setting == "LT 10" else "flip40"
            shares.save(out / f"meta_iada_epsilon_shares_{name}.png")
    if setting in ("LT 10", "flip 40%"):
        for label, game in ABLATION.items():
            rows[label] = train(spec(METHODS["Meta-IADA"][0], setting, seed, game),
                                           ds)
    if setting == "LT 10" and seed < SENSITIVITY_SEEDS:
        for alpha in ALPHAS:
            if alpha != 0.5:
                rows[f"alpha {alpha}"] = train(
                    spec(METHODS["Meta-IADA"][0], setting, seed, {"alpha": alpha}), ds)
        for beta in BETAS:
            if beta != 1.0:
                rows[f"beta {beta}"] = train(
                    spec(METHODS["Meta-IADA"][0], setting, seed, {"beta": beta}), ds)
    return rows


NOISE = [s for s in SETTINGS if "%" in s]
# settings whose metrics spread widely between seeds (tail and worst-group accuracy:
# standard deviations up to 6 and 18 points over seeds 0-4): --wide-seeds
WIDE = ("LT 10", "LT 20", "colour")
BASELINES = [m for m in METHODS if m != "Meta-IADA"]


def key(setting, seed):
    return f"{setting}|{seed}"


def flat(results, seeds):
    """``{"<method>|<setting>|<seed>": report}``, for :func:`common.paired`."""
    return {f"{m}|{setting}|{s}": r for setting in SETTINGS
            for s in range(seeds_of(setting, seeds, WIDE))
            for m, r in results.get(key(setting, s), {}).items()}


def run(method, setting):
    return lambda s: f"{method}|{setting}|{s}"


def tables(results, seeds, header):
    runs = flat(results, seeds)

    def cell(method, setting, metric="accuracy"):
        return fmt_mean_std(values(runs, run(method, setting), metric,
                                    seeds_of(setting, seeds, WIDE)))

    def diff(a, b, setting, metric="accuracy"):
        return paired(runs, run(a, setting), run(b, setting), metric,
                      seeds_of(setting, seeds, WIDE), higher_is_better=True)

    columns = {"long tail": [("LT 10", "accuracy"), ("LT 10", "tail_accuracy"),
                             ("LT 20", "accuracy"), ("LT 20", "tail_accuracy")],
               "label noise": [(s, "accuracy") for s in NOISE],
               "spurious colour": [("colour", "accuracy"), ("colour", "worst_group_accuracy")]}
    names = {"accuracy": "", "tail_accuracy": " tail", "worst_group_accuracy": " worst group"}
    lines = [header, ""]
    for title, cols in columns.items():
        head = ["method", *(f"{s}{names[m]}" for s, m in cols)]
        lines += [f"{title}, mean +- std:", ""]
        lines += markdown_table(head, [[m, *(cell(m, s, k) for s, k in cols)] for m in METHODS])
        lines += ["", f"{title}, Meta-IADA - baseline (paired, mean [95% interval], verdict on "
                  "Meta-IADA):", ""]
        lines += markdown_table(head, [[f"Meta-IADA - {b}", *(diff("Meta-IADA", b, s, k)
                                                              for s, k in cols)]
                                       for b in BASELINES])
        lines.append("")
    cols = [("LT 10", "accuracy"), ("LT 10", "tail_accuracy"), ("flip 40%", "accuracy")]
    head = ["variant", "LT 10", "LT 10 tail", "flip 40%"]
    lines += ["Ablation of the IADA loss's terms (Meta-IADA, test accuracy):", ""]
    lines += markdown_table(head, [[v, *(cell(v, s, k) for s, k in cols)]
                                   for v in ("Meta-IADA", *ABLATION)])
    lines += ["", "Ablation, variant - Meta-IADA (paired, mean [95% interval], verdict on the "
              "variant):", ""]
    lines += markdown_table(head, [[f"{v} - Meta-IADA", *(diff(v, "Meta-IADA", s, k)
                                                          for s, k in cols)] for v in ABLATION])
    variants = [f"alpha {a}" for a in ALPHAS if a != 0.5] + [f"beta {b}" for b in BETAS
                                                              if b != 1.0]
    lines += ["", "Sensitivity (figure 6), variant - Meta-IADA (alpha 0.5, beta 1) on LT 10, "
              f"seeds 0-{SENSITIVITY_SEEDS - 1} (paired, mean [95% interval], verdict on the "
              "variant):", ""]
    lines += markdown_table(["variant", "LT 10", "LT 10 tail"],
                            [[f"{v} - Meta-IADA", diff(v, "Meta-IADA", "LT 10"),
                              diff(v, "Meta-IADA", "LT 10", "tail_accuracy")] for v in variants])
    return "\n".join(lines)


def sensitivity_figure(results, seeds, path):
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    n = min(seeds, SENSITIVITY_SEEDS)
    for ax, name, grid, default in ((axes[0], "alpha", ALPHAS, 0.5),
                                    (axes[1], "beta", BETAS, 1.0)):
        labels = ["Meta-IADA" if v == default else f"{name} {v}" for v in grid]
        acc = [[results[key("LT 10", s)][label]["accuracy"] for s in range(n)]
               for label in labels]
        ax.errorbar(grid, 100 * np.mean(acc, 1), 100 * np.std(acc, 1, ddof=1), fmt="o-",
                    capsize=3)
        ax.set(xlabel=name, title=f"{name} ({'beta 1' if name == 'alpha' else 'alpha 0.5'})")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy, LT 10 (%)")
    fig.suptitle(f"Meta-IADA sensitivity, digits LT 10, {n} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    args, out = parse_args(__doc__, seeds=5, shards=True, wide=WIDE)
    seeds = args.counts
    cache = out / "meta_iada_runs.json"
    results = read_cache(cache)
    start = time.perf_counter()
    jobs = [(setting, seed) for seed in range(max(seeds)) for setting in SETTINGS
            if seed < seeds_of(setting, seeds, WIDE)]
    index, count = args.shard
    for setting, seed in jobs[index::count]:
        if key(setting, seed) in results or args.report_only:
            continue
        results = add_to_cache(cache, {key(setting, seed): run_setting(setting, seed, out)})
        print(f"{setting}, seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    results = read_cache(cache)
    missing = [key(*job) for job in jobs if key(*job) not in results]
    if missing:
        print(f"not yet run: {', '.join(missing)} (the other shards'?); no table written")
        return
    text = tables(results, seeds, f"Biased digits, test accuracy in %, {args.seeds} seeds "
                  f"({', '.join(WIDE)}: {seeds[1]}) ({ran_on(cache)}; "
                  "`python benchmarks/meta_iada_table.py`).")
    print("\n" + text)
    (out / "meta_iada_table.md").write_text(text + "\n")
    sensitivity_figure(results, args.seeds, out / "meta_iada_sensitivity.png")
    print(f"\nwrote {out / 'meta_iada_table.md'}, meta_iada_sensitivity.png and the "
          f"epsilon-share figures")


if __name__ == "__main__":
    main()
