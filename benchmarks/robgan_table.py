"""Rob-GAN's comparison (Liu and Hsieh 2019: table 1, figures 1, 6, 7 and 8), re-run on digits.

One net for every classifier: the class head of the AC-GAN critic of
recipes/robgan/digits.toml (``kzoo.nets.class_head``: the same body, weights and batch
norm). Methods, on whole digits:

- Madry: PGD adversarial training of that net (``PGDAdversarialTraining``: epsilon 0.1,
  5 steps of 2.5 * epsilon / 5, random start), Adam 1e-3 for as many epochs as co-training
  and fine-tuning together (110), the rate divided by 10 at epochs 80 and 100;
- RobGAN: co-training (recipes/robgan/digits.toml: epsilon 0.1, split loss, 80 epochs);
- RobGAN + fine-tune: recipes/robgan/digits-finetune.toml from that run's critic and
  generator (30 epochs, attacked real and generated images, lam_fake 0.3);
- the generators' ablations (figures 6 and 7): RobGAN with the AC-GAN loss (Eq. 8), and
  ACGAN without the attack with either loss (recipes/acgan/digits.toml).

Every classifier is tested under PGD-20 with steps of epsilon / 5 (the paper's evaluation)
on the test split at the radii of recipes/robgan/digits.toml; the generalisation gap
(figures 1 and 8) is the robust accuracy on the training split minus that on the test
split, for Madry and RobGAN + fine-tune. Generators: Frechet classifier distance and
classifier score (the digits feature network) every 10 epochs (figure 7) and at the end.

Seeds 0..n-1 set the data split and the initialisation; each comparison is paired by seed
(mean difference and 95% t-interval). Runs are cached in ``robgan_runs.json`` under
``--out`` (a rerun continues; ``--shard I/N`` shares the jobs among N processes and leaves
the report to ``--report-only``); tables go to ``robgan_table.md``, figures to
``robgan_robust.png``, ``robgan_gap.png``, ``robgan_generators.png`` and
``robgan_samples.png``.

    python benchmarks/robgan_table.py [--seeds 5] [--out benchmarks/results] [--report-only]
        [--shard I/N]
"""

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
    save_figure,
    values,
)

import kzoo
from kzoo.metrics.features import ClassifierFeatures
from kzoo.metrics.generator import feature_preset
from kzoo.metrics.plots import plt
from kzoo.recipes import Recipe, staged_rate

ROBGAN = "robgan/digits.toml"
FINE_TUNE = "robgan/digits-finetune.toml"
ACGAN = "acgan/digits.toml"
GENERATORS = {  # name: (recipe, [game] changes)
    "RobGAN": (ROBGAN, {}),
    "RobGAN (AC-GAN loss)": (ROBGAN, {"loss": "acgan"}),
    "AC-GAN (split loss)": (ACGAN, {"loss": "split"}),
    "AC-GAN": (ACGAN, {}),
}
CLASSIFIERS = ("Madry", "RobGAN", "RobGAN + fine-tune")
MADRY = {"epsilon": 0.1, "steps": 5, "learning_rate": 1e-3, "epochs": 110,
         "decay_epochs": (80, 100)}
GAP_EPSILONS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2)
EVERY = 10  # epochs between the generator metrics of figure 7


def spec(path, seed, changes=None):
    s = tomllib.loads((ROOT / "recipes" / path).read_text())
    s["name"] = f"{s['name']}-seed{seed}"
    s["seed"] = s["game"]["seed"] = seed
    s["game"].update(changes or {})
    return s


class FromRun(Recipe):
    """The fine-tune recipe with its critic and generator given (the run just trained)."""

    def __init__(self, spec_, game):
        self._game = game
        super().__init__(spec_)

    def players(self, ds):
        return {"critic": self._game.critic, "generator": self._game.generator}


class GeneratorCurve(keras.callbacks.Callback):
    """Frechet classifier distance and classifier score every ``EVERY`` epochs."""

    def __init__(self, ds, features):
        super().__init__()
        self.ds, self.features, self.curve = ds, features, {}

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % EVERY == 0:
            report = kzoo.metrics.generator_report(self.model, self.ds, features=self.features)
            self.curve[epoch + 1] = [report["frechet_classifier_distance"],
                                     report["classifier_score"]]


def robust(model, x, y, epsilons):
    return kzoo.metrics.robust_accuracy(model, x, y, epsilons, steps=20, step_ratio=4.0)


