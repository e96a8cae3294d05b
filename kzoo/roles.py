"""What a game serves, as objects: one ``Role`` per kind (``Game.serves`` names them), which
says everything the zoo layer does with that part of a trained game. A role gives:

- ``eval_keys``: the ``[eval]`` keys a recipe may set for it, and ``check_recipe``;
- ``report``: its test metrics (and figures, into a run directory), ``slow_report``: those
  recomputed only on request (AutoAttack), ``headlines``: the metrics a one-line summary
  shows;
- ``evaluation``, ``intended_use``, ``limitations``, ``served``: what a card says of it,
  and ``markdown``: the card's lines on how its numbers were measured;
- ``samples``: whether ``kzoo sample`` draws from it.

Defining a ``Role`` subclass registers it under its ``name`` (``ROLES``); a new kind of part
is one new class here.

Examples:
    >>> from kzoo import roles
    >>> [role.name for role in roles.of(("classifier", "generator"))]
    ['classifier', 'generator']
"""

from pathlib import Path

ROLES = {}
GRID_SAMPLES = 64
# The attack behind every robust number on a card (kzoo.metrics.robust_accuracy's settings).
# The recipe sets the steps and step_ratio ([eval] robust_steps, robust_step_ratio).
ROBUST_ATTACK = {"attack": "PGD", "norm": "linf", "random_start": False, "restarts": 1,
                 "loss": "cross-entropy", "units": "[0, 1] inputs"}
# A card's attack metrics are these prefixes and the radius: "robust_accuracy@0.1" (PGD,
# ROBUST_ATTACK) and "autoattack_accuracy@0.1" (AutoAttack, evaluation.autoattack).
ROBUST_METRIC, AUTOATTACK_METRIC = "robust_accuracy@", "autoattack_accuracy@"


