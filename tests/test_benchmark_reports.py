"""Every committed comparison table of a script that takes ``--out`` is what the script
writes from the committed cache of runs (``--report-only``), byte for byte, under JAX (the
runs were on TensorFlow or torch)."""

import importlib
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, once

RESULTS = ROOT / "benchmarks" / "results"
# (script, its arguments, the tables it writes); paper_scale.py and scaling.py take no --out.
REPORTS = [
    ("aegl_fashion_table", [], ["aegl_fashion_table.md"]),
    ("bad_data_table", [], ["bad_data_table.md"]),
    ("bad_data_fashion_table", [], ["bad_data_fashion_table.md"]),
    ("long_tail_table", [], ["long_tail_table.md"]),
    ("long_tail_table", ["--aegl-lr", "0.01"], ["long_tail_table_lr0.01.md"]),
    ("madry_fashion_table", [], ["madry_fashion_table.md"]),
    ("meta_iada_table", [], ["meta_iada_table.md"]),
    ("meta_iada_fashion_table", [], ["meta_iada_fashion_table.md"]),
    ("rgan_table", [], ["rgan_table.md"]),
    ("rgan_fashion_table", [], ["rgan_fashion_table.md"]),
    ("robgan_table", [], ["robgan_table.md"]),
    ("robgan_fashion_table", [], ["robgan_fashion_table.md"]),
    ("native_torch", [], ["native_torch.md"]),
]


@once  # backend-independent: the script runs under the backend its runs did not use
@pytest.mark.parametrize(("script", "args", "tables"), REPORTS,
                         ids=[f"{s}{''.join(a)}" for s, a, _ in REPORTS])
def test_report_only_rewrites_the_committed_table(script, args, tables, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(RESULTS, out)
    for table in tables:
        (out / table).unlink()
    done = subprocess.run(
        [sys.executable, f"{script}.py", "--report-only", "--out", str(out), *args],
        cwd=ROOT / "benchmarks", capture_output=True, text=True, timeout=300,
        env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr[-3000:]
    for table in tables:
        assert (out / table).read_bytes() == (RESULTS / table).read_bytes(), \
            f"{table} differs from what `{script}.py --report-only` writes"



@once
def test_a_caption_names_its_backends_and_its_runs_cost(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    common = importlib.import_module("common")
    assert [common.backends_in_words(n) for n in (
        [], ["torch", "torch"], ["torch", "tensorflow", "torch"], ["torch", "jax", "tensorflow"],
    )] == ["no recorded backend", "torch backend", "tensorflow and torch backends",
           "jax, tensorflow and torch backends"]
    line = common.cost_line({"CE": [{"wall_s": 100.0, "ms_per_step": 10.0},
                                    {"wall_s": 300.0, "ms_per_step": 30.0},
                                    {"wall_s": 900.0, "ms_per_step": 90.0}], "Madry": []}, "seeds")
    assert line.startswith("Training cost per run (its card's), median over seeds: ms per step "
                           "CE 30; wall time, s, CE 300. ")


@once
def test_a_paired_cell_short_of_its_seeds_says_how_many_and_gives_no_verdict(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    common = importlib.import_module("common")
    results = {f"b{s}": {"acc": 0.5} for s in range(3)}
    results.update({f"a{s}": {"acc": 0.5 + d} for s, d in enumerate([0.010, 0.012, 0.014])})
    a, b = (lambda s: f"a{s}"), (lambda s: f"b{s}")
    # mean 1.2 points, t(0.975, 2) = 4.303 times the standard error 0.2 / sqrt(3)
    assert common.paired(results, a, b, "acc", 3, higher_is_better=True,
                         mark_short=True) == "+1.2 [+0.7, +1.7] (better)"
    del results["a2"]
    assert common.paired(results, a, b, "acc", 3, higher_is_better=True,
                         mark_short=True) == "+1.1 [-0.2, +2.4] (n=2)"
    assert common.paired(results, a, b, "acc", 3,  # a table of its own seeds: a verdict
                         higher_is_better=True) == "+1.1 [-0.2, +2.4] (within noise)"
