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

    python benchmarks/long_tail_table.py [--seeds 5] [--aegl-lr 0.001] [--out benchmarks/results]
"""

import argparse
import time
import tomllib
from pathlib import Path

import keras
import numpy as np

import kzoo
from kzoo.metrics.plots import plt
from kzoo.recipes import Recipe

ROOT = Path(__file__).resolve().parents[1]
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
    history = game.fit(ds.x_train, ds.y_train, epochs=recipe.fit["epochs"],
                       batch_size=recipe.fit["batch_size"],
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
            ablation[k] = (report, [g * steps for g in history["gae_per_batch"]])
    return rows, ablation


def fmt(values):
    return f"{100 * np.mean(values):.1f} +- {100 * np.std(values):.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--aegl-lr", type=float, help="AEGL fine-tuning rate (default: recipe)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results, ablations = {}, []
    for imbalance in (10, 20):
        for seed in range(args.seeds):
            rows, ablation = run_seed(imbalance, seed, args.aegl_lr)
            print(f"imbalance {imbalance} seed {seed} done ({time.perf_counter() - start:.0f} s)",
                  flush=True)
            for label, report in rows.items():
                results.setdefault((label, imbalance), []).append(report)
            if ablation:
                ablations.append(ablation)

    rate = "" if args.aegl_lr is None else f", AEGL fine-tuning rate {args.aegl_lr:g}"
    lines = [f"Long-tailed digits, test accuracy in %, mean +- std over {args.seeds} seeds "
             f"({kzoo.backend.name} backend{rate}, {time.perf_counter() - start:.0f} s):", "",
             "| method | IF 10 accuracy | IF 10 balanced | IF 10 tail | IF 20 accuracy "
             "| IF 20 balanced | IF 20 tail |", "|---|---|---|---|---|---|---|"]
    labels = list(dict.fromkeys(label for label, _ in results))
    for label in labels:
        cells = [fmt([r[key] for r in results[(label, imb)]]) for imb in (10, 20)
                 for key in ("accuracy", "balanced_accuracy", "tail_accuracy")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Ablation of the PGD steps k (AEGL on CE, imbalance 10): accuracy, tail "
              "accuracy, guiding examples per epoch (first / last epoch):", "",
              "| k | accuracy | tail | GAEs, epoch 1 | GAEs, last epoch |", "|---|---|---|---|---|"]
    for k in KS:
        reports = [a[k][0] for a in ablations]
        counts = np.array([a[k][1] for a in ablations])
        lines.append(f"| {k} | {fmt([r['accuracy'] for r in reports])} | "
                     f"{fmt([r['tail_accuracy'] for r in reports])} | "
                     f"{counts[:, 0].mean():.1f} | {counts[:, -1].mean():.1f} |")
    text = "\n".join(lines)
    print("\n" + text)
    (out / "long_tail_table.md").write_text(text + "\n")

    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for label in ("CE", "LDAM-DRW", "CE + fine-tune (control)", "AEGL (on CE)"):
        per_class = np.array([[r[f"class_{c}_accuracy"] for c in range(10)]
                              for r in results[(label, 10)]])
        ax.plot(range(10), per_class.mean(0), "o-", label=label)
    ax.set(xlabel="class (0 = head, 9 = rarest)", ylabel="test accuracy", xticks=range(10),
           title=f"Per-class accuracy, digits LT 10, mean of {args.seeds} seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "long_tail_per_class.png", dpi=120)
    print(f"\nwrote {out / 'long_tail_table.md'} and {out / 'long_tail_per_class.png'}")


if __name__ == "__main__":
    main()
