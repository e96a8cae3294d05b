"""AEGL's comparison (its tables 1-3 and figure 4), re-run on long-tailed digits.

For imbalance 10 and 20 and seeds 0-4 (the seed sets the data split, the long-tail
subset and the initialisation), trains CE, CE+DRW, LDAM, LDAM-DRW (60 epochs, the
recipes in recipes/classifier/), then fine-tunes AEGL for 10 epochs from the CE model
and from the LDAM-DRW model (recipes/aegl/). The control "CE + fine-tune" is AEGL
with cross_weight 0: the same 10 epochs, optimizer and attack cost, without the
guiding examples. Prints mean +- std of test accuracy, balanced accuracy and tail
accuracy; saves per-class accuracy at imbalance 10 as a PNG (the paper's figure 4);
then the ablation of the PGD steps k in {1, 3, 5, 7, 9} (AEGL on CE, imbalance 10)
with the guiding examples per epoch (the paper's table 3).

Each comparison a sentence of the README makes is reported as the paired 95% interval
of the difference over the seeds, with its verdict. Runs are cached per imbalance and
seed in ``long_tail_runs.json`` (``long_tail_runs_lr<rate>.json`` with ``--aegl-lr``)
under ``--out``: a rerun with more seeds trains only the new ones.

    python benchmarks/long_tail_table.py [--seeds 10] [--aegl-lr 0.001] [--out benchmarks/results]
        [--report-only]
"""

import time
import tomllib

import common
import keras
import numpy as np
from common import ROOT, add_to_cache, fmt_mean_std, markdown_table, paired, parse_args, read_cache

import kzoo
from kzoo.metrics.plots import plt
from kzoo.recipes import Recipe

RECIPES = {
    "CE": "classifier/digits-lt10-ce.toml",
    "LDAM-DRW": "classifier/digits-lt10-ldam-drw.toml",
    "AEGL": "aegl/digits-lt10.toml",
}
TAIL_THRESHOLD = {10: 31, 20: 20}
KS = (1, 3, 5, 7, 9)


def spec(name, imbalance, seed, game=None, lr=None):
    """The recipe ``name`` at this imbalance and seed, with ``game`` arguments (and the
    learning rate, if given) replaced."""
    s = tomllib.loads((ROOT / "recipes" / RECIPES[name]).read_text())
    if lr is not None:
        s["optimizer"]["learning_rate"] = lr
    s["seed"] = seed
    s["data"]["bias"] = [{"kind": "long_tail", "imbalance": imbalance}]
    s["game"].update(game or {})
    return s


class FromNet(Recipe):
    """A recipe whose net is given (a trained model to fine-tune)."""

    def __init__(self, spec_, net):
        self._given = net
        super().__init__(spec_)

    def players(self, ds):
        clone = keras.models.clone_model(self._given)
        clone.set_weights(self._given.get_weights())
        return {"net": clone}


def train(recipe, ds, callbacks=()):
    keras.utils.set_random_seed(recipe.seed)
    game = recipe.build(ds)
    history = game.fit(ds.x_train, ds.y_train, epochs=recipe.spec.fit.epochs,
                       batch_size=recipe.spec.fit.batch_size,
                       callbacks=list(callbacks), verbose=0)
    pred = kzoo.metrics.predict_proba(game, ds.x_test).argmax(-1)
    return game, kzoo.metrics.classification_report(ds, pred), history.history


def run_seed(imbalance, seed, aegl_lr=None):
    base = spec("CE", imbalance, seed)
    ds = Recipe(base).dataset()
    rows, nets = {}, {}
    variants = {
        "CE": ("CE", {}, None),
        "CE+DRW": ("CE", {}, 45),
        "LDAM": ("LDAM-DRW", {}, None),
        "LDAM-DRW": ("LDAM-DRW", {}, 45),
    }
    for label, (recipe_name, game, drw) in variants.items():
        s = spec(recipe_name, imbalance, seed, game)
        s["game"].pop("reweight_epoch", None)
        if drw is not None:
            s["game"]["reweight_epoch"] = drw
        model, report, _ = train(Recipe(s), ds)
        rows[label], nets[label] = report, model.net
    tail = TAIL_THRESHOLD[imbalance]
    for label, start, extra in (
        ("CE + fine-tune (control)", "CE", {"cross_weight": 0.0}),
        ("AEGL (on CE)", "CE", {}),
        ("AEGL (on LDAM-DRW)", "LDAM-DRW", {"loss": "ldam", "reweight_epoch": 0}),
    ):
        s = spec("AEGL", imbalance, seed, {"tail_threshold": tail, "seed": seed, **extra},
                 lr=aegl_lr)
        rows[label] = train(FromNet(s, nets[start]), ds)[1]
    ablation = {}
    if imbalance == 10:
        for k in KS:
            s = spec("AEGL", imbalance, seed, {"tail_threshold": tail, "seed": seed, "steps": k},
                     lr=aegl_lr)
            game, report, history = train(FromNet(s, nets["CE"]), ds)
            steps = int(np.ceil(len(ds.y_train) / s["fit"]["batch_size"]))
            ablation[k] = {**report, "gaes": [g * steps for g in history["gae_per_batch"]]}
    return rows, ablation


