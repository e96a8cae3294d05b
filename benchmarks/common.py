"""What the comparison scripts share: their command line, their cache of runs, and paired
comparisons over seeds (the mean difference and its 95% t-interval)."""

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]


def parse_args(doc, seeds):
    """``(args, out)`` of a comparison script: ``--seeds`` (default ``seeds``), ``--out``
    (the output folder, made if absent) and ``--report-only``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--report-only", action="store_true",
                        help="write the tables and figures from the cached runs; train nothing")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return args, out


def read_cache(path):
    """The runs cached at ``path`` (a JSON object), or ``{}``."""
    return json.loads(path.read_text()) if path.is_file() else {}


def paired_interval(a, b, level=0.95):
    """``(mean, low, high)`` of ``a - b`` over paired runs (one per seed), the interval
    being Student's t at ``level`` (n - 1 degrees of freedom); NaN bounds for one pair."""
    d = np.asarray(a, "float64") - np.asarray(b, "float64")
    if len(d) < 2:
        return float(d.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def verdict(low, high):
    """"better", "worse" or "within noise": where the interval of a difference lies."""
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "within noise"


def fmt_interval(mean, low, high, scale=100.0, digits=1):
    """``+1.2 [-0.3, +2.7]`` (in points for accuracies: ``scale`` 100)."""
    if np.isnan(low):
        return f"{scale * mean:+.{digits}f}"
    return f"{scale * mean:+.{digits}f} [{scale * low:+.{digits}f}, {scale * high:+.{digits}f}]"