def classifier_record(model, ds, recipe_epsilons, gap=False):
    """Test robust accuracy at the recipe's radii; with ``gap``, train and test at
    ``GAP_EPSILONS``; validation accuracy."""
    record = {f"robust@{e:g}": a for e, a in robust(model, ds.x_test, ds.y_test,
                                                    recipe_epsilons).items()}
    pred = kzoo.metrics.predict_proba(model, ds.x_val).argmax(-1)
    record["val_accuracy"] = float(np.mean(pred == ds.y_val))
    if gap:
        for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
            record.update({f"{split}@{e:g}": a for e, a in robust(model, x, y,
                                                                  GAP_EPSILONS).items()})
    return record


def fit(game, ds, epochs, batch_size, callbacks=()):
    start = time.perf_counter()
    game.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=batch_size, verbose=0,
             callbacks=list(callbacks))
    return round(time.perf_counter() - start, 1)


def train_generator(name, seed, features, out):
    """The records of a co-training (or AC-GAN) run, and of its fine-tuning for RobGAN."""
    path, changes = GENERATORS[name]
    recipe = Recipe(spec(path, seed, changes))
    keras.utils.set_random_seed(seed)
    ds = recipe.dataset()
    game = recipe.build(ds)
    curve = GeneratorCurve(ds, features)
    fit_s = fit(game, ds, recipe.spec.fit.epochs, recipe.spec.fit.batch_size, [curve])
    epsilons = list(recipe.spec.eval.robust_epsilons)
    record = {**kzoo.metrics.generator_report(game, ds, features=features),
              **classifier_record(game.classifier, ds, epsilons, gap=name == "RobGAN"),
              "fit_s": fit_s, "generator_curve": curve.curve}
    if seed == 0:
        np.save(out / f"robgan_samples_{name.replace(' ', '_')}.npy",
                game.sample(50, labels=np.repeat(np.arange(10), 5), seed=0))
    records = {name: record}
    if name == "RobGAN":  # fine-tunes the same critic: after the co-training's records
        tune = FromRun(spec(FINE_TUNE, seed), game)
        keras.utils.set_random_seed(seed)
        tuned = tune.build(ds)
        fit_s = fit(tuned, ds, tune.spec.fit.epochs, tune.spec.fit.batch_size)
        records["RobGAN + fine-tune"] = {
            **classifier_record(tuned.classifier, ds, epsilons, gap=True), "fit_s": fit_s}
    return records


def train_madry(seed):
    recipe = Recipe(spec(ROBGAN, seed))
    keras.utils.set_random_seed(seed)
    ds = recipe.dataset()
    critic = recipe.players(ds)["critic"]
    lr = staged_rate(MADRY["learning_rate"], MADRY["decay_epochs"],
                     recipe.steps_per_epoch(ds))
    game = kzoo.games.PGDAdversarialTraining(kzoo.nets.class_head(critic),
                                             epsilon=MADRY["epsilon"], steps=MADRY["steps"],
                                             seed=seed)
    game.compile(keras.optimizers.Adam(lr))
    fit_s = fit(game, ds, MADRY["epochs"], recipe.spec.fit.batch_size)
    epsilons = list(recipe.spec.eval.robust_epsilons)
    return {**classifier_record(game.classifier, ds, epsilons, gap=True), "fit_s": fit_s}


def jobs(seeds):
    return [(f"{m}|{s}", m, s) for s in range(seeds) for m in ("Madry", *GENERATORS)]


# ------------------------------------------------------------------------------ report
def run(method):
    """The cache key of ``method``'s run at a seed."""
    return lambda s: f"{method}|{s}"


def epsilons_of(results):
    keys = next(iter(results.values()))
    return sorted(float(k.split("@")[1]) for k in keys if k.startswith("robust@"))


