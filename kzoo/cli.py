"""The ``kzoo`` command: train | eval | sample | list | compare-backends | demo.

``--backend`` sets ``KERAS_BACKEND`` before Keras is imported, so every
command can run on tensorflow, torch or jax.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BACKENDS = ("tensorflow", "torch", "jax")


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return args.func(args) or 0
    except (ValueError, OSError, ImportError) as err:
        print(f"kzoo {args.command}: error: {err}", file=sys.stderr)
        return 2


def _parser():
    parser = argparse.ArgumentParser(prog="kzoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: as set)")
        p.set_defaults(func=func)
        return p

    p = command("train", _train, "Train a recipe; write model.keras, card.json and PNGs.")
    p.add_argument("recipe", help="path to a TOML recipe")
    p.add_argument("--out", help="run directory (default: runs/<recipe name>)")
    p.add_argument("--overwrite", action="store_true", help="replace a different run in --out")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command("eval", _eval, "Recompute a preset's or run's metrics and compare to its card.")
    p.add_argument("name", help="preset name or run directory")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--tol", type=float, default=1e-5,
                   help="allowed |card - now| / max(1, |card|) (default 1e-5; cards round "
                        "to 1e-6)")

    p = command("sample", _sample, "Write a grid (or, for 2-D data, a scatter) of a generator "
                                   "preset's samples.")
    p.add_argument("name", help="generator preset name or run directory")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", help="PNG path (default: <name>-samples.png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent draw (default 0)")
    p.add_argument("--worst-eps", type=float, default=0.0,
                   help="sample at the worst input noise within this l2 radius (default 0)")

    command("list", _list, "List the presets in the zoo.")

    p = command("compare-backends", _compare,
                "Train one recipe on several backends, each in its own process; compare.")
    p.add_argument("recipe")
    p.add_argument("--backends", default=",".join(BACKENDS),
                   help="comma-separated (default: tensorflow,torch,jax)")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")

    p = command("demo", _demo, "Tour the zoo on the embedded digits: evaluate, fine-tune, compare.")
    p.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (default 5)")
    return parser


def _train(args):
    from kzoo import recipes, runs

    recipe = recipes.Recipe.from_file(args.recipe)
    out = Path(args.out or Path("runs") / recipe.name)
    card = runs.train(recipe, out, overwrite=args.overwrite, epochs=args.epochs,
                      verbose=0 if args.quiet else "auto")
    print(f"{card['name']} [{card['backend']}]: {_headline(card['metrics'])}; "
          f"{card['wall_time_s']:.1f} s, {card['ms_per_step']:.2f} ms/step -> {out}")


def _headline(m):
    """The card's main numbers in one line (FCD: Frechet classifier distance)."""
    if "accuracy" in m:
        tail = f", tail {m['tail_accuracy']:.4f}" if "tail_accuracy" in m else ""
        return f"accuracy {m['accuracy']:.4f}, balanced {m['balanced_accuracy']:.4f}{tail}"
    if "modes" in m:
        return (f"modes {m['modes']}, high quality {m['high_quality']:.3f}, "
                f"log density {m['log_density']:.2f}")
    return (f"FCD {m['frechet_classifier_distance']:.3f} (real data "
            f"{m['frechet_classifier_distance_real']:.3f}), classifier score "
            f"{m['classifier_score']:.2f}")


def _eval(args):
    from kzoo import runs
    from kzoo.tables import format_table

    card, now = runs.evaluate(args.name)
    diffs = {k: abs(now[k] - card["metrics"].get(k, float("nan"))) for k in now}
    scaled = {k: d / max(1.0, abs(card["metrics"].get(k, 1.0))) for k, d in diffs.items()}
    worst = max(scaled.values())
    ok = worst <= args.tol and set(now) <= set(card["metrics"])  # a metric the card lacks fails
    if args.json:
        print(json.dumps({"name": card["name"], "metrics": now, "card_metrics": card["metrics"],
                          "max_rel_diff": worst, "tolerance": args.tol, "reproduced": ok},
                         indent=2))
    else:
        rows = [(k, card["metrics"].get(k, float("nan")), v, diffs[k]) for k, v in now.items()]
        print(format_table(rows, ["metric", "card", "now", "|diff|"]))
        print(f"{card['name']}: {'reproduces' if ok else 'does NOT reproduce'} its card "
              f"(max |diff| / max(1, |card|) {worst:.2g}, tol {args.tol:g}).")
    return 0 if ok else 1


def _list(args):
    from kzoo import zoo
    from kzoo.tables import format_table

    rows = [(c["name"], c["game"], c["data"]["provenance_hash"], _headline(c["metrics"]),
             c["backend"], c["sha256"][:12]) for c in zoo.presets()]
    print(format_table(rows, ["preset", "game", "data", "test metrics", "trained on",
                              "sha256"]))


def _sample(args):
    from kzoo import runs, zoo

    out = args.out or f"{Path(zoo.resolve(args.name)).name}-samples.png"
    path = runs.sample(args.name, out, n=args.n, seed=args.seed, worst_eps=args.worst_eps)
    print(f"{args.n} samples of {args.name} -> {path}")


def _compare(args):
    from kzoo.tables import format_table

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown or not backends:
        raise ValueError(f"--backends has {unknown or 'nothing'}; allowed: {', '.join(BACKENDS)}.")
    if not Path(args.recipe).is_file():
        raise FileNotFoundError(f"No recipe file at {args.recipe}.")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for b in backends:
            out = Path(tmp) / b
            cmd = [sys.executable, "-m", "kzoo.cli", "train", args.recipe, "--backend", b,
                   "--out", str(out), "--quiet"]
            if args.epochs:
                cmd += ["--epochs", str(args.epochs)]
            print(f"[{b}] {' '.join(cmd[2:])}", flush=True)
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            total = time.perf_counter() - start
            if done.returncode:
                print(done.stderr[-2000:], file=sys.stderr)
                rows.append((b, "failed", "", "", "", "", ""))
                continue
            card = json.loads((out / "card.json").read_text())
            m = card["metrics"]
            rows.append((b, m["accuracy"], m["balanced_accuracy"], m.get("tail_accuracy", "-"),
                         card["wall_time_s"], round(total, 1), card["ms_per_step"]))
    print(format_table(rows, ["backend", "accuracy", "balanced", "tail", "fit s",
                              "process s", "ms/step"]))
    return 0 if all(r[1] != "failed" for r in rows) else 1


def _demo(args):
    from kzoo import demo

    demo.run(fine_tune_epochs=args.epochs)


if __name__ == "__main__":
    sys.exit(main())
