"""A classifier trained on its data and on the samples of a frozen conditional generator
(DAGAN-style augmentation: the generator is trained first, without the classifier)."""

import keras
from keras import ops

from kzoo import backend, validate
from kzoo.data.scaling import from_signed
from kzoo.games.bad_data_gan import LABEL_PRIORS, prior_labels
from kzoo.games.classifier import Classifier, hits
from kzoo.games.gan import label_classes


@keras.saving.register_keras_serializable(package="kzoo")
class GeneratorAugmented(Classifier):
    """ERM on the data plus samples of a trained conditional generator, which stays frozen.

    Each step draws as many labels as the real batch from the label prior, samples
    ``G(z, y)`` (inference mode, no gradient), maps them from the generator's tanh
    [-1, 1] to [0, 1] (``(g + 1) / 2``, the units of the data) and minimises
    ``real_weight * L(y, net(x)) + fake_weight * L(y_fake, net(G(z, y_fake)))`` with one
    pass of ``net`` over both batches, ``L`` the game's criterion (any of ``kzoo.losses``,
    with its class weights and deferred re-weighting, as ``Classifier``). This is the
    "DAGAN-style" baseline of Guo et al. (2019): a conditional GAN trained without the
    classifier, whose samples augment the data (Antoniou et al. 2017 condition on an
    image instead of a label). Any conditional generator of kzoo serves: the generator of
    a ``GAN`` preset trained on ``kzoo.data.signed`` data, or of a ``BadDataGAN`` with
    ``generator_role="independent"``; in a recipe, ``[net.generator] preset = "<preset
    or run directory>"``.

    Logs (``val_`` prefix in validation, where the net runs in inference mode):
    ``loss`` and ``accuracy`` on the real batch; ``fake_loss`` and ``fake_accuracy`` on
    the generated batch.

    Args:
        net: keras.Model. [0, 1] inputs -> logits.
        generator: keras.Model. ``[z, label]`` -> images in [-1, 1] (tanh) of the net's
            input shape, with a label ``Embedding`` over the net's classes. Frozen: its
            ``trainable`` is set to False (on the object given, which stays shared with
            the game it came from).
        real_weight: float >= 0. Default 1.
        fake_weight: float >= 0 (not both 0). Default 1.
        labels: "empirical" (the training share of each class, ``class_counts``, which
            ``from_dataset`` takes from the data; without them, the real batch's own
            labels) or "uniform". Default "empirical".
        seed: int in [0, 2**32 - 1] or None. Seed of ``z`` and the labels. Default None.
        **kwargs: ``Classifier``'s (``loss``, ``loss_args``, ``class_counts``,
            ``reweight_epoch``, ``reweight_beta``), mixup excepted.

    Examples:
        >>> ds = kzoo.data.long_tail(kzoo.data.load("digits"), imbalance=10)
        >>> source = kzoo.load("digits-lt10-gan-without-c")  # a GAN trained without C
        >>> game = kzoo.games.GeneratorAugmented.from_dataset(
        ...     ds, net=kzoo.nets.small_cnn((8, 8, 1), 10), generator=source.generator)
        >>> game.compile(keras.optimizers.SGD(0.05, momentum=0.9))
        >>> game.fit(ds.x_train, ds.y_train, epochs=60, batch_size=64)

    Reference:
        Guo et al., "Learning from Bad Data via Generation", NeurIPS 2019 (the baseline);
        Antoniou, Storkey and Edwards, "Data Augmentation Generative Adversarial
        Networks", 2017.
    """

    players = ("net", "generator")
    log_names = ("loss", "accuracy", "fake_loss", "fake_accuracy")
    paper = ("Guo et al., NeurIPS 2019 (DAGAN-style baseline); Antoniou et al. 2017 "
             "(DAGAN)")

    def __init__(self, net, generator, *, real_weight=1.0, fake_weight=1.0,
                 labels="empirical", seed=None, **kwargs):
        super().__init__(net, seed=seed, **kwargs)
        self.real_weight = validate.number("real_weight", real_weight, low=0)
        self.fake_weight = validate.number("fake_weight", fake_weight, low=0)
        if self.real_weight == 0 and self.fake_weight == 0:
            raise ValueError("real_weight and fake_weight are both 0: the classifier would "
                             "not learn; set at least one > 0.")
        self.label_prior = validate.choice("labels", labels, LABEL_PRIORS)
        self._check_generator(generator)
        generator.trainable = False
        self.generator = generator
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def _check_generator(self, generator):
        if not isinstance(generator, keras.Model) or len(getattr(generator, "inputs", None)
                                                         or ()) != 2:
            raise ValueError(f"generator must be a conditional functional keras.Model taking "
                             f"[z, label] (a kzoo generator built with num_classes=..., or "
                             f"conditional = true in a recipe); got {generator!r}.")
        classes = label_classes(generator)
        if classes != self.num_classes:
            raise ValueError(f"the generator takes labels of {classes} classes; the net "
                             f"classifies {self.num_classes}.")
        made = tuple(generator.outputs[0].shape[1:])
        taken = tuple(self.net.input_shape[1:])
        if len(made) != 3:
            raise ValueError(f"GeneratorAugmented takes image generators (tanh, [-1, 1], "
                             f"shape (h, w, c)); this one makes samples of shape {made}.")
        if made != taken:
            raise ValueError(f"the generator makes samples of shape {made}; the net takes "
                             f"{taken}.")

    def compile(self, optimizer="adam", **kwargs):
        """As ``Classifier.compile``: one optimizer, the net's (the generator is frozen);
        a dict ``{player: optimizer}`` (what a recipe with ``[optimizer.net]`` makes) gives
        the ``"net"`` entry."""
        if isinstance(optimizer, dict) and "class_name" not in optimizer:
            unknown = set(optimizer) - set(self.players)
            if unknown or "net" not in optimizer:
                raise ValueError(f"GeneratorAugmented trains one player, net (its generator "
                                 f"is frozen): give one optimizer or {{'net': ...}}; got "
                                 f"{sorted(optimizer)}.")
            optimizer = optimizer["net"]
        super().compile(optimizer, **kwargs)

    def fakes(self, labels):
        """``(samples in [0, 1], their labels)``: a generated batch as large as ``labels``
        (the real batch's), labels drawn from the prior, no gradient."""
        fake_labels = prior_labels(labels, self.label_prior, self.num_classes,
                                   self.class_counts, self.seed_generator)
        z = backend.replica_rows(lambda n: keras.random.normal(
            (n, self.latent_dim), seed=self.seed_generator), ops.shape(labels)[0])
        fake = self.generator([z, fake_labels], training=False)
        return ops.stop_gradient(from_signed(fake)), fake_labels

    def batches(self, x, y):
        """``(x, y, fake, fake_y)``: what a step learns from, the real batch and a generated
        one as large."""
        return (x, y, *self.fakes(y))

    def objective(self, x, y, training=True):
        """``(loss, logs)``: the weighted loss on the real batch and a generated one."""
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        x, y, fake, fake_y = self.batches(x, y)
        n = ops.shape(x)[0]
        logits = self.net(ops.concatenate([ops.cast(x, fake.dtype), fake], axis=0),
                          training=training)
        real_logits, fake_logits = logits[:n], logits[n:]
        loss, fake_loss = self.criterion(y, real_logits), self.criterion(fake_y, fake_logits)
        return self.real_weight * loss + self.fake_weight * fake_loss, {
            "loss": loss, "accuracy": hits(y, real_logits), "fake_loss": fake_loss,
            "fake_accuracy": hits(fake_y, fake_logits)}

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.net.trainable_variables
        _, logs = backend.descend(self.optimizer, lambda: self.objective(x, y), variables)
        return self.record({k: ops.stop_gradient(v) for k, v in logs.items()})

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.record(self.objective(x, y, training=False)[1])

    def get_config(self):
        config = {**super().get_config(), "real_weight": self.real_weight,
                  "fake_weight": self.fake_weight, "labels": self.label_prior}
        config.pop("mixup_alpha")
        return config
