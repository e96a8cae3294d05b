"""The AC-GAN critic: one body, a real/fake score and class logits (Odena et al. 2017), and
its class head as a classifier."""

import keras
from keras import layers

from kzoo import validate
from kzoo.nets.gan import _wrapper, dcgan_features, resnet_features
from kzoo.nets.heads import LOGITS, logits_head

BODIES = {"dcgan": dcgan_features, "resnet": resnet_features}
SCORE = "score"


def acgan_critic(image_shape=(8, 8, 1), num_classes=10, *, body="dcgan", width=64,
                 batch_norm=False, spectral_norm=False, name="acgan_critic"):
    """An AC-GAN critic: images -> ``[score, logits]``, a real/fake score (one unbounded
    logit per image, shape (batch,)) and ``num_classes`` class logits, both dense heads
    (named ``"score"`` and ``"logits"``) on one ``"features"`` layer.

    Args:
        image_shape: tuple (h, w, c), h and w even and >= 4 (``kzoo.nets.gan.geometry``).
            Default (8, 8, 1).
        num_classes: int >= 2. Default 10.
        body: "dcgan" (strided 4x4 convs, LeakyReLU 0.2) or "resnet" (the WGAN-GP
            critic's residual blocks). Default "dcgan".
        width: int >= 1. Channels of the first conv ("dcgan", doubling) or of every
            block ("resnet"). Default 64.
        batch_norm: bool. Batch norm in the body (no gradient penalty to break here: the
            AC-GAN losses are log-losses). Default False.
        spectral_norm: bool. Wrap every conv and dense layer. Default False.
        name: str.

    Examples:
        >>> critic = acgan_critic((8, 8, 1), 10, width=32)
        >>> [tuple(o.shape) for o in critic.outputs]
        [(None,), (None, 10)]
        >>> class_head(critic).output_shape
        (None, 10)
    """
    validate.choice("body", body, tuple(BODIES))
    validate.boolean("batch_norm", batch_norm)
    wrap = _wrapper(spectral_norm)
    image = keras.Input(tuple(validate.int_tuple("image_shape", image_shape)), name="image")
    h = BODIES[body](image, width, wrap, batch_norm=batch_norm)
    # Both heads in float32 under a mixed-precision policy, as the losses read them.
    score = layers.Reshape((), name=SCORE, dtype="float32")(
        wrap(layers.Dense(1, dtype="float32"))(h))
    if spectral_norm:
        logits = wrap(layers.Dense(validate.integer("num_classes", num_classes, low=2),
                                   dtype="float32"))(h)
        logits = layers.Identity(name=LOGITS, dtype="float32")(logits)
    else:
        logits = logits_head(h, num_classes, normed_head=False)
    return keras.Model(image, [score, logits], name=name)


def class_head(critic):
    """The classifier inside an AC-GAN critic: its input to its ``"logits"`` output (the
    same layers and weights; the score head left out), named ``"<critic>_classifier"``.

    Examples:
        >>> net = class_head(acgan_critic((8, 8, 1), 10))
    """
    check_acgan_critic(critic)
    return keras.Model(critic.inputs[0], critic.get_layer(LOGITS).output,
                       name=f"{critic.name}_classifier")


def acgan_classifier(image_shape=(8, 8, 1), num_classes=10, *, body="dcgan", width=64,
                     batch_norm=False, spectral_norm=False, name="acgan"):
    """The class head of a fresh ``acgan_critic`` (the same arguments; the net is named
    ``"<name>_classifier"``): the classifier inside Rob-GAN's critic as a net of its own, for
    the baselines trained on it (Madry's).

    Examples:
        >>> net = acgan_classifier((28, 28, 1), 10, width=64, batch_norm=True)
    """
    return class_head(acgan_critic(image_shape, num_classes, body=body, width=width,
                                   batch_norm=batch_norm, spectral_norm=spectral_norm,
                                   name=name))


def check_acgan_critic(critic, argument="critic"):
    """Raises ``ValueError`` unless ``critic`` is a functional AC-GAN critic: one image
    input, outputs ``[score (batch,), logits (batch, k)]`` with the logits layer named
    ``"logits"``. Returns ``k``."""
    outputs = getattr(critic, "outputs", None)
    shapes = [tuple(o.shape) for o in outputs] if outputs else None
    ok = (isinstance(critic, keras.Model) and shapes is not None and len(critic.inputs) == 1
          and len(shapes) == 2 and len(shapes[0]) == 1 and len(shapes[1]) == 2)
    if ok:
        try:
            ok = critic.get_layer(LOGITS).output is outputs[1]
        except ValueError:
            ok = False
    if not ok:
        what = (f"a model with input(s) {[tuple(i.shape) for i in critic.inputs]} and "
                f"output(s) {shapes}" if shapes else repr(critic))
        raise ValueError(
            f"{argument} must be an AC-GAN critic: images -> [score (batch,), class logits "
            f"(batch, classes)] from a layer named {LOGITS!r} (kzoo.nets.acgan_critic, or "
            f"the critic of an ACGAN or RobGAN run); got {what}. A critic without a class "
            f"head (a GAN's, a BadDataGAN's) or a classifier cannot play.")
    return int(shapes[1][-1])
