"""The optimizer and learning-rate schedule of a recipe's ``[optimizer]`` table
(``kzoo.recipe_spec.Optimizer``, its keys and checks).

Examples:
    >>> build("recipe", recipe.spec.optimizers[0], steps_per_epoch=7, epochs=60)
"""

from kzoo.recipe_keywords import call
from kzoo.recipe_spec import OPTIMIZERS


def build(origin, opt, steps_per_epoch, epochs):
    """The Keras optimizer of the table ``opt`` (a ``kzoo.recipe_spec.Optimizer``), its
    learning rate scheduled over ``epochs`` of ``steps_per_epoch`` steps."""
    import keras

    lr = opt.learning_rate
    if opt.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=epochs * steps_per_epoch)
    elif opt.schedule == "steps":
        lr = staged_rate(lr, opt.decay_epochs, steps_per_epoch, opt.decay_factor)
    return call(origin, getattr(keras.optimizers, OPTIMIZERS[opt.name]), opt.where,
                learning_rate=lr, **opt.keras_arguments())


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