COMPARISONS = (  # a - b: the README's sentences
    ("AEGL (on CE)", "CE + fine-tune (control)"),
    ("AEGL (on LDAM-DRW)", "LDAM-DRW"),
    ("LDAM-DRW", "CE"),
    ("LDAM-DRW", "CE+DRW"),
    ("LDAM-DRW", "LDAM"),
    ("CE+DRW", "CE"),
)


def key(imbalance, seed):
    return f"{imbalance}|{seed}"


def method(label):
    """The key of ``label``'s run at a seed in :func:`tables`' flattened results."""
    return lambda s: f"{label}|{s}"


def tables(results, seeds, where):
    def row_of(label, imbalance):
        return lambda s: results.get(key(imbalance, s), {}).get("rows", {}).get(label)

    def flat(imbalance):
        """``{"<label>|<seed>": report}`` at this imbalance, for :func:`common.paired`."""
        return {f"{label}|{s}": r for s in range(seeds)
                for label, r in results.get(key(imbalance, s), {}).get("rows", {}).items()}

    done = [s for s in range(seeds) if key(10, s) in results and key(20, s) in results]
    lines = [f"Long-tailed digits, test accuracy in %, mean +- std over {len(done)} seeds "
             f"({where}; `python benchmarks/long_tail_table.py`):", ""]
    labels = list(results[key(10, done[0])]["rows"])
    metrics = ("accuracy", "balanced_accuracy", "tail_accuracy")
    lines += markdown_table(
        ["method"] + [f"IF {i} {m}" for i in (10, 20) for m in ("accuracy", "balanced", "tail")],
        [[label, *(fmt_mean_std([row_of(label, i)(s)[m] for s in done]) for i in (10, 20)
                   for m in metrics)] for label in labels])
    lines += ["", "Paired differences over the same seeds (a - b, points, mean [95% interval], "
              "verdict on a):", ""]
    lines += markdown_table(
        ["a - b", "IF 10 accuracy", "IF 10 tail", "IF 20 accuracy", "IF 20 tail"],
        [[f"{a} - {b}", *(paired(flat(i), method(a), method(b), m, seeds, higher_is_better=True)
                          for i in (10, 20) for m in ("accuracy", "tail_accuracy"))]
         for a, b in COMPARISONS])
    a, b = "AEGL (on CE)", "CE + fine-tune (control)"
    lines += ["", f"Per class at imbalance 10, {a} - {b} (points; class 0 is the head, 9 the "
              "rarest):", ""]
    lines += markdown_table(
        ["class", "difference"],
        [[c, paired(flat(10), method(a), method(b), f"class_{c}_accuracy", seeds,
                    higher_is_better=True)] for c in range(10)])
    ablation = {k: [results[key(10, s)]["ablation"][str(k)] for s in done] for k in KS}
    lines += ["", "Ablation of the PGD steps k (AEGL on CE, imbalance 10): accuracy, tail "
              "accuracy, guiding examples per epoch (first / last epoch):", ""]
    lines += markdown_table(
        ["k", "accuracy", "tail", "GAEs, epoch 1", "GAEs, last epoch"],
        [[k, fmt_mean_std([r["accuracy"] for r in ablation[k]]),
          fmt_mean_std([r["tail_accuracy"] for r in ablation[k]]),
          f"{np.mean([r['gaes'][0] for r in ablation[k]]):.1f}",
          f"{np.mean([r['gaes'][-1] for r in ablation[k]]):.1f}"] for k in KS])
    return "\n".join(lines), done


def per_class_figure(results, done, path):
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for label in ("CE", "LDAM-DRW", "CE + fine-tune (control)", "AEGL (on CE)"):
        per_class = np.array([[results[key(10, s)]["rows"][label][f"class_{c}_accuracy"]
                               for c in range(10)] for s in done])
        ax.plot(range(10), per_class.mean(0), "o-", label=label)
    ax.set(xlabel="class (0 = head, 9 = rarest)", ylabel="test accuracy", xticks=range(10),
           title=f"Per-class accuracy, digits LT 10, mean of {len(done)} seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    args, out = parse_args(__doc__, seeds=10, options=[
        (("--aegl-lr",), {"type": float, "help": "AEGL fine-tuning rate (default: recipe)"})])
    rate = "" if args.aegl_lr is None else f"_lr{args.aegl_lr:g}"
    cache = out / f"long_tail_runs{rate}.json"
    results = read_cache(cache)
    start = time.perf_counter()
    for imbalance in (10, 20):
        for seed in range(args.seeds):
            if key(imbalance, seed) in results or args.report_only:
                continue
            rows, ablation = run_seed(imbalance, seed, args.aegl_lr)
            results = add_to_cache(cache, {key(imbalance, seed): {
                "rows": rows, "ablation": {str(k): v for k, v in ablation.items()}}})
            print(f"imbalance {imbalance} seed {seed} done ({time.perf_counter() - start:.0f} s)",
                  flush=True)
    where = common.ran_on(cache) + (f", AEGL fine-tuning rate {args.aegl_lr:g}" if rate else "")
    text, done = tables(results, args.seeds, where)
    print("\n" + text)
    (out / f"long_tail_table{rate}.md").write_text(text + "\n")
    if not rate:
        per_class_figure(results, done, out / "long_tail_per_class.png")
    print(f"\nwrote {out / f'long_tail_table{rate}.md'}")


if __name__ == "__main__":
    main()
