"""BadDataGAN's comparison (Guo et al. 2019: tables 1-5, figure 2), re-run on digits.

Protocols (the training set): scikit-learn digits whole ("IF 1"), long-tailed at
imbalance 10 and 20, and reduced to a stratified 20% and 30%; the classifiers trained on
whole digits are also tested on noisy test sets (Gaussian noise, sigma 0.2, and
salt-and-pepper on 10% of the pixels, each on 70% of the test images). Methods: C alone
(cross-entropy), Mixup (alpha 0.2), class-balanced loss, DAGAN-style (C on the data and
samples of "GAN w/o C", the conditional GAN of the same nets trained without C,
BadDataGAN's generator_role "independent"), the cooperative generator, BadDataGAN
(Wasserstein) and BadDataGAN (JS, one critic step). Every run takes the recipes of
recipes/classifier/, recipes/generator_augmented/ and recipes/bad_data_gan/ (digits-lt10:
small CNN, SGD 0.05 cosine, weight decay 5e-4, 60 epochs of batch 64; eps 0.3, the
paper's best, fixed before any run) with the data bias replaced. Then the eps sweep
(BadDataGAN W at imbalance 10; eps chosen by validation balanced accuracy, test numbers
beside), the ablation of batch norm and weight decay in C (table 5), and figure 2: a t-SNE
of C's features of real test images and generated samples (reduced 20%, seed 0).

Seeds 0..n-1 set the data split, the bias draw and the initialisation. Every comparison
(each method with C alone, BadDataGAN (W) with each other method, each eps with 0.3, each
ablation with the full C) is paired by seed: mean difference and its 95% t-interval. Runs are cached
in ``bad_data_runs.json`` under ``--out`` (a rerun continues where it stopped; ``--shard
I/N`` runs every N-th job, so that N processes share the work, and leaves the tables to
``--report-only``); tables go to
``bad_data_table.md``, the figure to ``bad_data_features.png``.

    python benchmarks/bad_data_table.py [--seeds 5] [--out benchmarks/results] [--report-only]
        [--shard I/N]
"""

import time
import tomllib

import keras
import numpy as np
from common import ROOT, add_to_cache, paired, parse_args, ran_on, read_cache, values
from common import fmt_mean_std as fmt

import kzoo
from kzoo import runs
from kzoo.metrics.plots import plt
from kzoo.recipes import Recipe

PROTOCOLS = {
    "IF 1": [],
    "IF 10": [{"kind": "long_tail", "imbalance": 10}],
    "IF 20": [{"kind": "long_tail", "imbalance": 20}],
    "reduced 20%": [{"kind": "reduce", "fraction": 0.2}],
    "reduced 30%": [{"kind": "reduce", "fraction": 0.3}],
}
NOISY = {"Gaussian 0.2": {"kind": "gaussian", "severity": 0.2},
         "salt-pepper 0.1": {"kind": "salt_pepper", "severity": 0.1}}
NOISY_SHARE = 0.7
CLASSIFIER = "classifier/digits-lt10-ce.toml"
BAD_DATA_GAN = "bad_data_gan/digits-lt10.toml"
METHODS = {  # name: (recipe, [game] changes); "GAN w/o C" and "DAGAN-style" train together
    "C alone": (CLASSIFIER, {}),
    "Mixup": ("classifier/digits-lt10-mixup.toml", {}),
    "Class-balanced": (CLASSIFIER, {"loss": "class_balanced"}),
    "GAN w/o C": (BAD_DATA_GAN, {"generator_role": "independent"}),
    "DAGAN-style": ("generator_augmented/digits-lt10.toml", {}),
    "Cooperative G": (BAD_DATA_GAN, {"generator_role": "cooperative"}),
    "BadDataGAN (W)": (BAD_DATA_GAN, {}),
    "BadDataGAN (JS)": (BAD_DATA_GAN, {"form": "js", "n_critic": 1}),
}
TABLE_METHODS = [m for m in METHODS if m != "GAN w/o C"]
GENERATORS = ["GAN w/o C", "Cooperative G", "BadDataGAN (W)", "BadDataGAN (JS)"]
EPS = (0.01, 0.1, 0.3, 0.5, 1.0, 2.0)
SWEEP = "IF 10"
ABLATION = {"no batch norm": ({"batch_norm": False}, {}),
            "no weight decay": ({}, {"weight_decay": 0.0})}
ABLATED = ("C alone", "BadDataGAN (W)")
FIGURE = ("reduced 20%", "BadDataGAN (W)", 0)


class WithGenerator(Recipe):
    """A recipe whose generator is given (the generator of a run trained just before)."""

    def __init__(self, spec_, generator):
        self._generator = generator
        super().__init__(spec_)

    def players(self, ds):
        return {**super().players(ds), "generator": self._generator}


