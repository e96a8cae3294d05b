"""What the comparison scripts share: their command line, their cache of runs, and paired
comparisons over seeds (the mean difference and its 95% t-interval)."""

import argparse
import fcntl
import json
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]


def parse_args(doc, seeds, shards=False, options=(), wide=(), wide_seeds=10):
    """``(args, out)`` of a comparison script: ``--seeds`` (default ``seeds``), ``--out``
    (the output folder, made if absent), ``--report-only``, with ``shards``, ``--shard
    I/N`` (``args.shard`` is ``(I, N)``), with ``wide`` (the names whose metrics spread
    widely between seeds), ``--wide-seeds`` (default ``wide_seeds``; ``args.counts`` is
    ``(seeds, wide seeds)``, for :func:`seeds_of`), and the script's own ``options``
    (``(flags, add_argument keywords)`` pairs)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=seeds)
    if wide:
        parser.add_argument("--wide-seeds", type=int, default=wide_seeds,
                            help=f"seeds of {', '.join(wide)} (default {wide_seeds}; at least "
                                 f"--seeds)")
    for flags, kwargs in options:
        parser.add_argument(*flags, **kwargs)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--report-only", action="store_true",
                        help="write the tables and figures from the cached runs; train nothing")
    if shards:
        parser.add_argument("--shard", default="0/1", help="I/N: run every N-th job from the "
                            "I-th (N processes, one per core, share one cache)")
    args = parser.parse_args()
    if shards:
        parts = args.shard.split("/")
        if len(parts) != 2 or not all(v.isdigit() for v in parts) or \
                not int(parts[0]) < int(parts[1]):
            parser.error(f"--shard must be I/N with 0 <= I < N; got {args.shard!r}")
        args.shard = (int(parts[0]), int(parts[1]))
    if wide:
        args.counts = (args.seeds, max(args.seeds, args.wide_seeds))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return args, out


def seeds_of(name, counts, wide):
    """The number of seeds of ``name``'s runs: ``counts`` is ``(seeds, wide seeds)``, the
    second for the names in ``wide``."""
    return counts[1] if name in wide else counts[0]


# A cache's record of the backend each of its runs ran on, {run key: backend}, under this key
# (kept out of the runs read_cache returns; ran_on reads it).
RAN_ON = "ran_on"


def read_cache(path):
    """The runs cached at ``path`` (a JSON object), or ``{}``."""
    runs = json.loads(path.read_text()) if path.is_file() else {}
    runs.pop(RAN_ON, None)
    return runs


def ran_on(path):
    """The backends the runs cached at ``path`` ran on, in words ("torch backend",
    "tensorflow and torch backends"): a report names the backends of its runs, not the one
    writing it. Every run of the cache counts, those a table leaves out too."""
    record = json.loads(path.read_text()).get(RAN_ON, {}) if path.is_file() else {}
    return backends_in_words(record.values())


def backends_in_words(names):
    """``names`` of backends as a caption says them: "torch backend", "tensorflow and torch
    backends", "jax, tensorflow and torch backends", "no recorded backend"."""
    names = sorted(set(names))
    words = " and ".join(filter(None, [", ".join(names[:-1]), *names[-1:]])) or "no recorded"
    return f"{words} backend{'s' * (len(names) > 1)}"


def add_to_cache(path, runs, backend_of=None):
    """Writes ``runs`` into the cache at ``path`` (atomically), keeping the runs other
    processes wrote there since it was read (the read and the write hold a lock on
    ``path.lock``), and records the backend each ran on (:func:`ran_on`): ``backend_of(run)``
    for a run measured in another process, else this process's. Returns the union."""
    from kzoo.files import write_json

    if backend_of is None:
        from kzoo import backend

        backend_of = lambda run: backend.name  # noqa: E731
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = json.loads(path.read_text()) if path.is_file() else {}
        record = {**cached.pop(RAN_ON, {}), **{k: backend_of(r) for k, r in runs.items()}}
        merged = {**cached, **runs}
        write_json(path, {**merged, RAN_ON: record})
    return merged


def not_run(results, units, key):
    """The keys of ``units`` that ``results`` lacks, printed (a table of fewer runs than its
    caption's seeds says which cells are short, ``n=``)."""
    missing = [key(*unit) for unit in units if key(*unit) not in results]
    if missing:
        print(f"not yet run ({len(missing)}): {', '.join(missing)}", flush=True)
    return missing


def run_missing(cache, units, key, run, args, line):
    """Runs this shard's (``args.shard``) ``units`` that the cache at ``cache`` lacks (none
    with ``--report-only``), one at a time: ``run(*unit)`` is cached under ``key(*unit)`` as
    it ends and ``line(row)`` printed after it, with the seconds since the start. Returns the
    cache's runs, the other shards' included; None for one shard of several, whose table
    would miss the others' runs (``--report-only`` writes it once every shard is done)."""
    index, shards = args.shard
    start = time.perf_counter()
    results = read_cache(cache)
    for unit in units[index::shards]:
        if args.report_only or key(*unit) in results:
            continue
        row = run(*unit)
        results = add_to_cache(cache, {key(*unit): row})
        print(f"[{time.perf_counter() - start:.0f} s] {key(*unit)}: {line(row)}", flush=True)
    if shards > 1 and not args.report_only:
        print(f"shard {index}/{shards} done; --report-only writes the tables once every shard is")
        return None
    return read_cache(cache)


# --runs: where a script's resumable runs go (kzoo.runs.train directories, see train_run)
RUNS_OPTION = (("--runs",), {"default": str(ROOT / "runs" / "tables"),
                             "help": "where the runs' directories go (an interrupted run "
                                     "resumes after its last finished epoch)"})


