"""Architectures as functions returning named functional ``keras.Model``s.

Every net names its penultimate layer ``"features"`` and its last layer
``"logits"``; ``features_model(net)`` returns the feature extractor.
"""

from kzoo import validate
from kzoo.backend.common import channels_first
from kzoo.nets.acgan import acgan_classifier, acgan_critic, check_acgan_critic, class_head
from kzoo.nets.characteristics import NoHistory, SampleHistory
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
# Every net a recipe's [net.<player>] table may name: arch -> (what it is, builder).
ARCHS = {
    **{name: ("classifier", fn) for name, fn in BUILDERS.items()},
    "dcgan_generator": ("generator", dcgan_generator),
    "dcgan_critic": ("critic", dcgan_critic),
    "resnet_generator": ("generator", resnet_generator),
    "resnet_critic": ("critic", resnet_critic),
    "mlp_generator": ("generator", mlp_generator),
    "mlp_critic": ("critic", mlp_critic),
    "acgan_critic": ("classifier", acgan_critic),  # images -> [score, class logits]
    "acgan_classifier": ("classifier", acgan_classifier),  # its class head alone
    "perturbation_net": ("other", perturbation_net),
}


def build(arch, input_shape, num_classes, **kwargs):
    """Builds the net named ``arch`` (one of ``BUILDERS``)."""
    validate.choice("arch", arch, tuple(sorted(BUILDERS)))
    return BUILDERS[arch](tuple(input_shape), num_classes, **kwargs)


def build_for_data(arch, input_shape, num_classes, *, conditional=False, **kwargs):
    """The net ``arch`` (one of ``ARCHS``) for data of ``input_shape`` with ``num_classes``.

    Classifiers map inputs to ``num_classes`` logits (an AC-GAN critic to a score and
    them); generators map ``latent_dim``
    (default 64 for images, 2 for flat data) to samples of ``input_shape``; critics score
    such samples; generators and critics take a label too when ``conditional``. Other
    nets (``perturbation_net``) take ``kwargs`` alone.

    Examples:
        >>> build_for_data("dcgan_generator", (8, 8, 1), 10, conditional=True).inputs
    """
    validate.choice("arch", arch, tuple(ARCHS))
    validate.boolean("conditional", conditional)
    kind, builder = ARCHS[arch]
    if kind == "other":
        return builder(**kwargs)
    if kind == "classifier":
        return builder(tuple(input_shape), num_classes, **kwargs)
    shape = input_shape[0] if arch.startswith("mlp") else tuple(input_shape)
    kwargs["num_classes"] = num_classes if conditional else None
    if kind == "generator":
        kwargs.setdefault("latent_dim", default_latent_dim(input_shape))
    return builder(shape, **kwargs)


def default_latent_dim(input_shape):
    """A generator's latent size unless a recipe says: 64 for images, 2 for 2-D points."""
    return 64 if len(input_shape) == 3 else 2


__all__ = ["ARCHS", "BUILDERS", "PAIRS", "ClassCovariance", "acgan_classifier", "acgan_critic",
           "check_acgan_critic", "class_head", "NoHistory", "NormedDense",
           "SampleHistory", "SpectralNorm", "build", "build_for_data", "channels_first",
           "dcgan_critic", "dcgan_generator", "default_latent_dim", "features_model", "gan_pair",
           "mlp", "mlp_critic", "mlp_generator", "perturbation_net", "resnet32", "resnet_critic",
           "resnet_generator", "small_cnn"]
