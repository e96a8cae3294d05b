"""Data-parallel scaling: time per global batch on 1 and N devices, per backend and game.

    python benchmarks/scaling.py [--backends tensorflow,torch,jax] [--devices 2]
        [--recipes classifier/digits-lt10-ce,...] [--epochs 3] [--report-only]

Each cell is ``kzoo train RECIPE --backend B --devices D --epochs E`` in its own process
(torch: D processes), the recipe's global batch unchanged; ms per global batch is the
card's ``ms_per_step`` (``kzoo.callbacks.StepTimer``: the median over epochs 2+).
The fraction of ideal is ``t(1) / (D * t(D))``: 1 when D devices take 1/D of one device's
time. On CPU devices, which share the machine's cores and memory, the figure measures the
engine's overhead, not a speed-up. Results accumulate in
``benchmarks/results/scaling.json``; the table is ``scaling.md``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, add_to_cache, markdown_table, read_cache

RECIPES = ("classifier/digits-lt10-ce", "madry/digits", "aegl/digits-lt10",
           "meta_iada/digits-lt10", "gan/digits-dcgan")
CACHE = ROOT / "benchmarks" / "results" / "scaling.json"


def measure(recipe, backend, devices, epochs):
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "kzoo.cli", "train", f"recipes/{recipe}.toml",
                   "--backend", backend, "--devices", str(devices), "--epochs", str(epochs),
                   "--out", out, "--quiet"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)}: {done.stderr[-1500:]}")
        card = json.loads((Path(out) / "card.json").read_text())
    return {"recipe": recipe, "backend": backend, "devices": devices, "epochs": epochs,
            "ms_per_step": card["ms_per_step"], "engine": card["devices"]["engine"],
            "machine": f"{platform.machine()}, {os.cpu_count()} cores"}


def report(runs):
    rows = []
    for run in runs:
        if run["devices"] == 1:
            continue
        one = next((r for r in runs if r["devices"] == 1 and r["recipe"] == run["recipe"]
                    and r["backend"] == run["backend"]), None)
        if one is None:
            continue
        ideal = one["ms_per_step"] / (run["devices"] * run["ms_per_step"])
        rows.append((run["recipe"], run["backend"], run["engine"],
                     f"{one['ms_per_step']:.1f}", f"{run['ms_per_step']:.1f}",
                     f"{run['devices']}", f"{ideal:.2f}"))
    header = ("recipe", "backend", "engine", "ms/batch, 1 device", "ms/batch, N devices",
              "N", "fraction of ideal")
    table = "\n".join(markdown_table(header, rows))
    (ROOT / "benchmarks" / "results" / "scaling.md").write_text(table + "\n")
    print(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,torch,jax")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if not args.report_only:
        for backend in args.backends.split(","):
            for recipe in args.recipes.split(","):
                for devices in (1, args.devices):
                    run = measure(recipe, backend, devices, args.epochs)
                    print(json.dumps(run), flush=True)
                    add_to_cache(CACHE, {f"{recipe}|{backend}|{devices}": run},
                                 backend_of=lambda r: r["backend"])
    report(list(read_cache(CACHE).values()))


if __name__ == "__main__":
    main()