def table_run(spec, name, what, seed, script):
    """The recipe dict ``spec`` (changed in place and returned) as a run of the table script
    ``script`` (a file name in benchmarks/): named ``name``, described as "``what``, seed
    ``seed``: a run of benchmarks/``script``.", and without the preset's ``[card]`` text (its
    budget line: a table run's card states its own recipe)."""
    spec["name"] = name
    spec["description"] = f"{what}, seed {seed}: a run of benchmarks/{script}."
    spec.pop("card", None)
    return spec


def train_run(recipe, runs_dir, poll_s=30):
    """``recipe`` trained by ``kzoo.runs.train`` into ``<runs_dir>/<its name>`` (resumed if
    interrupted, returned as is if finished, or finished by another process after train
    looked for it; while another process, e.g. another shard, trains it, waited for): its
    card's metrics, ``wall_s`` and ``ms_per_step``."""
    from kzoo import run_dir, runs

    retried = False
    while True:
        try:
            card = runs.train(recipe, Path(runs_dir) / recipe.name, verbose=0)
            break
        except run_dir.RunLocked as err:  # another process trains it
            print(f"waiting: {err}", flush=True)
            time.sleep(poll_s)
        except FileExistsError:  # once: another process may have finished it since train
            if retried:  # looked for a finished run; refused again, the refusal is genuine
                raise
            retried = True
    return {**card.metrics, "wall_s": card.wall_time_s, "ms_per_step": card.ms_per_step}


def save_figure(fig, axes, path, legend_size=None):
    """Grids and legends on ``axes``, then ``fig`` written to ``path`` and closed."""
    from kzoo.metrics.plots import plt

    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def paired_interval(a, b, level=0.95):
    """``(mean, low, high)`` of ``a - b`` over paired runs (one per seed), the interval
    being Student's t at ``level`` (n - 1 degrees of freedom); NaN bounds for one pair."""
    d = np.asarray(a, "float64") - np.asarray(b, "float64")
    if len(d) < 2:
        return float(d.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def values(results, key_of, metric, seeds):
    """``metric`` of the runs keyed ``key_of(seed)`` for the seeds that have it."""
    got = [results.get(key_of(s)) for s in range(seeds)]
    return [r[metric] for r in got if r is not None and metric in r]


def paired(results, a, b, metric, seeds, scale=100.0, digits=1, higher_is_better=None,
           mark_short=False):
    """The paired interval (:func:`fmt_interval`) of ``metric`` between the runs keyed
    ``a(seed)`` and ``b(seed)``, over the seeds where both have it; "-" for none. With
    ``higher_is_better`` (True or False) the verdict on ``a`` follows: "(better)",
    "(worse)" or "(within noise)". With ``mark_short``, `` (n=2)`` after an interval over
    fewer than ``seeds`` pairs, and no verdict: it waits for every seed (over two pairs,
    Student's t has one degree of freedom, and any verdict would say next to nothing)."""
    pairs = [(results[a(s)][metric], results[b(s)][metric]) for s in range(seeds)
             if metric in results.get(a(s), {}) and metric in results.get(b(s), {})]
    if not pairs:
        return "-"
    mean, low, high = paired_interval(*zip(*pairs))
    text = fmt_interval(mean, low, high, scale=scale, digits=digits)
    short = mark_short and len(pairs) < seeds  # a seed of a or b not run (yet)
    if short:
        text += f" (n={len(pairs)})"
    if higher_is_better is None or np.isnan(low) or short:
        return text
    return f"{text} ({verdict(low, high) if higher_is_better else verdict(-high, -low)})"


def verdict(low, high):
    """"better", "worse" or "within noise": where the interval of a difference lies."""
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "within noise"


def fmt_mean_std(v, scale=100.0, digits=1, of=None):
    """``97.1 +- 0.4``: the mean and standard deviation (ddof 1) of ``v`` times ``scale``
    (points for accuracies); "-" for no values, the value alone for one; with ``of`` (the
    runs expected), `` (n=2)`` after a cell of fewer."""
    if not len(v):
        return "-"
    v = scale * np.asarray(v, "float64")
    text = (f"{v[0]:.{digits}f}" if len(v) == 1 else
            f"{v.mean():.{digits}f} +- {v.std(ddof=1):.{digits}f}")
    return text + (f" (n={len(v)})" if of is not None and len(v) < of else "")


# A table's caption beside wall times: what they count (runs stopped, or slowed, while tests ran).
WALL_TIME = ("A wall time counts any time the run's process was stopped, and any slowing by "
             "other work sharing its cores.")


def cost_line(runs, over):
    """One line of a table on what its runs cost, from their cards: ``runs`` maps a method
    to its runs' rows (``wall_s``, ``ms_per_step``), ``over`` says what each median is over
    (a median, as a few runs shared their cores with other work)."""
    def medians(field):
        return ", ".join(f"{m} {np.median([r[field] for r in rows]):.0f}"
                         for m, rows in runs.items() if rows) or "-"

    return (f"Training cost per run (its card's), median over {over}: ms per step "
            f"{medians('ms_per_step')}; wall time, s, {medians('wall_s')}. {WALL_TIME} A "
            f"run's ms per step, the median over its epochs after the first, does not move "
            f"with a stop within a few epochs.")


def markdown_table(header, rows):
    """The lines of a Markdown table: ``header`` (column names) and ``rows`` (cells)."""
    return (["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
            + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def fmt_interval(mean, low, high, scale=100.0, digits=1):
    """``+1.2 [-0.3, +2.7]`` (in points for accuracies: ``scale`` 100)."""
    if np.isnan(low):
        return f"{scale * mean:+.{digits}f}"
    return f"{scale * mean:+.{digits}f} [{scale * low:+.{digits}f}, {scale * high:+.{digits}f}]"
