"""Architectures as functions returning named functional ``keras.Model``s.

Every net names its penultimate layer ``"features"`` and its last layer
``"logits"``; ``features_model(net)`` returns the feature extractor.
"""

from kzoo import validate
from kzoo.nets.cnn import small_cnn
from kzoo.nets.covariance import ClassCovariance
from kzoo.nets.gan import (
    PAIRS,
    dcgan_critic,
    dcgan_generator,
    gan_pair,
    mlp_critic,
    mlp_generator,
    resnet_critic,
    resnet_generator,
)
from kzoo.nets.heads import features_model
from kzoo.nets.layers import NormedDense
from kzoo.nets.mlp import mlp
from kzoo.nets.perturbation import perturbation_net
from kzoo.nets.resnet import resnet32
from kzoo.nets.spectral import SpectralNorm

BUILDERS = {"small_cnn": small_cnn, "resnet32": resnet32, "mlp": mlp}


def build(arch, input_shape, num_classes, **kwargs):
    """Builds the net named ``arch`` (one of ``BUILDERS``)."""
    validate.choice("arch", arch, tuple(sorted(BUILDERS)))
    return BUILDERS[arch](tuple(input_shape), num_classes, **kwargs)


__all__ = ["BUILDERS", "PAIRS", "ClassCovariance", "NormedDense", "SpectralNorm", "build",
           "dcgan_critic", "dcgan_generator", "features_model", "gan_pair", "mlp", "mlp_critic",
           "mlp_generator", "perturbation_net", "resnet32", "resnet_critic", "resnet_generator",
           "small_cnn"]