def tables(results, seeds, backends):
    eps = epsilons_of(results)
    cols = [f"robust@{e:g}" for e in eps]
    gaps = [e for e in GAP_EPSILONS if e > 0]
    real = values(results, run("RobGAN"), "frechet_classifier_distance_real", seeds)
    lines = [f"Rob-GAN and Madry on digits ({backends}, seeds 0-{seeds - 1}, "
             f"{len(results)} runs; `python benchmarks/robgan_table.py`).", "",
             "Test accuracy under PGD-20 (linf, steps of epsilon / 5, [0, 1] units; the "
             "paper's [-1, 1] radii 0.02, 0.04, 0.08 are 0.01, 0.02, 0.04 here), in %, "
             "mean +- std over seeds:", ""]
    lines += markdown_table(["classifier", *(f"eps {e:g}" for e in eps)], [
        [m, *(fmt_mean_std(values(results, run(m), c, seeds)) for c in cols)] for m in CLASSIFIERS])
    lines += ["", "Paired differences in points, mean [95% interval] (an interval across 0: "
              "within noise):", ""]
    lines += markdown_table(["comparison", *(f"eps {e:g}" for e in eps)], [
        [f"{a} - {b}", *(paired(results, run(a), run(b), c, seeds) for c in cols)]
        for a, b in (("RobGAN + fine-tune", "Madry"), ("RobGAN", "Madry"),
                     ("RobGAN + fine-tune", "RobGAN"))])
    lines += ["", "Generalisation gap (figures 1 and 8): robust accuracy on the training "
              "split minus on the test split, in points, mean +- std; then RobGAN + fine-tune "
              "- Madry, paired (mean [95% interval]): the gap, and each split's robust "
              "accuracy:", ""]
    lines += markdown_table(["classifier", *(f"eps {e:g}" for e in gaps)], [
        [m, *(fmt_mean_std(values(results, run(m), f"gap@{e:g}", seeds)) for e in gaps)]
        for m in CLASSIFIERS] + [
        ["RobGAN + fine-tune - Madry (paired)",
         *(paired(results, run("RobGAN + fine-tune"), run("Madry"), f"gap@{e:g}", seeds)
           for e in gaps)]] + [
        [f"RobGAN + fine-tune - Madry, {name} robust accuracy (paired)",
         *(paired(results, run("RobGAN + fine-tune"), run("Madry"), f"{split}@{e:g}", seeds)
           for e in gaps)] for split, name in (("test", "test"), ("train", "training"))])
    lines += ["", "Generators (1,000 samples against the test split, digits feature network; "
              f"lower FCD is better; FCD of the training images: {fmt_mean_std(real, 1, 3)}), "
              "mean +- std, the paired difference from RobGAN, and the accuracy of the "
              "critic's class head on clean test images:", ""]
    lines += markdown_table(
        ["generator", "FCD", "classifier score", "FCD - RobGAN's", "class-head accuracy"],
        [[m, fmt_mean_std(values(results, run(m), "frechet_classifier_distance", seeds), 1, 3),
          fmt_mean_std(values(results, run(m), "classifier_score", seeds), 1, 2),
          "" if m == "RobGAN" else paired(results, run(m), run("RobGAN"),
                                          "frechet_classifier_distance", seeds, 1, 3),
          fmt_mean_std(values(results, run(m), "robust@0", seeds))] for m in GENERATORS])
    epochs = sorted(int(e) for e in results["RobGAN|0"]["generator_curve"])
    lines += ["", "Classifier score of the generators during training (figure 7), mean +- std; "
              "then each one's paired difference from RobGAN's:", ""]
    lines += markdown_table(["generator", *(f"epoch {e}" for e in epochs)], [
        [m, *(fmt_mean_std(values(results, run(m), f"score@{e}", seeds), 1, 2) for e in epochs)]
        for m in GENERATORS] + [
        [f"{m} - RobGAN", *(paired(results, run(m), run("RobGAN"), f"score@{e}", seeds, 1, 2)
                            for e in epochs)] for m in GENERATORS if m != "RobGAN"])
    others = [m for m in GENERATORS if m != "RobGAN"]  # RobGAN's pairs: the tables above
    lines += ["", "The other pairs of generators at the end (epoch 80), paired (mean [95% "
              "interval]; lower FCD is better): FCD and classifier score, a - b:", ""]
    lines += markdown_table(["a - b", "FCD", "classifier score"], [
        [f"{a} - {b}", *(paired(results, run(a), run(b), k, seeds, 1, d)
                         for k, d in (("frechet_classifier_distance", 3),
                                      ("classifier_score", 2)))]
        for i, a in enumerate(others) for b in others[i + 1:]])
    fit_s = {m: values(results, run(m), "fit_s", seeds) for m in ("Madry", *GENERATORS,
                                                             "RobGAN + fine-tune")}
    lines += ["", "Training time (s, mean): " + ", ".join(
        f"{m} {np.mean(v):.0f}" for m, v in fit_s.items() if v) + "."]
    return "\n".join(lines)