def spec(method, protocol, seed, net=None, optimizer=None, game=None):
    path, changes = METHODS[method]
    s = tomllib.loads((ROOT / "recipes" / path).read_text())
    s["name"] = "".join(c if c.isalnum() else "-" for c in f"{protocol}-{method}-seed{seed}")
    s["seed"] = seed
    s["data"]["bias"] = PROTOCOLS[protocol]
    s["game"].update({**changes, **(game or {})})
    if "seed" in s["game"]:
        s["game"]["seed"] = seed
    # DAGAN-style's [net.generator] (a preset) stays, as its game needs one to parse; train()
    # replaces it by this seed's GAN w/o C generator (WithGenerator)
    per_player = "classifier" in s["net"]
    (s["net"]["classifier"] if per_player else s["net"]).update(net or {})
    (s["optimizer"]["classifier"] if per_player else s["optimizer"]).update(optimizer or {})
    return s


def train(s, generator=None):
    """``(game, ds, record)``: the game trained on its recipe's data, and its test
    metrics (what it serves), validation accuracy and noisy-test accuracy (whole digits)."""
    recipe = WithGenerator(s, generator) if generator is not None else Recipe(s)
    keras.utils.set_random_seed(recipe.seed)
    ds = recipe.dataset()
    game = recipe.build(ds)
    start = time.perf_counter()
    game.fit(ds.x_train, ds.y_train, epochs=recipe.spec.fit.epochs,
             batch_size=recipe.spec.fit.batch_size, verbose=0)
    record = {**runs.report(game, ds, recipe), "fit_s": round(time.perf_counter() - start, 1)}
    pred = kzoo.metrics.predict_proba(game.classifier, ds.x_val).argmax(-1)
    record["val_accuracy"] = float(np.mean(pred == ds.y_val))
    record["val_balanced_accuracy"] = float(
        kzoo.metrics.balanced_accuracy(ds.y_val, pred, ds.num_classes))
    if not s["data"]["bias"]:
        for name, kwargs in NOISY.items():
            noisy = kzoo.data.corrupt_test(ds, share=NOISY_SHARE, seed=recipe.seed, **kwargs)
            pred = kzoo.metrics.predict_proba(game.classifier, noisy.x_test).argmax(-1)
            record[f"noisy {name}"] = float(np.mean(pred == noisy.y_test))
    return game, ds, record


def features_figure_data(game, ds, out):
    """t-SNE of C's features of the real test images and as many generated samples (the
    test labels), saved for the figure."""
    from sklearn.manifold import TSNE

    features = kzoo.nets.features_model(game.classifier)
    z = np.random.default_rng(0).normal(size=(len(ds.y_test), game.latent_dim))
    fake = game.generate(z.astype("float32"), ds.y_test.astype("int32"), training=False)
    both = np.concatenate([ds.x_test, np.asarray(fake)])
    f = keras.ops.convert_to_numpy(features.predict(both, verbose=0))
    xy = TSNE(2, init="pca", random_state=0, perplexity=30).fit_transform(f)
    np.savez(out / "bad_data_features.npz", xy=xy, y=np.concatenate([ds.y_test, ds.y_test]),
             fake=np.repeat([False, True], len(ds.y_test)))


def jobs(seeds):
    """``[(key, job)]`` in the order they run: every protocol and method of a seed, then the
    next seed; then the eps sweep; then the ablation."""
    out = []
    for seed in range(seeds):
        for protocol in PROTOCOLS:
            out += [(f"{protocol}|{m}|{seed}", ("main", protocol, m, seed))
                    for m in METHODS if m != "DAGAN-style"]
    for seed in range(seeds):
        out += [(f"eps {eps:g}|{seed}", ("eps", eps, seed)) for eps in EPS if eps != 0.3]
    for seed in range(seeds):
        out += [(f"{a}|{m}|{seed}", ("ablation", a, m, seed)) for a in ABLATION for m in ABLATED]
    return out


def missing(key, results):
    """Whether the job ``key`` has a run to make (GAN w/o C's job makes DAGAN-style's too)."""
    return key not in results or (
        "|GAN w/o C|" in key and key.replace("GAN w/o C", "DAGAN-style") not in results)


