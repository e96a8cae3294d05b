"""Training a recipe into a run directory, and re-evaluating a run or preset.

A run directory holds ``model.keras``, ``card.json`` (and the card as ``README.md``,
``kzoo.cards``), ``curves.png`` (every
logged curve, training beside validation) and the game's own figures
(``Game.training_monitors``; MetaIADA: ``epsilon_shares.png``), and a report per
part the game serves (``Game.serves``): for a classifier, its metrics and
``confusion.png`` (and ``robust.png``); for a generator, its metrics and
``samples.png`` (and ``samples_z_adv.png``, samples at the worst input noise); the card
lists these figures.
"""

import contextlib
import graphlib
import hashlib
import json
import os
import platform
import shutil
from pathlib import Path

from kzoo import __version__, cards, roles, run_dir, validate, zoo
from kzoo.files import check_writable
from kzoo.games.game import game_name
from kzoo.model_card import CARD_FILE, VERSION, ModelCard
from kzoo.recipes import Recipe, RecipeError


def train(recipe, out_dir, overwrite=False, epochs=None, verbose="auto", devices=None):
    """Trains ``recipe`` (path or Recipe), writes the run to ``out_dir``, returns the card.

    An interrupted run of the same recipe in ``out_dir`` is resumed from its last
    completed epoch (``kzoo.resume``); the weights end as an uninterrupted run's.
    ``devices`` (default: the recipe's ``[distribute] devices``) trains data parallel
    (``kzoo.distribute``); under torch, in each of that many processes, of which rank 0
    writes the run and returns the card (the others return None).

    A completed run of the same recipe, epochs and backend in ``out_dir`` is not trained
    again: its card is returned (``overwrite`` trains it again). One ``kzoo train`` at a
    time writes ``out_dir`` (``kzoo.run_dir.lock``). Training stops
    at the first non-finite loss or weight (``kzoo.callbacks.NonFiniteError``) and writes no
    card; the run's files replace a completed run's only once all are written
    (``kzoo.run_dir.commit``).

    Examples:
        >>> from kzoo import runs
        >>> card = runs.train("classifier/digits-lt10-ce", "runs/digits-lt10-cnn-ce")
        >>> card.name, card.epochs
        ('digits-lt10-cnn-ce', 60)
        >>> card = runs.train("classifier/digits-lt10-ce", "runs/digits-lt10-cnn-ce")  # at once
    """
    from kzoo import distribute

    if not isinstance(recipe, Recipe):
        recipe = Recipe.from_file(recipe)
    fit = recipe.spec.fit
    epochs = fit.epochs if epochs is None else validate.integer("epochs", epochs, low=1)
    devices = recipe.spec.distribute.devices if devices is None else validate.integer(
        "devices", devices, low=1)
    if fit.batch_size % devices:  # before anything is written
        raise ValueError(f"[fit] batch_size {fit.batch_size} does not split over {devices} "
                         f"devices; give a multiple of {devices}.")
    out = Path(out_dir)
    done = None if overwrite else run_dir.finished(out, run_identity(recipe, epochs))
    if done is not None:  # every rank reads the same card
        return done
    with contextlib.ExitStack() as held:  # the chief's lock, until the run is written
        # entered first: TensorFlow's CPU devices are set before its runtime starts
        with distribute.data_parallel(devices) as engine, recipe.precision():
            chief = distribute.is_chief()
            if chief:
                held.enter_context(run_dir.lock(out))
            trained = _fit(recipe, out, overwrite, epochs, verbose, engine, chief)
        if not chief:
            return None
        # out of the engine: saving makes an optimizer's variables, which under several JAX
        # processes (or TensorFlow workers) would wait for the others
        return _write_run(recipe, out, epochs, devices, engine, *trained,
                          verbose=1 if verbose == "auto" else int(verbose))