def of(serves):
    """The roles of the names in ``serves`` (``Game.serves``, a card's ``serves``), in order."""
    unknown = [name for name in serves if name not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; kzoo's: {', '.join(ROLES)}.")
    return [ROLES[name] for name in serves]


class Role:
    """One kind of part a game serves; subclasses set ``name`` and override what applies."""

    name = ""
    eval_keys = frozenset()
    headlines = ()
    samples = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        ROLES[cls.name] = cls()

    def check_recipe(self, spec):
        """A message for what a recipe (``kzoo.recipe_spec.Spec``) of a game serving this
        part may not say, or None."""
        return None

    def net(self, game):
        """The net this part of ``game`` is, for a recipe to start from; None if it is not
        one net."""
        return None

    def needs(self, spec):
        """The presets a recipe (``kzoo.recipe_spec.Spec``) of this part measures with."""
        return set()

    def check_net(self, net, ds):
        """A message (completing "preset NAME ...") when ``net`` cannot serve on ``ds``."""
        return None

    def report(self, game, ds, recipe, presets, out=None, verbose=0):
        """The test metrics of this part of ``game`` (figures into ``out`` when given);
        ``presets``: the loaded games of what ``needs`` names, by name; ``verbose`` (0, 1 or
        2, as ``fit``'s): a progress bar while PGD attacks the test set."""
        return {}

    def slow_report(self, game, ds, recipe):
        """``(metrics, evaluation fields)`` of the numbers recomputed only on request (the
        fields say how they were measured); ``({}, {})`` where there are none."""
        return {}, {}

    def evaluation(self, game, ds, recipe):
        """The card's ``evaluation`` fields on how this part's numbers are measured."""
        return {}

    def intended_use(self, ds):
        return ""

    def limitations(self, game, ds, recipe):
        return []

    def served(self, game, ds):
        """What a user takes from this part of ``game``, one clause."""
        return ""

    def markdown(self, card):
        """The Markdown lines of ``card`` (a ``ModelCard``) on this part's measurement."""
        return []


class Classifier(Role):
    """``game.classifier``: logits from [0, 1] images; accuracies, PGD and AutoAttack."""

    name = "classifier"
    eval_keys = frozenset({"robust_epsilons", "robust_steps", "robust_step_ratio",
                           "autoattack_epsilons", "autoattack_square_queries",
                           "autoattack_examples"})
    headlines = ("accuracy", "balanced_accuracy", "tail_accuracy")

    def check_recipe(self, spec):
        if spec.data.scale == "signed":
            return (f"[data] scale = \"signed\" is for games that serve no classifier; "
                    f"{spec.game.name} serves one, and kzoo's classifiers and attacks take "
                    f"[0, 1] inputs.")
        return None

    def net(self, game):
        return game.classifier

    def check_net(self, net, ds):
        shape, classes = tuple(net.input_shape[1:]), net.output_shape[-1]
        if shape != tuple(ds.input_shape) or classes != ds.num_classes:
            return (f"takes {shape} -> {classes} classes; the data is {ds.input_shape} -> "
                    f"{ds.num_classes}.")
        return None

    def report(self, game, ds, recipe, presets, out=None, verbose=0):
        """Accuracies (``kzoo.metrics.classification_report``) and, for a recipe with a
        robust evaluation, accuracy under PGD per epsilon; with ``out``, confusion.png and
        robust.png."""
        from kzoo import metrics

        model = game.classifier
        pred = metrics.predict_proba(model, ds.x_test).argmax(-1)
        result = metrics.classification_report(ds, pred)
        ev = recipe.spec.eval
        if ev.robust_epsilons:
            steps = ev.robust_steps
            curve = metrics.robust_accuracy(model, ds.x_test, ds.y_test, ev.robust_epsilons,
                                            steps=steps, step_ratio=ev.robust_step_ratio,
                                            norm=ROBUST_ATTACK["norm"],
                                            random_start=ROBUST_ATTACK["random_start"],
                                            verbose=verbose)
            result.update({f"{ROBUST_METRIC}{e:g}": a for e, a in curve.items()})
            if out is not None:
                metrics.plot_robust_accuracy({recipe.name: curve}, Path(out) / "robust.png",
                                             title=f"PGD-{steps} (linf), test set")
        if out is not None:
            cm = metrics.confusion_matrix(ds.y_test, pred, ds.num_classes)
            metrics.plot_confusion_matrix(cm, ds.class_names, Path(out) / "confusion.png")
        return {k: round(v, 6) for k, v in result.items()}

    def slow_report(self, game, ds, recipe):
        """Accuracy under AutoAttack at the recipe's ``autoattack_epsilons``
        (``autoattack_accuracy@eps``) on its first ``autoattack_examples`` test images, and
        its settings (``evaluation.autoattack``), where an engine runs here
        (``kzoo.metrics.autoattack_available``: torch)."""
        from kzoo import metrics

        ev = recipe.spec.eval
        if ev.autoattack_epsilons is None or metrics.autoattack_available() is None:
            return {}, {}
        result, settings, n = {}, None, ev.autoattack_examples
        for eps in ev.autoattack_epsilons:
            acc, settings = metrics.autoattack_accuracy(
                game.classifier, ds.x_test[:n], ds.y_test[:n], eps,
                square_queries=ev.autoattack_square_queries)
            result[f"{AUTOATTACK_METRIC}{eps:g}"] = round(acc, 6)
        settings = {k: v for k, v in settings.items() if k != "epsilon"}
        return result, {"autoattack": {**settings, "epsilons": list(ev.autoattack_epsilons)}}

    def evaluation(self, game, ds, recipe):
        ev = recipe.spec.eval
        if not ev.robust_epsilons:
            return {}
        ratio, steps = ev.robust_step_ratio, ev.robust_steps
        return {"robust_attack": {**ROBUST_ATTACK, "step_ratio": ratio, "steps": steps,
                                  "epsilons": list(ev.robust_epsilons),
                                  "step_size": f"{ratio:g} * epsilon / {steps}"}}

    def intended_use(self, ds):
        return (f"a classifier of {ds.name} to compare with the zoo's other methods, to attack "
                f"(kzoo.attacks, ART, torchattacks) and to fine-tune")

    def limitations(self, game, ds, recipe):
        n, robust = len(ds.y_test), recipe.spec.eval.robust_epsilons
        return [f"Test numbers are on {n} images: one image is {100 / n:.2f} points of "
                f"accuracy.",
                "Robust only as far as the attack under Evaluation measures; a stronger or "
                "adaptive attack can lower the robust accuracy." if robust else
                "Not trained for robustness: small adversarial changes flip its predictions."]

    def served(self, game, ds):
        return (f"logits over {ds.num_classes} classes of {ds.name} (game.classifier); "
                f"input {'x'.join(map(str, ds.input_shape))} in [0, 1]")

    def markdown(self, card):
        ev, lines = card.evaluation, []
        attack = ev.get("robust_attack")
        if attack:
            lines += ["", f"robust_accuracy@epsilon: {attack['norm']} {attack['attack']}, "
                          f"{attack['steps']} steps of {attack['step_size']}, random start "
                          f"{'yes' if attack['random_start'] else 'no'}, {attack['restarts']} "
                          f"restart(s), {attack['loss']} loss, epsilon in {attack['units']}."]
        if ev.get("autoattack"):
            a = ev["autoattack"]
            lines += ["", f"autoattack_accuracy@epsilon: AutoAttack by {a['engine']} "
                          f"{a['version']} ({', '.join(a['attacks'])}; APGD {a['apgd_steps']} "
                          f"steps, Square {a['square_queries']} queries, seed {a['seed']}), "
                          f"{a['norm']}, {_first(a['n'], ev['test_examples'])} test images; "
                          f"`kzoo eval {card.name} --autoattack` recomputes it."]
        return lines


def _first(n, of):
    """``"540"``, or ``"the first 1000 of the 10000"`` for a share of the test images."""
    return f"{n}" if n >= of else f"the first {n} of the {of}"


class Generator(Role):
    """The game itself as a generator (``latent_dim``, ``generate``, ``sample``, which
    return samples in the data's range: [0, 1] images): exact metrics on a 2-D mixture,
    classifier-feature distances on images; sample grids."""

    name = "generator"
    eval_keys = frozenset({"samples", "worst_noise_eps", "features"})
    headlines = ("modes", "high_quality", "log_density", "frechet_classifier_distance",
                 "frechet_classifier_distance_real", "classifier_score")
    samples = True

    def check_recipe(self, spec):
        from kzoo.metrics.generator import feature_preset

        try:
            feature_preset(spec.data.name, spec.eval.features)
        except ValueError as err:
            return f"[eval] features: {err}"
        return None

    def needs(self, spec):
        from kzoo.metrics.generator import feature_preset

        return {feature_preset(spec.data.name, spec.eval.features)} - {None}

    def report(self, game, ds, recipe, presets, out=None, verbose=0):
        """``kzoo.metrics.generator_report`` with the recipe's ``[eval]`` settings and the
        features of the preset it ``needs``; with ``out``, also samples.png and
        samples_z_adv.png (the largest worst-noise radius)."""
        from kzoo import metrics
        from kzoo.metrics.generator import feature_preset

        ev = recipe.spec.eval
        eps = list(ev.worst_noise_eps)
        name = feature_preset(ds.name, ev.features)
        features = None if name is None else metrics.ClassifierFeatures(presets[name])
        result = metrics.generator_report(game, ds, n=ev.samples, worst_eps=eps,
                                          features=features)
        if out is not None:
            n = sample_count(ds)
            write_samples(game, ds, Path(out) / "samples.png", n, name=recipe.name)
            if eps:
                write_samples(game, ds, Path(out) / "samples_z_adv.png", n, eps=max(eps),
                              name=recipe.name)
        return {k: v if isinstance(v, int) else round(float(v), 6) for k, v in result.items()}

    def evaluation(self, game, ds, recipe):
        from kzoo.metrics.generator import default_samples, feature_preset

        ev = recipe.spec.eval
        return {"generator": {"samples": ev.samples or default_samples(ds),
                              "features": feature_preset(ds.name, ev.features)
                              or "none: exact metrics of the known mixture"}}

    def intended_use(self, ds):
        return (f"a generator of {ds.name} samples to study sample quality and worst-case "
                f"input noise")

    def limitations(self, game, ds, recipe):
        if "mixture" in ds.extras:  # exact metrics of the known density
            return []
        return ["Sample quality is measured with a kzoo classifier's features (Frechet "
                "classifier distance), not Inception features: not comparable with published "
                "FIDs."]

    def served(self, game, ds):
        scale = "[0, 1]" if getattr(game, "signed", False) else "data units"
        given = " and a label" if game.conditional else ""
        return (f"samples of {ds.name} ({'x'.join(map(str, ds.input_shape))}, {scale}) "
                f"from z ~ N(0, I_{game.latent_dim}){given}")

    def markdown(self, card):
        g = card.evaluation.get("generator")
        if not g:
            return []
        return ["", f"Generator metrics: {g['samples']} samples; features: {g['features']}."]


def sample_count(ds):
    """How many samples a picture of a generator on ``ds`` shows: a grid of 64 images, or
    2,000 points over a 2-D mixture."""
    return 2000 if "mixture" in ds.extras else GRID_SAMPLES


def write_samples(gan, ds, path, n, seed=0, eps=0.0, name=""):
    """``n`` samples of ``gan`` (at the worst noise within ``eps``) as a PNG titled with
    ``name``: an image grid (``generate``'s [0, 1] images), or 2-D points over ``ds``'s
    test points."""
    from kzoo import metrics

    x = metrics.generate(gan, *metrics.latent_batch(gan, n, seed), eps)
    # A conditional generator's labels cycle through the classes: one class per column.
    columns = gan.num_classes if gan.conditional and x.ndim == 4 else None
    title = (f"{name}: {n} samples" + (", a class per column" if columns else "")
             + (f", worst noise eps {eps:g}" if eps else ""))
    return metrics.plot_samples(x, path, title=title, real=ds.x_test if x.ndim == 2 else None,
                                columns=columns)
