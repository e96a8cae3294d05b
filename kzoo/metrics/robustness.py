"""Accuracy under attack, as a curve over the attack radius."""

import numpy as np

from kzoo import validate
from kzoo.attacks.pgd import check_batch, pgd
from kzoo.metrics.classification import predict_proba


def robust_accuracy(model, x, y, epsilons, *, steps=10, step_ratio=2.5, batch_size=512,
                    **attack):
    """Accuracy under PGD for each radius in ``epsilons``; returns ``{epsilon: accuracy}``.

    Radius 0 is the clean accuracy. Unless ``step_size`` is given, each radius
    uses ``step_size = step_ratio * epsilon / steps`` (Madry et al.'s rule).

    Args:
        model: a logits model.
        x, y: NumPy inputs and integer labels.
        epsilons: non-empty list of float >= 0, in the model's input units.
        steps: int >= 1. PGD steps. Default 10.
        step_ratio: float > 0. Default 2.5.
        batch_size: int >= 1. Default 512.
        **attack: more ``kzoo.attacks.pgd`` arguments (``norm``, ``random_start``, ...).

    Example:
        >>> curve = robust_accuracy(model, ds.x_test, ds.y_test, [0, 0.05, 0.1])
        >>> plot_robust_accuracy({"madry": curve}, "robust.png")
    """
    epsilons = validate.numbers_list("epsilons", epsilons, low=0)
    steps = validate.integer("steps", steps, low=1)
    step_ratio = validate.number("step_ratio", step_ratio, low=0, low_open=True)
    batch_size = validate.integer("batch_size", batch_size, low=1)
    check_batch(model, x, y)
    y = np.asarray(y)
    curve = {}
    for eps in epsilons:
        if eps == 0:
            pred = predict_proba(model, x, batch_size).argmax(-1)
        else:
            kwargs = {"step_size": step_ratio * eps / steps, **attack}
            pred = np.concatenate([
                predict_proba(model, np.asarray(
                    _np(pgd(model, x[i:i + batch_size], y[i:i + batch_size], epsilon=eps,
                            steps=steps, **kwargs)))).argmax(-1)
                for i in range(0, len(x), batch_size)
            ])
        curve[eps] = float(np.mean(pred == y))
    return curve


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


def _np(x):
    import keras

    return keras.ops.convert_to_numpy(x)