def _fit(recipe, out, overwrite, epochs, verbose, engine, chief):
    """``train``'s game built and fitted, inside its engine (and, on the chief, its lock):
    ``(game, ds, identity, checkpoint, timer, monitors)``."""
    import keras

    from kzoo import distribute
    from kzoo.callbacks import KeepInterrupts, NonFiniteError, StepTimer, StopOnNonFinite
    from kzoo.resume import Checkpoint

    identity = run_identity(recipe, epochs)
    resuming = run_dir.check(out, identity, overwrite) if chief else None
    keras.utils.set_random_seed(recipe.seed)
    ds = recipe.dataset()
    game = recipe.build(ds, epochs)  # the nets are built and trained under
    batches = recipe.batches(game, ds)  # [fit] precision
    timer = StepTimer()
    monitors = game.training_monitors(ds)
    guard = StopOnNonFinite(f"{recipe.learning_rates()} may be too high; no card written "
                            f"(rerun with --overwrite after changing it)")
    keep = KeepInterrupts()  # Ctrl-C stops the run even where Python drops it
    callbacks = [keep, *monitors.values(), timer, guard]  # the guard before the checkpoint
    if chief:  # the only writer; other ranks start where it restores (fit broadcasts)
        run_dir.prepare(out, resuming)
        # last: the records it saves must hold this epoch's entries
        checkpoint = Checkpoint(out / run_dir.CHECKPOINT_DIR, batches, identity,
                                records={"step_timer": timer, **monitors})
        callbacks.append(checkpoint)
    # every rank starts at rank 0's epoch (its checkpoint's; fit broadcasts its weights)
    batches.epoch = start = distribute.shared_int(checkpoint.epoch if chief else 0)
    if start and not engine["resumes"]:
        raise ValueError(f"{out} holds {start} epoch(s) of this run; resuming under "
                         f"{engine['processes']} {engine['engine']} processes is not "
                         f"supported yet (process 0 alone would restore the weights): "
                         f"pass --overwrite to start again.")
    if resuming and verbose and chief:
        print(f"Resuming {out} after epoch {start} of {epochs}.")
    game.check_data(ds.x_train, ds.y_train)  # fit checks arrays; batches pass unchecked
    synced = distribute.synchronized_batch_norm(game) \
        if recipe.spec.distribute.sync_batch_norm else contextlib.nullcontext()
    try:
        with synced, keep:
            game.fit(batches, validation_data=(ds.x_val, ds.y_val), epochs=epochs,
                     initial_epoch=start, verbose=verbose if chief else 0,
                     shuffle=False, callbacks=callbacks)  # the batches' own order
    except NonFiniteError:
        if chief:  # resumed, it would diverge again: only its files from before remain
            shutil.rmtree(out / run_dir.CHECKPOINT_DIR, ignore_errors=True)
        raise
    return game, ds, identity, checkpoint if chief else None, timer, monitors


