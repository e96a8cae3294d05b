"""Losses as pure ``keras.ops`` functions."""

from kzoo.losses.classification import (
    class_balanced_weights,
    cross_entropy,
    focal,
    ldam,
    ldam_margins,
    logit_adjusted,
)
from kzoo.losses.iada import iada_loss

__all__ = [
    "class_balanced_weights",
    "cross_entropy",
    "focal",
    "iada_loss",
    "ldam",
    "ldam_margins",
    "logit_adjusted",
]
