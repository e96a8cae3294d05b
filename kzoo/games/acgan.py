"""AC-GAN: a conditional generator against a critic that tells real from fake and also
classifies (Odena et al., ICML 2017); the split loss of Rob-GAN as an option."""

import keras
from keras import ops

from kzoo import backend, validate
from kzoo.games.classifier import hits
from kzoo.games.game import call_frozen
from kzoo.games.gan import _UnitGAN, label_classes
from kzoo.losses.classification import per_example_cross_entropy
from kzoo.nets.acgan import check_acgan_critic, class_head

LOSSES = ("acgan", "split")
CLASS_WEIGHT = 0.5  # the share of the class term beside the real/fake term


def real_and_class(y, outputs):
    """Per example: ``0.5 * BCE(score, real) + 0.5 * CE(logits, y)`` for critic
    ``outputs = (score, logits)``: what the critic minimises on real images, what the
    generator minimises on its samples, and what the co-training attack maximises."""
    score, logits = outputs
    return ((1.0 - CLASS_WEIGHT) * ops.softplus(-score)
            + CLASS_WEIGHT * per_example_cross_entropy(y, logits))


@keras.saving.register_keras_serializable(package="kzoo")
class ACGAN(_UnitGAN):
    """An auxiliary-classifier GAN: a conditional generator ``G(z, y)`` and a critic
    ``D(x) = (score, logits)`` with a real/fake head and a class head on one body.

    With ``BCE`` the log-loss of the real/fake score and ``CE`` the class cross-entropy,
    each weighted 1/2 as in Rob-GAN's code:

    - ``loss="acgan"`` (Eq. 8 of Rob-GAN; Odena et al.): ``D`` minimises ``BCE(x, real) +
      CE(D(x), y)`` on the data and ``BCE(G(z, y), fake) + CE(D(G(z, y)), y)`` on the
      generated batch (halves), that is it maximises ``L_S + L_C``;
    - ``loss="split"`` (Eq. 9): ``D`` learns the classes of the data only: the generated
      batch's term is ``BCE(G(z, y), fake)`` alone (weight 1, as Rob-GAN's code);
    - ``G`` minimises ``BCE(G(z, y), real) + CE(D(G(z, y)), y)`` (halves; the
      non-saturating form of maximising ``L_C2 - L_S``), ``D`` in training mode as in its
      own steps (a batch-norm critic normalises the generated batch by its own statistics)
      with its moving statistics left as they are.

    **Units**: as ``BadDataGAN``, the game trains on [0, 1] images (kzoo's classifier
    units); ``G`` ends in tanh and its samples are mapped to [0, 1] before ``D`` sees
    them. **One step**: ``n_dis`` critic steps, each on the real batch and a fresh
    generated batch, then one generator step; the generated batches carry the real
    batch's labels (the data's label distribution). Real and generated batches pass
    through ``D`` apart (batch norm, if any, normalises each on its own).

    Serves a generator (``sample``, ``generate``, ``game([z, y])``, [0, 1] images) and
    a classifier: ``game.classifier``, ``D``'s class head (``kzoo.nets.class_head``: the
    critic's body and logits, the same weights), a [0, 1]-image logits model that
    ``kzoo.attacks``, ``kzoo.metrics.robust_accuracy`` and ART take as it is.

    Logs, with one meaning in training and validation (``val_``: inference mode, fresh
    ``z``): ``d_loss`` (what a critic step minimises; training: the last critic step's,
    before its update), ``g_loss`` (the generator step's, before its update),
    ``accuracy`` (``D``'s class accuracy on the real batch it learns from) and
    ``fake_accuracy`` (``D``'s class accuracy on the generator step's samples).

    Args:
        generator: keras.Model. ``[z, label]`` -> images in [-1, 1] (tanh), with a label
            ``Embedding`` (``kzoo.nets.dcgan_generator(..., num_classes=k)``, or
            ``resnet_generator(..., num_classes=k, conditional_bn=True)``).
        critic: keras.Model. [0, 1] images -> ``[score (batch,), logits (batch, k)]``
            (``kzoo.nets.acgan_critic``).
        loss: "acgan" or "split". Default "acgan".
        n_dis: int >= 1. Critic steps per generator step. Default 1.
        seed: int in [0, 2**32 - 1] or None. Default None.

    Examples:
        >>> ds = kzoo.data.load("digits")
        >>> game = kzoo.games.ACGAN(
        ...     kzoo.nets.dcgan_generator((8, 8, 1), 32, num_classes=10),
        ...     kzoo.nets.acgan_critic((8, 8, 1), 10, width=32))
        >>> game.compile()                    # Adam(2e-4, beta_1=0, beta_2=0.9) for both
        >>> game.fit(ds.x_train, ds.y_train, epochs=50, batch_size=64)   # [0, 1] images
        >>> images = game.sample(10, labels=range(10))
        >>> logits = game.classifier(ds.x_test)

    Reference:
        Odena, Olah and Shlens, "Conditional Image Synthesis with Auxiliary Classifier
        GANs", ICML 2017; Liu and Hsieh, "Rob-GAN", CVPR 2019 (Eq. 8 and 9).
    """

    players = ("generator", "critic")
    serves = ("classifier", "generator")
    log_names = ("d_loss", "g_loss", "accuracy", "fake_accuracy")
    paper = "Odena et al., Conditional Image Synthesis with Auxiliary Classifier GANs, ICML 2017"
    default_loss = "acgan"

    def __init__(self, generator, critic, *, loss=None, n_dis=1, seed=None, **kwargs):
        class_loss = validate.choice("loss", loss or self.default_loss, LOSSES)
        n_dis = validate.integer("n_dis", n_dis, low=1)
        super().__init__(generator, critic, loss="ns", n_critic=n_dis, seed=seed, **kwargs)
        self.class_loss = class_loss
        self.classifier = class_head(critic)

    def check_critic(self, generator, critic):
        """An AC-GAN critic of the generator's images, with one logit per class of its
        labels."""
        name = type(self).__name__
        if not self.conditional:
            raise ValueError(f"{name} needs a conditional generator (inputs [z, label]); "
                             f"this one takes {len(generator.inputs)} input(s). Build it with "
                             f"num_classes=..., or conditional = true in a recipe.")
        classes = check_acgan_critic(critic)
        taken = tuple(critic.inputs[0].shape[1:])
        if taken != self.sample_shape:
            raise ValueError(f"the generator makes samples of shape {self.sample_shape}; the "
                             f"critic takes {taken}.")
        if label_classes(generator) != classes:
            raise ValueError(f"the generator takes labels of {label_classes(generator)} "
                             f"classes and the critic's class head has {classes} logits; "
                             f"they must agree.")

    @property
    def n_dis(self):
        return self.n_critic

    # ----------------------------------------------------------------- pieces
    def critic_inputs(self, real, labels):
        """The real images a critic step learns from: the batch itself (RobGAN attacks
        it)."""
        return real

    def critic_objective(self, real, labels, fake, fake_labels, training=True):
        """``(loss, logs)``: a critic step's loss on ``real`` and the generated ``fake``
        (two passes), ``d_loss`` and ``accuracy`` (on ``real``)."""
        real_score, real_logits = self.critic(real, training=training)
        fake_score, fake_logits = self.critic(fake, training=training)
        loss = ops.mean(real_and_class(labels, (real_score, real_logits)))
        if self.class_loss == "split":
            loss = loss + ops.mean(ops.softplus(fake_score))
        else:
            loss = loss + ops.mean(
                (1.0 - CLASS_WEIGHT) * ops.softplus(fake_score)
                + CLASS_WEIGHT * per_example_cross_entropy(fake_labels, fake_logits))
        return loss, {"d_loss": loss, "accuracy": hits(labels, real_logits)}

    def generator_terms(self, fake, labels, training=True):
        """``(loss, logs)``: the generator's loss on its samples ``fake`` of ``labels``,
        ``g_loss`` and ``fake_accuracy``. ``D`` in the mode of its own steps, its moving
        statistics unchanged: in inference mode, a batch-norm critic trained on batches all
        real or all generated scores every sample as real (its moving statistics mix both),
        and the generator learns nothing from it."""
        outputs = call_frozen(self.critic, fake, training=training)
        loss = ops.mean(real_and_class(labels, outputs))
        return loss, {"g_loss": loss, "fake_accuracy": hits(labels, outputs[1])}

    # ------------------------------------------------------------------- step
    def train_step(self, data):
        real, labels = self.unpack(data)
        batch = ops.shape(real)[0]
        d_vars = self.critic.trainable_variables
        for _ in range(self.n_critic):
            real_in = self.critic_inputs(real, labels)
            fake = ops.stop_gradient(self.generate(self.latent(batch), labels))
            _, d_logs = backend.descend(
                self.optimizer["critic"], lambda real_in=real_in, fake=fake:
                self.critic_objective(real_in, labels, fake, labels), d_vars)
        g_vars = self.generator.trainable_variables
        z = self.latent(batch)
        _, g_logs = backend.descend(
            self.optimizer["generator"],
            lambda: self.generator_terms(self.generate(z, labels), labels), g_vars)
        return self.record({name: ops.stop_gradient(value)
                            for name, value in {**d_logs, **g_logs}.items()})

    def test_step(self, data):
        real, labels = self.unpack(data)
        fake = self.generate(self.latent(ops.shape(real)[0]), labels, training=False)
        _, logs = self.critic_objective(self.critic_inputs(real, labels), labels, fake,
                                        labels, training=False)
        logs.update(self.generator_terms(fake, labels, training=False)[1])
        return self.record(logs)

    def get_config(self):
        config = {**super().get_config(), "loss": self.class_loss, "n_dis": self.n_critic}
        for key in ("penalty", "n_critic"):
            config.pop(key)
        return config
