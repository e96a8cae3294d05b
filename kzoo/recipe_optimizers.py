"""A recipe's ``[optimizer]`` tables: their keys, their checks, and the optimizer and
learning-rate schedule each one makes.

Examples:
    >>> check_table("[optimizer]", {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9})
"""

from kzoo import validate
from kzoo.recipe_keywords import call

KEYS = {"name", "learning_rate", "momentum", "weight_decay", "schedule", "decay_epochs",
        "decay_factor", "beta_1", "beta_2"}
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
SCHEDULES = ("constant", "cosine", "steps")
BOUNDS = {"learning_rate": {"low": 0, "low_open": True}, "weight_decay": {"low": 0},
          **{k: {"low": 0, "high": 1, "high_open": True} for k in ("momentum", "beta_1",
                                                                  "beta_2")}}


def check_table(where, opt):
    """Raises ``ValueError`` naming the first unknown key or bad value of the optimizer
    table ``opt`` (``where``: its name in the recipe, e.g. ``"[optimizer.critic]"``)."""
    unknown = set(opt) - KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in {where}; "
                         f"allowed: {', '.join(sorted(KEYS))}.")
    validate.choice(f"{where} name", opt.get("name", "adam"), tuple(OPTIMIZERS))
    schedule = validate.choice(f"{where} schedule", opt.get("schedule", "constant"), SCHEDULES)
    staged = {"decay_epochs", "decay_factor"} & set(opt)
    if (schedule == "steps") != ("decay_epochs" in opt) or (staged and schedule != "steps"):
        raise ValueError(f"{where}: schedule = \"steps\" goes with decay_epochs (and "
                         f"optionally decay_factor), and they with it; got schedule "
                         f"{schedule!r} and {sorted(staged) or 'neither'}.")
    if schedule == "steps":
        epochs = validate.int_tuple(f"{where} decay_epochs", opt["decay_epochs"])
        if list(epochs) != sorted(set(epochs)) or epochs[0] < 1:
            raise ValueError(f"{where} decay_epochs must be increasing epochs >= 1; got "
                             f"{opt['decay_epochs']!r}.")
        validate.number(f"{where} decay_factor", opt.get("decay_factor", 0.1), low=0,
                        low_open=True)
    for key, kwargs in BOUNDS.items():
        if key in opt:
            validate.number(f"{where} {key}", opt[key], **kwargs)


def build(recipe, where, opt, steps_per_epoch, epochs):
    """The Keras optimizer of the checked table ``opt``, its learning rate scheduled over
    ``epochs`` of ``steps_per_epoch`` steps."""
    import keras

    opt = dict(opt)
    name = OPTIMIZERS[opt.pop("name", "adam")]
    lr = opt.pop("learning_rate", 1e-3)
    schedule = opt.pop("schedule", "constant")
    if schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=epochs * steps_per_epoch)
    elif schedule == "steps":
        lr = staged_rate(lr, opt.pop("decay_epochs"), steps_per_epoch,
                         opt.pop("decay_factor", 0.1))
    return call(recipe, getattr(keras.optimizers, name), where, learning_rate=lr, **opt)


def staged_rate(learning_rate, decay_epochs, steps_per_epoch, factor=0.1):
    """A learning rate multiplied by ``factor`` at the start of each epoch of
    ``decay_epochs`` (0-based: the first update of that epoch takes the new rate).

    Examples:
        >>> rate = staged_rate(1e-3, [10, 20], steps_per_epoch=17)   # 1e-3, 1e-4, 1e-5
    """
    import keras

    # PiecewiseConstantDecay keeps a value while step <= boundary; the optimizer's
    # iterations count from 0, so epoch e starts at step e * steps_per_epoch.
    boundaries = [e * steps_per_epoch - 1 for e in decay_epochs]
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, [learning_rate * factor**i for i in range(len(boundaries) + 1)])
