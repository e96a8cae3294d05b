"""Accuracy under attack: PGD as a curve over the radius, and AutoAttack at one radius.

Both take NumPy images and labels and return Python floats.
"""

import importlib.metadata

import keras
import numpy as np

from kzoo import backend, validate
from kzoo.attacks.pgd import NORMS, check_batch, num_classes_of, pgd
from kzoo.metrics.classification import predict_proba
from kzoo.ops import logits_of


def robust_accuracy(model, x, y, epsilons, *, steps=10, step_ratio=2.5, batch_size=512,
                    verbose=0, **attack):
    """Accuracy under PGD for each radius in ``epsilons``; returns ``{epsilon: accuracy}``.

    Radius 0 is the clean accuracy. Unless ``step_size`` is given, each radius
    uses ``step_size = step_ratio * epsilon / steps`` (Madry et al.'s rule).

    Args:
        model: a logits model (with several outputs: logits last).
        x, y: NumPy inputs and integer labels.
        epsilons: non-empty list of float >= 0, in the model's input units.
        steps: int >= 1. PGD steps. Default 10.
        step_ratio: float > 0. Default 2.5.
        batch_size: int >= 1. Default 512.
        verbose: 0 (silent), 1 (a progress bar over the attacked batches, with the radius
            under attack; Fashion-MNIST's 10,000 images at four radii take minutes) or 2
            (one line when done), as Keras' ``fit``. Default 0.
        **attack: more ``kzoo.attacks.pgd`` arguments (``norm``, ``random_start``, ...).

    Examples:
        >>> curve = robust_accuracy(model, ds.x_test, ds.y_test, [0, 0.05, 0.1])
        >>> plot_robust_accuracy({"madry": curve}, "robust.png")
    """
    epsilons = validate.numbers_list("epsilons", epsilons, low=0)
    steps = validate.integer("steps", steps, low=1)
    step_ratio = validate.number("step_ratio", step_ratio, low=0, low_open=True)
    batch_size = validate.integer("batch_size", batch_size, low=1)
    clip = tuple(attack.get("clip", (0.0, 1.0)))
    check_batch(model, x, y, clip)
    verbose = int(validate.choice("verbose", verbose, (0, 1, 2, False, True)))
    y = np.asarray(y)
    starts = range(0, len(x), batch_size)
    bar = keras.utils.Progbar(len(starts) * sum(e > 0 for e in epsilons), verbose=verbose,
                              stateful_metrics=["epsilon"], unit_name="batch")
    curve = {}
    for eps in epsilons:
        if eps == 0:
            pred = predict_proba(model, x, batch_size, clip).argmax(-1)
        else:
            attacked = _attacked_classes(model, eps, len(starts) >= GRAPH_MIN_BATCHES,
                                         steps=steps, step_size=step_ratio * eps / steps,
                                         **attack)
            pred = []
            for i in starts:
                pred.append(keras.ops.convert_to_numpy(attacked(
                    keras.ops.convert_to_tensor(x[i:i + batch_size]),
                    keras.ops.convert_to_tensor(y[i:i + batch_size]))))
                bar.add(1, [("epsilon", eps)])
            pred = np.concatenate(pred)
        curve[eps] = float(np.mean(pred == y))
    return curve


# Tracing a radius's attack into a graph (TensorFlow) takes seconds: it pays over this many
# batches or more (Fashion-MNIST's 10,000 test images: 20), not over digits' 540 images (2).
GRAPH_MIN_BATCHES = 4


def _attacked_classes(model, epsilon, compiled, **attack):
    """``(x, y) -> the classes model predicts for pgd(model, x, y, epsilon, **attack)``, on
    tensors; with ``compiled``, one program (``kzoo.backend.compiled``: a graph on
    TensorFlow)."""

    def classes(x, y):
        x_adv = pgd(model, x, y, epsilon=epsilon, **attack)
        # argmax of the probabilities, as predict_proba's at radius 0 and the cards' eager
        # figures: where float32's softmax saturates, ties fall as they did there
        logits = logits_of(model(x_adv, training=False))
        return keras.ops.argmax(keras.ops.softmax(logits, axis=-1), -1)

    return backend.compiled(classes) if compiled else classes