def with_derived(results):
    """Each run with its generalisation gap ``gap@EPS`` (robust accuracy on the training
    split minus on the test split) where it measured both, and its generator's classifier
    score ``score@EPOCH`` during training, so that both pair per seed like any metric."""
    return {key: {**r, **{f"gap@{e:g}": r[f"train@{e:g}"] - r[f"test@{e:g}"]
                          for e in GAP_EPSILONS if f"train@{e:g}" in r},
                  **{f"score@{e}": c[1] for e, c in r.get("generator_curve", {}).items()}}
            for key, r in results.items()}


def figures(results, seeds, out):
    eps = epsilons_of(results)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for m in CLASSIFIERS:
        acc = np.array([[results[f"{m}|{s}"][f"robust@{e:g}"] for e in eps]
                        for s in range(seeds) if f"{m}|{s}" in results])
        axes[0].errorbar(eps, acc.mean(0), yerr=acc.std(0, ddof=1), marker="o", capsize=2, label=m)
    axes[0].set(xlabel="epsilon ([0, 1] units)", ylabel="test accuracy under PGD-20",
                title="Table 1: robust accuracy (mean +- std)")
    gaps = [e for e in GAP_EPSILONS if e > 0]
    for m in ("Madry", "RobGAN + fine-tune"):
        g = np.array([values(results, run(m), f"gap@{e:g}", seeds) for e in gaps])
        axes[1].errorbar(gaps, g.mean(1), yerr=g.std(1, ddof=1), marker="o", capsize=2, label=m)
    axes[1].set(xlabel="epsilon", ylabel="train - test robust accuracy",
                title="Figures 1 and 8: generalisation gap")
    save_figure(fig, axes, out / "robgan_robust.png", legend_size=7)

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for m in GENERATORS:
        curves = [results[f"{m}|{s}"]["generator_curve"] for s in range(seeds)
                  if f"{m}|{s}" in results]
        epochs = sorted(int(e) for e in curves[0])
        for i, label in enumerate(("Frechet classifier distance", "classifier score")):
            v = np.array([[c[str(e)][i] for e in epochs] for c in curves])
            axes[i].errorbar(epochs, v.mean(0), yerr=v.std(0, ddof=1), marker="o", capsize=2,
                             label=m)
            axes[i].set(xlabel="epoch", ylabel=label)
    axes[0].set_title("Figure 7: generators over training")
    save_figure(fig, axes, out / "robgan_generators.png", legend_size=7)

    grids = {m: out / f"robgan_samples_{m.replace(' ', '_')}.npy" for m in GENERATORS}
    grids = {m: np.load(p) for m, p in grids.items() if p.is_file()}
    if grids:
        fig, axes = plt.subplots(1, len(grids), figsize=(2.6 * len(grids), 3.2))
        for ax, (m, images) in zip(np.atleast_1d(axes), grids.items()):
            tiles = images[..., 0].reshape(10, 5, 8, 8).transpose(1, 2, 0, 3).reshape(40, 80)
            ax.imshow(tiles, cmap="gray", vmin=0, vmax=1)
            ax.set(title=m, xticks=[], yticks=[])
        fig.suptitle("Figure 6: samples, one class per column (seed 0)", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "robgan_samples.png", dpi=120)
        plt.close(fig)


def main():
    args, out = parse_args(__doc__, seeds=5, shards=True)
    cache = out / "robgan_runs.json"
    results = read_cache(cache)
    if not args.report_only:
        index, count = args.shard
        features = ClassifierFeatures(kzoo.load(feature_preset("digits")))
        for i, (key, method, seed) in enumerate(jobs(args.seeds)):
            if i % count != index or key in read_cache(cache):
                continue
            start = time.perf_counter()
            records = ({"Madry": train_madry(seed)} if method == "Madry"
                       else train_generator(method, seed, features, out))
            results = add_to_cache(cache, {f"{m}|{seed}": r for m, r in records.items()})
            print(f"{key}: {time.perf_counter() - start:.0f} s", flush=True)
        if count > 1:
            return
    results = with_derived(read_cache(cache))
    seeds = args.seeds
    report = tables(results, seeds, ran_on(cache))
    (out / "robgan_table.md").write_text(report + "\n")
    figures(results, seeds, out)
    print(report)


if __name__ == "__main__":
    main()