def run(job, results, out):
    kind = job[0]
    if kind == "main":
        _, protocol, method, seed = job
        game, ds, record = train(spec(method, protocol, seed))
        if method == "GAN w/o C":  # its generator feeds DAGAN-style, trained right after
            results[f"{protocol}|DAGAN-style|{seed}"] = train(
                spec("DAGAN-style", protocol, seed), generator=game.generator)[2]
        if (protocol, method, seed) == FIGURE:
            features_figure_data(game, ds, out)
        return record
    if kind == "eps":
        _, eps, seed = job
        return train(spec("BadDataGAN (W)", SWEEP, seed, game={"eps": eps}))[2]
    _, ablation, method, seed = job
    net, optimizer = ABLATION[ablation]
    return train(spec(method, SWEEP, seed, net=net, optimizer=optimizer))[2]


# ------------------------------------------------------------------------------ tables
def tables(results, seeds, backends):
    n_runs = len(results)
    lines = [f"BadDataGAN and its baselines on digits ({backends}, seeds "
             f"0-{seeds - 1}, {n_runs} runs; `python benchmarks/bad_data_table.py`).", "",
             "Test accuracy in %, mean +- standard deviation (ddof 1) over seeds:", ""]
    columns = [(p, "accuracy") for p in PROTOCOLS] + [("IF 1", f"noisy {n}") for n in NOISY]
    heads = [p for p in PROTOCOLS] + [f"noisy test: {n}" for n in NOISY]
    lines += ["| method | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for m in TABLE_METHODS:
        cells = [fmt(values(results, lambda s, p=p, m=m: f"{p}|{m}|{s}", k, seeds))
                 for p, k in columns]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "Difference from C alone in accuracy points, mean and paired 95% interval "
              "over seeds (an interval across 0: within noise):", "",
              "| method | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for m in TABLE_METHODS[1:]:
        cells = [paired(results, lambda s, p=p, m=m: f"{p}|{m}|{s}",
                        lambda s, p=p: f"{p}|C alone|{s}", k, seeds) for p, k in columns]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lt = [(p, k) for p in ("IF 10", "IF 20") for k in ("balanced_accuracy", "tail_accuracy")]
    lines += ["", "Long tail: balanced and tail accuracy in %, mean +- std; then the paired "
              "difference from C alone:", "",
              "| method | IF 10 balanced | IF 10 tail | IF 20 balanced | IF 20 tail | "
              "IF 10 balanced vs C | IF 10 tail vs C | IF 20 balanced vs C | IF 20 tail vs C |",
              "|---" * 9 + "|"]
    for m in TABLE_METHODS:
        cells = [fmt(values(results, lambda s, p=p, m=m: f"{p}|{m}|{s}", k, seeds))
                 for p, k in lt]
        cells += ["" if m == "C alone" else paired(
            results, lambda s, p=p, m=m: f"{p}|{m}|{s}", lambda s, p=p: f"{p}|C alone|{s}",
            k, seeds) for p, k in lt]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "BadDataGAN (W) against each other method, test accuracy points, mean and "
              "paired 95% interval over seeds:", "",
              "| BadDataGAN (W) - | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for m in TABLE_METHODS:
        if m not in ("C alone", "BadDataGAN (W)"):  # C alone: the table above
            cells = [paired(results, lambda s, p=p: f"{p}|BadDataGAN (W)|{s}",
                            lambda s, p=p, m=m: f"{p}|{m}|{s}", k, seeds) for p, k in columns]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += eps_table(results, seeds) + generator_table(results, seeds)
    lines += ablation_table(results, seeds)
    fit = {m: values(results, lambda s, m=m: f"IF 10|{m}|{s}", "fit_s", seeds) for m in METHODS}
    lines += ["", "Training time at IF 10 (s, mean): " + ", ".join(
        f"{m} {np.mean(v):.0f}" for m, v in fit.items() if v) + "."]
    return "\n".join(lines)


def eps_key(eps, seed):
    return f"{SWEEP}|BadDataGAN (W)|{seed}" if eps == 0.3 else f"eps {eps:g}|{seed}"


def eps_table(results, seeds):
    lines = ["", f"eps sweep (BadDataGAN W, {SWEEP}; eps = 1 / lam), in %; then each eps "
             "minus eps 0.3, paired over seeds:", "",
             "| eps | val balanced | test accuracy | test balanced | test tail | val balanced "
             "- eps 0.3 | test balanced - eps 0.3 |", "|---|---|---|---|---|---|---|"]
    means = {}
    for eps in EPS:
        row = [values(results, lambda s, e=eps: eps_key(e, s), k, seeds) for k in
               ("val_balanced_accuracy", "accuracy", "balanced_accuracy", "tail_accuracy")]
        if row[0]:
            means[eps] = np.mean(row[0])
        diffs = ["" if eps == 0.3 else paired(results, lambda s, e=eps: eps_key(e, s),
                                              lambda s: eps_key(0.3, s), k, seeds)
                 for k in ("val_balanced_accuracy", "balanced_accuracy")]
        lines.append(f"| {eps:g} | " + " | ".join([*(fmt(v) for v in row), *diffs]) + " |")
    if means:
        best = max(means, key=means.get)
        lines += ["", f"Chosen by validation balanced accuracy (mean over seeds): eps = "
                      f"{best:g}; the tables above use 0.3, the paper's best, fixed before "
                      f"any run."]
    return lines


def generator_table(results, seeds):
    lines = ["", "The generators: Frechet classifier distance (digits-cnn-ce features; lower "
             "is better) and classifier score, mean +- std; the paired difference in FCD from "
             "GAN w/o C (the paper's table 4):", "",
             "| protocol | generator | FCD | classifier score | FCD vs GAN w/o C |",
             "|---|---|---|---|---|"]
    for p in PROTOCOLS:
        for m in GENERATORS:
            key = lambda s, p=p, m=m: f"{p}|{m}|{s}"  # noqa: E731
            diff = "" if m == "GAN w/o C" else paired(
                results, key, lambda s, p=p: f"{p}|GAN w/o C|{s}",
                "frechet_classifier_distance", seeds, scale=1.0, digits=2)
            lines.append(
                f"| {p} | {m} | "
                f"{fmt(values(results, key, 'frechet_classifier_distance', seeds), 1, 2)} | "
                f"{fmt(values(results, key, 'classifier_score', seeds), 1, 2)} | {diff} |")
    return lines


def ablation_table(results, seeds):
    lines = ["", f"Ablation of C's batch norm and weight decay ({SWEEP}), test accuracy / "
             f"balanced accuracy in %:", "",
             "| C | " + " | ".join(ABLATED) + " | BadDataGAN (W) - C alone, balanced | "
             "BadDataGAN (W), this C - with both, balanced |", "|---|---|---|---|---|"]
    for a in ("with both", *ABLATION):
        def key(s, m, a=a):
            return f"{SWEEP}|{m}|{s}" if a == "with both" else f"{a}|{m}|{s}"
        cells = [f"{fmt(values(results, lambda s, m=m: key(s, m), 'accuracy', seeds))} / "
                 f"{fmt(values(results, lambda s, m=m: key(s, m), 'balanced_accuracy', seeds))}"
                 for m in ABLATED]
        cells.append(paired(results, lambda s: key(s, ABLATED[1]), lambda s: key(s, ABLATED[0]),
                            "balanced_accuracy", seeds))
        cells.append("" if a == "with both" else paired(
            results, lambda s: key(s, ABLATED[1]), lambda s: f"{SWEEP}|{ABLATED[1]}|{s}",
            "balanced_accuracy", seeds))
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return lines


def figure(out):
    path = out / "bad_data_features.npz"
    if not path.exists():
        return None
    d = np.load(path)
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab10")
    for fake, marker, label in ((False, "o", "real (test)"), (True, "x", "generated")):
        sel = d["fake"] == fake
        ax.scatter(d["xy"][sel, 0], d["xy"][sel, 1], c=cmap(d["y"][sel] % 10), s=10,
                   marker=marker, alpha=0.6, linewidths=0.8)
        ax.scatter([], [], c="k", marker=marker, s=10, label=label)  # legend: shape only
    protocol, method, seed = FIGURE
    ax.set(title=f"t-SNE of C's features, {method}, digits {protocol}, seed {seed}",
           xticks=[], yticks=[])
    ax.legend(fontsize=8, title="colour: label", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "bad_data_features.png", dpi=120)
    plt.close(fig)
    return out / "bad_data_features.png"


def main():
    args, out = parse_args(__doc__, seeds=5, shards=True)
    cache = out / "bad_data_runs.json"
    results = read_cache(cache)
    shard, shards = args.shard
    todo = [(k, j) for i, (k, j) in enumerate(jobs(args.seeds))
            if missing(k, results) and i % shards == shard]
    start = time.perf_counter()
    for i, (key, job) in enumerate([] if args.report_only else todo):
        new = {}
        new[key] = run(job, new, out)  # GAN w/o C's job adds DAGAN-style's record to new
        results = add_to_cache(cache, new)
        print(f"[{i + 1}/{len(todo)}] {key}: accuracy {results[key]['accuracy']:.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    if shards > 1:
        print(f"shard {shard}/{shards} done; the tables: --report-only once every shard is.")
        return
    text = tables(results, args.seeds, ran_on(cache))
    print("\n" + text)
    (out / "bad_data_table.md").write_text(text + "\n")
    png = figure(out)
    print(f"\nwrote {out / 'bad_data_table.md'}" + (f" and {png}" if png else ""))


if __name__ == "__main__":
    main()
