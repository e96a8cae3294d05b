"""Losses as pure ``keras.ops`` functions, and the registry of classification losses
(``get``: a loss object by name, carrying its own arguments; ``kzoo.losses.gan.get`` is
that of the GAN losses)."""

from kzoo.losses.classification import (
    LOSSES,
    Loss,
    class_balanced_weights,
    cross_entropy,
    focal,
    get,
    ldam,
    ldam_margins,
    logit_adjusted,
    per_example_cross_entropy,
)
from kzoo.losses.iada import iada_loss

__all__ = [
    "LOSSES",
    "Loss",
    "class_balanced_weights",
    "cross_entropy",
    "focal",
    "get",
    "iada_loss",
    "ldam",
    "ldam_margins",
    "logit_adjusted",
    "per_example_cross_entropy",
]
