"""The paper-scale recipes' cost: milliseconds per step, measured, and the time of a full run.

    python benchmarks/paper_scale.py [--backends tensorflow,torch,jax] [--recipes cifar10-ce,...]
        [--jit recipe,false,true] [--steps 3] [--report-only]

For every recipe on a tensorflow-datasets data set (or those whose ``<folder>/<stem>``
contains one of ``--recipes``), in one process per backend: the recipe's game as the
recipe builds it (its bias, augmentation, precision, nets, game, optimizers and
``jit_compile``, which ``--jit`` false or true overrides; a start from another recipe's run
is that recipe's net, fresh: the cost is the same) on tensorflow-datasets' mock data (noise
images of the data set's shape: a step costs the same on any pixels), at the recipe's
batch size. One step warms up (compilation), then ``--steps`` steps are timed; ms/step is
their wall time over their number. A game with a warm-up stage (Meta-IADA: plain steps,
then meta steps) is timed in each stage.

The full run: the recipe's epochs times its steps per epoch, the steps being its training
set over the batch size (``kzoo.paper_scale.full_run_steps``: the real train split less
kzoo's validation carve and the recipe's bias); a staged game's estimate adds its stages.
Results accumulate in ``benchmarks/results/paper_scale.json``; the table
is ``paper_scale.md``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

from common import ROOT, add_to_cache, markdown_table, read_cache


def time_steps(recipe, jit, steps, warmup_steps=None):
    """ms/step of ``recipe``'s game after one warm-up step (``warmup_steps`` overrides the
    game's, for a staged game)."""
    import numpy as np
    import tensorflow_datasets as tfds

    from kzoo import paper_scale
    from kzoo.recipes import Recipe

    batch = recipe.spec.fit.batch_size
    if warmup_steps is not None:
        recipe = Recipe({**recipe.source, "game": {**recipe.source["game"],
                                                   "warmup_steps": warmup_steps}}, recipe.path)
    with recipe.precision():
        with tfds.testing.mock_data(num_examples=paper_scale.MOCK_EXAMPLES):
            ds = recipe.dataset()
        game = recipe.build(ds)  # on the whole mock set: class counts, sample ids
        if jit != "recipe":
            game.compile(game.optimizer, jit_compile=jit == "true")
        rows = np.arange(batch * steps) % len(ds.y_train)
        batches = recipe.batches(game, ds.replace({"step": "timing rows"},
                                                  x_train=ds.x_train[rows],
                                                  y_train=ds.y_train[rows]))
        game.fit(batches, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
        start = time.perf_counter()
        game.fit(batches, epochs=1, verbose=0, shuffle=False)
        return 1000 * (time.perf_counter() - start) / steps


def worker(paths, jit_modes, steps):
    import socket

    from kzoo import backend, paper_scale
    from kzoo.recipes import Recipe

    class _Connection:  # tfds' mock skips the download; kzoo checks the host first
        def close(self):
            pass

    socket.create_connection = lambda *args, **kwargs: _Connection()
    for path in paths:
        for jit in jit_modes:
            recipe = paper_scale.with_fresh_nets(Recipe.from_file(path), ROOT / "recipes")
            per_epoch, n_train = paper_scale.full_run_steps(recipe)
            total = per_epoch * recipe.spec.fit.epochs
            row = {"recipe": str(path.relative_to(ROOT)), "backend": backend.name, "jit": jit,
                   "batch_size": recipe.spec.fit.batch_size, "train_examples": n_train,
                   "steps_per_epoch": per_epoch, "epochs": recipe.spec.fit.epochs,
                   "total_steps": total, "machine": f"{platform.machine()}, "
                   f"{os.cpu_count()} cores", "versions": backend.versions()}
            try:
                warm = recipe.spec.game.arguments.get("warmup_steps")
                if warm:  # a staged game: time each stage
                    row["ms_warmup_stage"] = time_steps(recipe, jit, steps)
                    row["ms"] = time_steps(recipe, jit, steps, warmup_steps=0)
                    row["hours"] = (min(warm, total) * row["ms_warmup_stage"]
                                    + max(total - warm, 0) * row["ms"]) / 3.6e6
                else:
                    row["ms"] = time_steps(recipe, jit, steps)
                    row["hours"] = total * row["ms"] / 3.6e6
            except Exception as err:  # noqa: BLE001 - report (e.g. torch.compile failures)
                row["error"] = f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]
            print(json.dumps(row), flush=True)


def report(cache, out):
    rows = []
    for key in sorted(cache):
        r = cache[key]
        ms = "failed: " + r["error"][:80] if "error" in r else (
            f"{r['ms']:.0f}" if "ms_warmup_stage" not in r
            else f"{r['ms']:.0f} (warm-up stage {r['ms_warmup_stage']:.0f})")
        hours = "" if "error" in r else f"{r['hours']:.1f}"
        rows.append([r["recipe"].removeprefix("recipes/"), r["backend"], r["jit"],
                     str(r["batch_size"]), f"{r['steps_per_epoch']} x {r['epochs']}", ms, hours])
    table = "\n".join(markdown_table(["recipe", "backend", "jit_compile", "batch",
                                      "steps x epochs", "ms/step", "full run, hours"], rows))
    (out / "paper_scale.md").write_text(table + "\n")
    print(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,torch,jax")
    parser.add_argument("--recipes", default="",
                        help="comma-separated parts of <game folder>/<file stem>")
    parser.add_argument("--jit", default="recipe", help="among recipe, false, true")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    jit_modes = [m.strip() for m in args.jit.split(",")]
    if set(jit_modes) - {"recipe", "false", "true"} or args.steps < 1:
        parser.error(f"--jit takes recipe, false, true (got {args.jit!r}); --steps >= 1 "
                     f"(got {args.steps})")
    from kzoo.paper_scale import recipe_paths

    filters = [f for f in args.recipes.split(",") if f]
    paths = [p for p in recipe_paths(ROOT / "recipes")
             if not filters or any(f in f"{p.parent.name}/{p.stem}" for f in filters)]
    if args.worker:
        return worker(paths, jit_modes, args.steps)
    out = ROOT / "benchmarks" / "results"
    cache_path = out / "paper_scale.json"
    for backend in [] if args.report_only else args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        with subprocess.Popen([sys.executable, __file__, "--worker", "--recipes", args.recipes,
                               "--jit", args.jit, "--steps", str(args.steps)],
                              stdout=subprocess.PIPE, text=True, env=env) as proc:
            for line in proc.stdout:  # a row per recipe, cached as it comes
                if line.startswith("{"):
                    row = json.loads(line)
                    key = f"{row['recipe']}|{row['backend']}|{row['jit']}"
                    add_to_cache(cache_path, {key: row}, backend_of=lambda r: r["backend"])
                    print(f"{key}: {row.get('ms', row.get('error'))}", flush=True)
    report(read_cache(cache_path), out)


if __name__ == "__main__":
    main()