def plot_robust_accuracy(curves, path, title="Accuracy under PGD", xlabel="epsilon"):
    """Saves one line per model, ``curves = {name: {epsilon: accuracy}}``, as a PNG."""
    from kzoo.metrics.plots import plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for name, curve in curves.items():
        eps = sorted(curve)
        ax.plot(eps, [curve[e] for e in eps], "o-", label=name)
    ax.set(xlabel=xlabel, ylabel="accuracy", ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# AutoAttack engines, in order of preference: name -> (distribution, how to install it).
ENGINES = {
    "autoattack": ("autoattack", "pip install git+https://github.com/fra31/auto-attack"),
    "torchattacks": ("torchattacks", "pip install torchattacks"),
    "art": ("adversarial-robustness-toolbox", "pip install adversarial-robustness-toolbox"),
}
APGD_STEPS = 100  # AutoAttack's standard iterations of APGD and FAB
TARGETS = 9  # AutoAttack's standard target classes of APGD-T and FAB-T


def autoattack_available():
    """The engine ``autoattack_accuracy`` uses: "autoattack" (the official package),
    "torchattacks" or "art", the first installed; None on the tensorflow or jax backend
    (the engines here are torch-only) or when none is installed.

    Examples:
        >>> autoattack_available()  # KERAS_BACKEND=torch, with ART installed
        'art'
    """
    if keras.config.backend() != "torch":
        return None
    return next((name for name, (dist, _) in ENGINES.items() if _version(dist)), None)


def autoattack_accuracy(classifier, x, y, epsilon, *, norm="linf", batch_size=500, seed=0,
                        engine=None, square_queries=5000):
    """Accuracy under AutoAttack (Croce & Hein, 2020): ``(accuracy, settings)``.

    AutoAttack runs its attacks in turn, each on the points still classified right, and a
    point counts as robust only if every attack fails on it. The engines (torch backend):

    - "autoattack", the official package: its standard version, APGD-CE, APGD-T, FAB-T
      and Square (``run_standard_evaluation``);
    - "torchattacks": the same four attacks with the official settings (100 iterations,
      9 target classes; torchattacks' own ``AutoAttack`` takes 10);
    - "art" (the Adversarial Robustness Toolbox): APGD-CE, APGD-T (ART's APGD with its DLR
      loss, targeted at each of the 9 next most likely classes) and Square, run in turn by
      kzoo; ART has no FAB, so this is the standard version less FAB-T (ART's own
      ``AutoAttack`` class runs another set and needs ``multiprocess``).

    Args:
        classifier: a Keras model taking NHWC images in [0, 1] and returning logits (on
            the torch backend a ``torch.nn.Module``), e.g. ``kzoo.load(name).classifier``.
        x: NumPy float images (n, h, w, c) in [0, 1].
        y: int labels (n,).
        epsilon: float > 0. Radius in [0, 1] pixel units.
        norm: "linf" or "l2". Default "linf".
        batch_size: int >= 1. Default 500.
        seed: int in [0, 2**32 - 1]. The attacks' random starts and squares. Default 0.
        engine: "autoattack", "torchattacks", "art" or None (the first installed,
            ``autoattack_available()``).
        square_queries: int >= 1. Square's query budget; 5000 is AutoAttack's standard,
            fewer gives a quicker, weaker check. Default 5000.

    Returns:
        ``(accuracy, settings)``: the robust accuracy (a float) and the settings that
        produced it, ``{"engine", "version" (the engine package's), "norm", "epsilon",
        "attacks", "apgd_steps", "square_queries", "seed", "n"}``, to report next to it.

    Raises:
        RuntimeError: on the tensorflow or jax backend.
        ImportError: when the engine (or, for None, every engine) is not installed.

    Examples:
        >>> net = kzoo.load("digits-cnn-madry").classifier
        >>> ds = kzoo.data.load("digits")
        >>> acc, settings = autoattack_accuracy(net, ds.x_test, ds.y_test, 0.2)
        >>> settings["attacks"]  # engine "art"
        ['apgd-ce', 'apgd-t', 'square']
    """
    engine = _check_engine(engine)
    epsilon = validate.number("epsilon", epsilon, low=0, low_open=True)
    validate.choice("norm", norm, NORMS)
    batch_size = validate.integer("batch_size", batch_size, low=1)
    seed = validate.seed("seed", seed)
    square_queries = validate.integer("square_queries", square_queries, low=1)
    check_batch(classifier, x, y, (0.0, 1.0))
    x, y = np.asarray(x, "float32"), np.asarray(y).astype("int64")
    if x.ndim != 4:
        raise ValueError(f"x must be images (n, h, w, c) in [0, 1]; got shape {x.shape}.")
    from kzoo.backend.torch import channels_first_module

    module, loss, device = channels_first_module(classifier)
    run = {"autoattack": _official, "torchattacks": _torchattacks, "art": _art}[engine]
    x_adv, attacks = run(module, loss, device, x.transpose(0, 3, 1, 2), y, norm=norm,
                         epsilon=epsilon, classes=num_classes_of(classifier, x), seed=seed,
                         batch_size=batch_size, square_queries=square_queries)
    pred = predict_proba(classifier, x_adv.transpose(0, 2, 3, 1), batch_size).argmax(-1)
    settings = {"engine": engine, "version": _version(ENGINES[engine][0]), "norm": norm,
                "epsilon": epsilon, "attacks": attacks, "apgd_steps": APGD_STEPS,
                "square_queries": square_queries, "seed": seed, "n": len(x)}
    return float(np.mean(pred == y)), settings


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _check_engine(engine):
    """``engine``, or the first installed one for None; refuses what cannot run here."""
    if keras.config.backend() != "torch":
        raise RuntimeError(f"autoattack_accuracy runs on the torch backend only (its engines, "
                           f"{', '.join(ENGINES)}, are torch libraries); KERAS_BACKEND is "
                           f"{keras.config.backend()!r}: set KERAS_BACKEND=torch.")
    if engine is None:
        engine = autoattack_available()
        if engine is None:
            raise ImportError("autoattack_accuracy needs one of: " + "; ".join(
                f"{name} ({hint})" for name, (_, hint) in ENGINES.items()) + ".")
        return engine
    validate.choice("engine", engine, tuple(ENGINES))
    if _version(ENGINES[engine][0]) is None:
        raise ImportError(f"engine {engine!r} is not installed: {ENGINES[engine][1]}.")
    return engine


def _official(module, loss, device, x, y, *, norm, epsilon, classes, seed, batch_size,
              square_queries):
    from autoattack import AutoAttack

    adversary = AutoAttack(module, norm=_torch_norm(norm), eps=epsilon, seed=seed,
                           verbose=False, device=device)
    adversary.apgd_targeted.n_target_classes = min(TARGETS, classes - 1)
    adversary.fab.n_target_classes = min(TARGETS, classes - 1)
    adversary.square.n_queries = square_queries
    to = keras.ops.convert_to_tensor
    x_adv = adversary.run_standard_evaluation(to(x), to(y), bs=batch_size)
    return keras.ops.convert_to_numpy(x_adv), list(adversary.attacks_to_run)


def _torchattacks(module, loss, device, x, y, *, norm, epsilon, classes, seed, batch_size,
                  square_queries):
    import torchattacks as ta

    common = {"norm": _torch_norm(norm), "eps": epsilon, "seed": seed, "n_restarts": 1}
    apgd_t = ta.APGDT(module, steps=APGD_STEPS, n_classes=classes, **common)
    fab_t = ta.FAB(module, steps=APGD_STEPS, multi_targeted=True, n_classes=classes, **common)
    apgd_t.n_target_classes = fab_t.n_target_classes = min(TARGETS, classes - 1)
    attack = ta.MultiAttack([
        ta.APGD(module, steps=APGD_STEPS, loss="ce", **common), apgd_t, fab_t,
        ta.Square(module, n_queries=square_queries, p_init=0.8, resc_schedule=False, **common),
    ])
    to = keras.ops.convert_to_tensor
    x_adv = [keras.ops.convert_to_numpy(attack(to(x[i:i + batch_size]), to(y[i:i + batch_size])))
             for i in range(0, len(x), batch_size)]
    return np.concatenate(x_adv), ["apgd-ce", "apgd-t", "fab-t", "square"]


def _art(module, loss, device, x, y, *, norm, epsilon, classes, seed, batch_size,
         square_queries):
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification import PyTorchClassifier

    estimator = PyTorchClassifier(
        model=module, loss=loss, input_shape=x.shape[1:], nb_classes=classes,
        clip_values=(0.0, 1.0), channels_first=True,
        device_type="gpu" if device == "cuda" else "cpu")
    common = {"norm": np.inf if norm == "linf" else 2, "eps": epsilon,
              "batch_size": batch_size, "verbose": False}

    def apgd(loss_type, targeted=False):
        return AutoProjectedGradientDescent(
            estimator, eps_step=2 * epsilon, max_iter=APGD_STEPS, nb_random_init=1,
            loss_type=loss_type, targeted=targeted, **common).generate

    def logits(v):
        return estimator.predict(v, batch_size=batch_size)

    apgd_t = apgd("difference_logits_ratio", targeted=True)
    attacks = [("apgd-ce", apgd("cross_entropy"))] + [  # the rank-th most likely classes
        ("apgd-t", lambda v, _, rank=rank: apgd_t(v, y=np.argsort(logits(v), 1)[:, -rank]))
        for rank in range(2, min(TARGETS, classes - 1) + 2)
    ] + [("square", SquareAttack(estimator, max_iter=square_queries, p_init=0.8, nb_restarts=1,
                                 **common).generate)]
    state = np.random.get_state()  # ART draws from NumPy's global generator
    np.random.seed(seed)
    try:
        x_adv = _in_turn([run for _, run in attacks], x, y, norm, epsilon,
                         lambda v: logits(v).argmax(1))
    finally:
        np.random.set_state(state)
    return x_adv, list(dict.fromkeys(name for name, _ in attacks))


def _in_turn(attacks, x, y, norm, epsilon, predict):
    """AutoAttack's protocol: each attack ``(x, y) -> x_adv`` on the points every earlier
    one left robust; a point's adversarial example is the first misclassified one inside
    the ball."""
    x_adv, robust = x.copy(), predict(x) == y
    for attack in attacks:
        index = np.flatnonzero(robust)
        if not len(index):
            break
        found = attack(x[index], y[index]).astype(x.dtype)
        delta = (found - x[index]).reshape(len(index), -1)
        size = np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)
        hit = (predict(found) != y[index]) & (size <= epsilon + 1e-5)
        x_adv[index[hit]], robust[index[hit]] = found[hit], False
    return x_adv


def _torch_norm(norm):
    return {"linf": "Linf", "l2": "L2"}[norm]