def _write_run(recipe, out, epochs, devices, engine, game, ds, identity, checkpoint, timer,
               monitors, verbose=0):
    """Writes the trained ``game``'s files into a staging directory, checks its weights,
    then moves them into ``out`` (``run_dir.commit``); returns the card. ``verbose``: as
    ``fit``'s, for the progress bar while PGD attacks the test set for the card."""
    from kzoo import backend
    from kzoo.callbacks import NonFiniteError, nonfinite_variables
    from kzoo.metrics import plot_history

    staged = run_dir.staging(out)
    model_path = staged / zoo.MODEL_FILE
    game.save(model_path, include_optimizer=False)  # weights for use; checkpoints resume
    trained = zoo.load_file(model_path)
    bad = nonfinite_variables(trained)
    if bad:  # the guard checks every epoch; this is the file the card would vouch for
        raise NonFiniteError(f"the trained weights hold NaN or infinity ({bad[0]}, "
                             f"{len(bad)} in all); no card written.")
    plot_history(checkpoint.history, staged / "curves.png", title=recipe.name)
    for filename, monitor in monitors.items():
        monitor.save(staged / filename)
    metrics = report(trained, ds, recipe, staged, verbose)
    slow, slow_settings = slow_report(trained, ds, recipe)
    fields = {
        "version": VERSION,
        "name": recipe.name,
        **cards.describe(game, ds, recipe),
        "served": served_description(game, ds),
        "serves": list(game.serves),
        "game": game_name(type(game)),
        "paper": type(game).paper,
        "recipe": _relative(recipe.path),
        "recipe_sha256": identity["recipe_sha256"],
        "recipe_spec": recipe.source,
        "data": {"summary": ds.summary(), "provenance": list(ds.provenance),
                 "provenance_hash": ds.provenance_hash},
        "seed": recipe.seed,
        "epochs": epochs,
        "backend": backend.name,
        "devices": {"count": devices, "engine": engine["engine"],
                    "processes": engine["processes"]},
        "versions": {"kzoo": __version__, **backend.versions()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "wall_time_s": round(checkpoint.wall_time_s, 2),
        "ms_per_step": round(timer.ms_per_step, 3),
        "metrics": {**metrics, **slow},
        "metrics_split": "test",
        "metrics_command": f"kzoo eval {recipe.name}",
        "sha256": zoo.sha256(model_path),
        "model_bytes": model_path.stat().st_size,
        "figures": sorted(p.name for p in staged.glob("*.png")),
    }
    fields["evaluation"].update(slow_settings)
    card = ModelCard.from_dict(fields, staged / CARD_FILE)
    card.write(staged)
    run_dir.commit(out, staged)
    return card


def run_identity(recipe, epochs):
    """``run_dir.identity`` of a run of ``recipe`` for ``epochs`` on this backend."""
    from kzoo import backend

    return run_dir.identity(recipe.sha256 or _spec_sha256(recipe.source), epochs,
                            backend.name, recipe.data_sha256())


def _spec_sha256(spec):
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def report(model, ds, recipe, out=None, verbose=0):
    """The card metrics of the game ``model`` on ``ds``'s test split: the report of each
    part it serves (``kzoo.roles``), in one dict; with ``out``, their figures too;
    ``verbose`` (0, 1 or 2, as ``fit``'s): a progress bar while PGD attacks the test set."""
    result, parts = {}, roles.of(model.serves)
    presets = {name: zoo.load(name) for role in parts for name in role.needs(recipe.spec)}
    for role in parts:
        result.update(role.report(model, ds, recipe, presets, out, verbose))
    return result


def slow_report(model, ds, recipe):
    """``(metrics, evaluation fields)`` of the parts' numbers recomputed only on request
    (``Role.slow_report``: AutoAttack, where an engine runs here)."""
    metrics, fields = {}, {}
    for role in roles.of(model.serves):
        found, how = role.slow_report(model, ds, recipe)
        metrics.update(found)
        fields.update(how)
    return metrics, fields


def evaluate(name_or_dir, autoattack=False, trust_code=False, verbose=0):
    """Recomputes a preset's or run's metrics from its card; returns ``(card, metrics)``.
    AutoAttack numbers (slow: about 90 s per radius on the digits test set here) are
    recomputed only with ``autoattack=True``, and need an engine (``slow_report``).
    ``trust_code``: as in ``kzoo.load``; ``verbose`` (0, 1 or 2, as ``fit``'s): a progress
    bar while PGD attacks the test set.

    Examples:
        >>> from kzoo import reproduce, runs
        >>> card, metrics = runs.evaluate("digits-lt10-cnn-ce")  # the test set, recomputed
        >>> card.metrics["accuracy"]  # what the card says; metrics["accuracy"]: now
        0.942593
        >>> rows, ok = reproduce.compare(card, metrics, 1e-5, "torch")  # kzoo eval's check
    """
    from kzoo import metrics as kzoo_metrics

    validate.boolean("autoattack", autoattack)
    if autoattack and kzoo_metrics.autoattack_available() is None:  # before hours of PGD
        import keras

        raise ValueError(f"autoattack=True (kzoo eval --autoattack) needs an AutoAttack engine: "
                         f"the torch backend (--backend torch, KERAS_BACKEND=torch) with the "
                         f"autoattack, torchattacks or adversarial-robustness-toolbox package; "
                         f"the backend is {keras.config.backend()}.")
    directory, card = zoo.open_card(name_or_dir, trust_code)
    model = zoo.load(directory)
    recipe = Recipe(card.recipe_spec, card.recipe, card.recipe_sha256)
    ds = recipe.dataset()
    if ds.provenance_hash != card.data.get("provenance_hash"):
        raise RecipeError(
            f"the data rebuilt for {card.name} has provenance {ds.provenance_hash}, "
            f"the card says {card.data.get('provenance_hash', 'none')}."
        )
    metrics = report(model, ds, recipe, verbose=verbose)
    if autoattack:
        metrics.update(slow_report(model, ds, recipe)[0])
    return card, metrics


def sample(name_or_dir, out, n=None, seed=0, worst_eps=0.0, trust_code=False):
    """Writes ``n`` samples (default ``sample_count``) of a generator preset or run to
    ``out`` (PNG): a grid of images, or a scatter over the test data for 2-D samples.
    ``trust_code``: as in ``kzoo.load``. Returns ``(path, n)``.

    Examples:
        >>> from kzoo import runs
        >>> runs.sample("digits-dcgan", "dcgan.png")  # a grid of 64 digits
        ('dcgan.png', 64)
        >>> runs.sample("digits-robust-dcgan", "worst.png", n=16, worst_eps=0.01)
        ('worst.png', 16)
    """
    n = None if n is None else validate.integer("n", n, low=1)
    seed = validate.seed("seed", seed)
    worst_eps = validate.number("worst_eps", worst_eps, low=0)
    if Path(out).suffix.lower() != ".png":
        raise ValueError(f"out (kzoo sample --out) must be a .png path; got {str(out)!r}.")
    directory, card = zoo.open_card(name_or_dir, trust_code)
    if not samples_from(card):
        generators = [c.name for c in zoo.presets() if samples_from(c)]
        raise ValueError(f"{card.name} is a {card.game}, which serves no generator; "
                         f"generator presets: {', '.join(generators) or 'none'}.")
    try:  # before the model loads
        check_writable(Path(out).parent)
    except OSError as err:
        raise OSError(f"cannot write {out} (kzoo sample --out): "
                      f"{err.strerror or err}.") from err
    model = zoo.load(directory)
    ds = Recipe(card.recipe_spec, card.recipe).dataset()  # [data] path: from its folder
    n = roles.sample_count(ds) if n is None else n
    return roles.write_samples(model, ds, out, n, seed, worst_eps, name=card.name), n


def training_order(recipes):
    """``recipes`` (``Recipe``s) ordered so that each comes after the others whose preset it
    starts from (``[net] preset``) or measures with (a generator's feature network): the
    order in which ``make presets`` retrains the zoo (``kzoo list --recipes``) and ``make
    fashion-presets`` trains its recipes (``kzoo recipe --order``).

    Examples:
        >>> from kzoo.recipes import Recipe
        >>> recipes = [Recipe.from_file(name) for name in ("aegl/digits-lt10",
        ...                                                 "classifier/digits-lt10-ce")]
        >>> [recipe.name for recipe in training_order(recipes)]  # AEGL starts from the CE net
        ['digits-lt10-cnn-ce', 'digits-lt10-cnn-aegl']
    """
    by_name = {}
    for recipe in recipes:
        if recipe.name in by_name:
            raise ValueError(f"{by_name[recipe.name].origin} and {recipe.origin} are both "
                             f"named {recipe.name!r} (their run and preset): rename one.")
        by_name[recipe.name] = recipe
    result_of = {ref: recipe.name for recipe in recipes for ref in recipe.result_names}
    needs = {}
    for recipe in recipes:
        wanted = {p.preset for p in recipe.spec.net if p.preset is not None}
        for role in roles.of(recipe.serves):
            wanted |= role.needs(recipe.spec)
        needs[recipe.name] = sorted({result_of[w] for w in wanted if w in result_of})
    try:
        order = graphlib.TopologicalSorter(needs).static_order()
        return [by_name[name] for name in order]
    except graphlib.CycleError as err:
        raise ValueError(f"recipes {err.args[1]} start from each other in a loop.") from None


def samples_from(card):
    """Whether ``kzoo sample`` draws from the game of ``card`` (a role with samples)."""
    return any(role.samples for role in roles.of(card.serves))


def served_description(game, ds):
    """What a user takes from ``game``, one clause per part it serves."""
    return f"{type(game).__name__}: " + "; ".join(role.served(game, ds)
                                                    for role in roles.of(game.serves))


def _relative(path):
    """``path`` relative to the project checkout holding kzoo (recipes/...), else as given."""
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(Path(__file__).resolve().parents[1]))
    except ValueError:
        return str(path)
