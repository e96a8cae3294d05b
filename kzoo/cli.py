"""The ``kzoo`` command: train | eval | sample | list | card | recipe | recipes |
compare-backends | demo.

``--backend`` sets ``KERAS_BACKEND`` before Keras is imported, so every
command can run on tensorflow, torch or jax.
"""

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kzoo import __version__, validate
from kzoo.startup import BACKENDS


def main(argv=None):
    given = list(sys.argv[1:] if argv is None else argv)
    if given and given[0].split("=")[0] == "--backend":  # argparse would call it a command
        print("kzoo: error: --backend goes after the command (kzoo eval NAME --backend torch; "
              "see kzoo --help)", file=sys.stderr)
        return 2
    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # --help, or a flag refused (its one line is printed)
        return done.code
    args.argv = given
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print(f"kzoo {args.command}: interrupted" + (
            "; run the same command to resume from the last completed epoch."
            if args.command == "train" else "."), file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (one line, no traceback, for every failure)
        if os.environ.get("KZOO_DEBUG"):
            raise
        known = isinstance(err, (ValueError, OSError, ImportError))
        detail = str(err) if known else f"{type(err).__name__}: {err} (KZOO_DEBUG=1 shows " \
                                        f"the traceback)"
        print(f"kzoo {args.command}: error: {' '.join(detail.split())}", file=sys.stderr)
        return 2


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _checked(check, convert, **bounds):
    """An argparse ``type``: ``convert`` the text, then ``check`` it (a ``kzoo.validate``
    check); a refusal is the check's message, on one line."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = text  # refused below, by the check's own message
        try:
            return check("", value, **bounds)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).strip()) from None

    return parse


EPOCHS = _checked(validate.integer, int, low=1)


def _parser():
    parser = _Parser(prog="kzoo", description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("--version", action="version", version=f"kzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--backend", type=_checked(validate.choice, str, allowed=BACKENDS),
                       metavar="{" + ",".join(BACKENDS) + "}",
                       help="Keras backend (default: as set)")
        p.set_defaults(func=func)
        return p

    p = command("train", _train, "Train a recipe; write model.keras, card.json and PNGs.")
    p.add_argument("recipe", help="path to a TOML recipe, or a shipped recipe's name "
                                   "(kzoo recipes lists them)")
    p.add_argument("--out", help="run directory (default: runs/<recipe name>)")
    p.add_argument("--overwrite", action="store_true", help="replace a different run in --out")
    p.add_argument("--epochs", type=EPOCHS, help="override the recipe's epochs (an int >= 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--devices", type=_checked(validate.integer, int, low=1),
                   help="data parallel on N devices (default: the recipe's [distribute] "
                        "devices, or 1); torch starts N processes")

    p = command("eval", _eval, "Recompute a preset's or run's metrics and compare to its card.")
    p.add_argument("name", help="preset name or run directory")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--autoattack", action="store_true",
                   help="also recompute the card's AutoAttack numbers (torch, slow)")
    _trust_code(p)
    p.add_argument("--tol", type=_checked(validate.number, float, low=0), default=1e-5,
                   help="allowed |card - now| / max(1, |card|) (default 1e-5; cards round "
                        "to 1e-6); off the card's backend, an attack's accuracy at a radius "
                        "> 0 may differ by sqrt(p(1 - p)/n) instead, if larger (p the "
                        "card's value, n the images it counts)")

    p = command("sample", _sample, "Write a grid (or, for 2-D data, a scatter) of a generator "
                                   "preset's samples.")
    p.add_argument("name", help="generator preset name or run directory")
    p.add_argument("--n", type=_checked(validate.integer, int, low=1),
                   help="number of samples (default 64; 2000 for 2-D data)")
    p.add_argument("--out", help="PNG path (default: <name>-samples.png)")
    p.add_argument("--seed", type=_checked(validate.seed, int), default=0,
                   help="seed of the latent draw (default 0)")
    p.add_argument("--worst-eps", type=_checked(validate.number, float, low=0), default=0.0,
                   help="sample at the worst input noise within this l2 radius (default 0)")
    _trust_code(p)

    p = command("list", _list, "List the presets in the zoo.")
    p.add_argument("--verbose", action="store_true",
                   help="each preset's whole card as Markdown (as `kzoo card NAME`)")
    p.add_argument("--recipes", action="store_true",
                   help="each preset's recipe, backend and name, one a line, in the order "
                        "they retrain (a preset after those it starts from)")

    p = command("card", _card, "Print a preset's or run's card as Markdown (its README.md).")
    p.add_argument("name", help="preset name, run directory, URL or hub handle")
    _trust_code(p)

    p = command("recipe", _recipe, "Check a recipe and print it with every default filled "
                                   "in, or print the JSON Schema of recipes.")
    p.add_argument("recipe", nargs="*", help="path to a TOML recipe (several with --order)")
    p.add_argument("--schema", action="store_true",
                   help="print the recipes' JSON Schema (recipes/recipe.schema.json)")
    p.add_argument("--order", action="store_true",
                   help="print the paths in the order they train (a recipe after those whose "
                        "preset it starts from)")

    command("recipes", _recipes, "List the recipes that ship with kzoo, one a line (kzoo train "
                                 "takes each by name).")

    p = command("compare-backends", _compare,
                "Train one recipe on several backends, each in its own process; compare.")
    p.add_argument("recipe")
    p.add_argument("--backends", default=",".join(BACKENDS),
                   help="comma-separated (default: tensorflow,torch,jax)")
    p.add_argument("--epochs", type=EPOCHS, help="override the recipe's epochs (an int >= 1)")
    p.add_argument("--out", help="keep the runs in OUT/<backend> (default: a temporary folder, "
                                 "removed afterwards); a finished run there is not trained again")
    p.add_argument("--overwrite", action="store_true", help="replace the runs in --out")

    p = command("demo", _demo, "Tour the zoo on the embedded digits: classifiers, robust "
                               "classifiers, generators (sample grids into --out).")
    p.add_argument("--epochs", type=EPOCHS, default=5, help="fine-tuning epochs (default 5)")
    p.add_argument("--out", default="kzoo-demo", help="directory for the sample grids "
                                                      "(default kzoo-demo)")
    p.add_argument("--fast", action="store_true",
                   help="one fine-tuning epoch and a 5-step attack (a quick check)")
    return parser


def _trust_code(parser):
    parser.add_argument("--trust-code", action="store_true",
                        help="let a URL's or hub handle's card name a game defined outside "
                             "kzoo (module:Class), whose module is then imported: only for a "
                             "publisher you trust")


def _train(args):
    from kzoo import recipe_parse, recipes, run_dir, startup

    # before Keras starts: a bad recipe is refused at once, a finished run is not trained
    # again, and the devices decide how (torch) and with what (JAX) Keras starts
    path = recipes.locate(args.recipe)
    found = recipe_parse.outline(path)
    out = Path(args.out or Path("runs") / found.name)
    startup.choose_backend()
    backend = startup.backend_name() or "tensorflow"  # Keras' default
    epochs = args.epochs or found.epochs
    if not (args.overwrite or found.own_data) and _done(out, run_dir.identity(
            found.sha256, epochs, backend)):  # data of one's own is hashed below
        return 0
    devices = found.devices if args.devices is None else args.devices
    if startup.launches_ranks(devices):  # torch: one process per device, this one waits
        return _launch_ranks(devices, args.argv)
    startup.prepare_devices(devices)
    recipe = recipes.Recipe.from_file(path)
    from kzoo import runs

    if not args.overwrite and found.own_data and _done(out, runs.run_identity(recipe, epochs)):
        return 0
    card = runs.train(recipe, out, overwrite=args.overwrite, epochs=args.epochs,
                      verbose=0 if args.quiet else "auto", devices=devices)
    if card is None:  # a process other than rank 0 (torch ranks, JAX processes)
        return 0
    print(f"{card.name} [{card.backend}]: {card.headline()}; "
          f"{card.wall_time_s:.0f} s, {card.ms_per_step:.2f} ms/step -> {out}")


def _done(out, run):
    """Whether ``out`` holds the finished run ``run`` (``kzoo.run_dir.identity``), saying so."""
    from kzoo import run_dir

    card = run_dir.finished(out, run)
    if card is not None:
        print(f"{out} already holds this run ({card.headline()}; {card.epochs} epochs on "
              f"{card.backend}): `kzoo eval {out}` checks its numbers, --overwrite trains it "
              f"again.")
    return card is not None


def _launch_ranks(devices, argv):
    """``kzoo train`` (``argv``) again in ``devices`` processes under torchrun, here."""
    from kzoo.backend.torch import check_gpus

    check_gpus(devices)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={devices}", "-m", "kzoo.cli", *argv]
    threads = max(1, (os.cpu_count() or 1) // devices)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "KERAS_BACKEND": "torch"}
    return subprocess.run(command, env=env).returncode


def _eval(args):
    import keras

    from kzoo import reproduce, runs
    from kzoo.tables import format_table

    card, now = runs.evaluate(args.name, autoattack=args.autoattack,
                              trust_code=args.trust_code, verbose=int(not args.json))
    backend = keras.config.backend()
    rows, ok = reproduce.compare(card, now, args.tol, backend)
    if args.json:  # a non-finite number recomputed is null (and fails the comparison)
        finite = {k: v if math.isfinite(v) else None for k, v in now.items()}
        print(json.dumps({"name": card.name, "backend": backend, "card_backend": card.backend,
                          "metrics": finite, "card_metrics": card.metrics,
                          "allowed": {m: limit for m, *_, limit in rows},
                          "tolerance": args.tol, "reproduced": ok}, indent=2, allow_nan=False))
    else:
        def cell(x, form):
            return "-" if x is None else format(x, form)

        print(format_table([(m, cell(c, ".4f"), v, cell(d, ".2g"), cell(a, ".2g"))
                            for m, c, v, d, a in rows],
                           ["metric", "card", "now", "|diff|", "allowed"]))
        attacked = backend != card.backend and any(reproduce.attack_radius(m) for m, *_ in rows)
        other = (f"; an attack's accuracy, recomputed off the card's backend ({card.backend}), "
                 f"one standard error (docs/tour.md)" if attacked else "")
        print(f"{card.name}: {'reproduces' if ok else 'does NOT reproduce'} its card on "
              f"{backend} (allowed |diff|: {args.tol:g} * max(1, |card|){other}).")
        skipped = sorted(set(card.metrics) - set(now))
        if skipped:
            print(f"Not recomputed: {', '.join(skipped)} (kzoo eval --autoattack).")
    return 0 if ok else 1


def _list(args):
    from kzoo import zoo  # cards are read as data: no backend starts
    from kzoo.tables import format_table

    cards, problems = zoo.scan()
    for problem in problems:
        print(f"kzoo list: warning: {problem}", file=sys.stderr)
    if args.verbose:
        print("\n---\n\n".join(c.markdown() for c in cards), end="")
        return
    if args.recipes:
        by_name = {c.name: c for c in cards}
        from kzoo import runs
        from kzoo.recipes import Recipe

        for r in runs.training_order([Recipe(c.recipe_spec, c.recipe) for c in cards]):
            print(r.path, by_name[r.name].backend, r.name)
        return
    rows = [(c.name, c.game, c.data.get("provenance_hash", "?"),
             c.evaluation.get("test_examples", "?"), c.headline(), c.backend,
             c.sha256[:12]) for c in cards]
    print(format_table(rows, ["preset", "game", "data", "test n", "test metrics",
                              "trained on", "sha256"]))


def _card(args):
    from kzoo import zoo

    print(zoo.open_card(args.name, args.trust_code)[1].markdown(), end="")


def _sample(args):
    from kzoo import runs, zoo

    out = args.out or f"{zoo.open_card(args.name, args.trust_code)[1].name}-samples.png"
    path, n = runs.sample(args.name, out, n=args.n, seed=args.seed, worst_eps=args.worst_eps,
                          trust_code=args.trust_code)
    print(f"{n} samples of {args.name} -> {path}")


def _recipe(args):
    from kzoo import recipe_schema

    if args.schema == bool(args.recipe) or (len(args.recipe) > 1 and not args.order):
        raise ValueError("give a recipe's path (several with --order), or --schema.")
    if args.schema:
        print(json.dumps(recipe_schema.json_schema(), indent=2))
        return
    from kzoo.recipes import Recipe

    if args.order:
        recipes = [Recipe.from_file(p) for p in args.recipe]
        from kzoo import runs

        for recipe in runs.training_order(recipes):
            print(recipe.path)
        return
    recipe = Recipe.from_file(args.recipe[0])
    print(json.dumps(recipe_schema.as_dict(recipe.spec), indent=2))
    print(f"{args.recipe[0]}: a valid recipe ({recipe.spec.game.name} on "
          f"{recipe.spec.data.name or recipe.spec.data.path}).", file=sys.stderr)


def _recipes(args):
    from kzoo.recipes import RECIPES_DIR, Recipe, shipped
    from kzoo.tables import format_table

    rows = []
    for path in shipped():
        spec = Recipe.from_file(path).spec
        rows.append((path.relative_to(RECIPES_DIR).with_suffix("").as_posix(), spec.name,
                     spec.game.name, spec.data.name, spec.description[:60]))
    print(format_table(rows, ["recipe", "name (its run and preset)", "game", "data",
                              "description"]))


def _compare(args):
    from kzoo import recipe_parse
    from kzoo.model_card import ModelCard
    from kzoo.recipes import locate
    from kzoo.tables import format_table

    backends = [validate.choice("--backends", b.strip(), BACKENDS)
                for b in args.backends.split(",") if b.strip()]
    if not backends:
        raise ValueError(f"--backends names no backend; give some of {', '.join(BACKENDS)}, "
                         f"comma-separated.")
    recipe_path = locate(args.recipe)
    recipe_parse.outline(recipe_path)  # a bad recipe is refused here, once
    cards = {}
    with contextlib.ExitStack() as held:
        root = Path(args.out) if args.out else Path(held.enter_context(
            tempfile.TemporaryDirectory()))
        for b in backends:
            out = root / b
            cmd = [sys.executable, "-m", "kzoo.cli", "train", str(recipe_path), "--backend", b,
                   "--out", str(out), "--quiet", *(["--overwrite"] if args.overwrite else [])]
            if args.epochs:
                cmd += ["--epochs", str(args.epochs)]
            print(f"[{b}] {' '.join(cmd[2:])}", flush=True)
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            total = time.perf_counter() - start
            if done.returncode:
                print(done.stderr[-2000:], file=sys.stderr)
                cards[b] = None
                continue
            cards[b] = (ModelCard.read(out), round(total))
    ok = [c for c, _ in filter(None, cards.values())]
    keys = ok[0].headline_keys() if ok else []
    rows = [(b, "failed", *[""] * (len(keys) + 2)) if done is None else
            (b, *[done[0].metrics.get(k, "-") for k in keys], round(done[0].wall_time_s),
             done[1], done[0].ms_per_step) for b, done in cards.items()]
    print(format_table(rows, ["backend", *keys, "fit s", "process s", "ms/step"]))
    if args.out:
        print(f"The runs are in {root}/<backend> (kzoo eval, kzoo card).")
    return 0 if len(ok) == len(cards) else 1


def _demo(args):
    from kzoo import demo

    demo.run(out=args.out, fine_tune_epochs=1 if args.fast else args.epochs,
             attack_steps=5 if args.fast else 20)


if __name__ == "__main__":
    sys.exit(main())
