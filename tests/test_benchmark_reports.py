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
    ("long_tail_table", [], ["long_tail_table.md"]),
    ("long_tail_table", ["--aegl-lr", "0.01"], ["long_tail_table_lr0.01.md"]),
    ("madry_fashion_table", [], ["madry_fashion_table.md"]),
    ("meta_iada_table", [], ["meta_iada_table.md"]),
    ("meta_iada_fashion_table", [], ["meta_iada_fashion_table.md"]),
    ("rgan_table", [], ["rgan_table.md"]),
    ("robgan_table", [], ["robgan_table.md"]),
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
