"""Empirical risk minimisation with the long-tail losses, deferred re-weighting, and mixup."""

import keras
import numpy as np
from keras import ops

from kzoo import backend, losses, validate
from kzoo.games.game import Game, check_labels
from kzoo.games.stages import Stage


@keras.saving.register_keras_serializable(package="kzoo")
class Classifier(Game):
    """A classifier trained by empirical risk minimisation with one of kzoo's losses.

    The served model returns logits. The loss is ``kzoo.losses.get(loss, class_counts,
    **loss_args)``, called with per-class weights kept in the non-trainable variable
    ``class_weights``: all ones, except with ``loss="class_balanced"`` (effective-number
    weights from the start). With ``reweight_epoch`` set, training plays two stages
    (deferred re-weighting, DRW): "plain" until epoch ``reweight_epoch`` (0-based), then
    "reweighted", whose entry sets ``class_weights`` to the class-balanced weights of
    ``class_counts`` (beta ``reweight_beta``); the logs carry the stage index.

    With ``mixup_alpha > 0`` every training step plays mixup (Zhang et al., 2018): it
    draws one ``lam ~ Beta(mixup_alpha, mixup_alpha)`` for the batch and a random
    permutation ``perm`` of its rows (``mix``), and trains on
    ``x_mix = lam * x + (1 - lam) * x[perm]`` with the loss
    ``lam * L(y, net(x_mix)) + (1 - lam) * L(y[perm], net(x_mix))``, ``L`` being the
    game's own criterion (so mixup composes with every loss, its class weights and the
    DRW stage). The training ``accuracy`` is then the reference implementation's mixed
    accuracy: ``lam * [argmax == y] + (1 - lam) * [argmax == y[perm]]`` per example, on
    the mixed inputs (not the accuracy on clean inputs). Validation (``evaluate``,
    ``validation_data``) is unchanged: clean inputs, plain loss and accuracy.

    Args:
        net: keras.Model. Maps inputs to logits (e.g. ``kzoo.nets.small_cnn``; a torch
            module or a JAX function in a Keras layer: the docs' "Your network").
        loss: str. One of ``kzoo.losses.LOSSES``: "ce", "class_balanced", "focal", "ldam",
            "logit_adjusted". Default "ce".
        loss_args: dict or None. The loss's own arguments ("class_balanced": ``beta``;
            "focal": ``gamma``; "ldam": ``max_margin``, ``scale``; "logit_adjusted":
            ``tau``); the others take their defaults. Default None.
        class_counts: list of int >= 1 or None. Training count per class; needed by
            "class_balanced", "ldam", "logit_adjusted" and by ``reweight_epoch``.
            Default None.
        reweight_epoch: int >= 0 or None. First epoch with class-balanced weights (DRW).
            Default None (no re-weighting stage).
        reweight_beta: float in [0, 1). Effective-number beta of the DRW weights.
            Default 0.9999.
        mixup_alpha: float >= 0. Concentration of mixup's ``Beta(alpha, alpha)``; 0
            turns mixup off (the plain step, unchanged). The paper reports 0.1 to 0.4
            helping on ImageNet; its CIFAR-10 reference code defaults to 1. Only
            ``Classifier``'s own training step plays it: a subclass with its own
            ``train_step`` refuses ``mixup_alpha > 0``. On TensorFlow a mixup game
            is not XLA-compiled (``keras.random.beta`` has no XLA kernel there). Default
            0.0.
        seed: int in [0, 2**32 - 1] or None. Seed of mixup's draws (used only when
            ``mixup_alpha > 0``). Default None.
        input_range: (low, high) or None. The range of the net's inputs, checked on the
            NumPy inputs of ``fit`` and ``evaluate``: kzoo's images are in [0, 1]; None
            takes any finite values (e.g. standardised features). Default (0.0, 1.0).

    Every argument is checked here, whatever the loss: a bad one is refused before
    any training step.

    Examples:
        >>> ds = kzoo.data.long_tail(kzoo.data.load("digits"), imbalance=10)
        >>> net = kzoo.nets.small_cnn(ds.input_shape, ds.num_classes, normed_head=True)
        >>> model = kzoo.games.Classifier(net, loss="ldam", loss_args={"scale": 30.0},
        ...                               class_counts=ds.class_counts(), reweight_epoch=20)
        >>> model.compile(keras.optimizers.SGD(0.05, momentum=0.9))
        >>> history = model.fit(ds.x_train, ds.y_train, epochs=30)
        >>> history.history["stage"][19:21]
        [0.0, 1.0]

    Mixup, with cross-entropy:
        >>> model = kzoo.games.Classifier(net, loss="ce", mixup_alpha=0.2, seed=0)
        >>> model.compile(keras.optimizers.SGD(0.05, momentum=0.9))
        >>> history = model.fit(ds.x_train, ds.y_train, epochs=30,
        ...                     validation_data=(ds.x_test, ds.y_test))

    References:
        Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware
        Margin Loss", NeurIPS 2019 (LDAM, DRW).
        Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018 (mixup).
    """

    players = ("net",)
    serves = ("classifier",)
    range_fix = "{name}(..., input_range=None) for a net that takes other inputs"
    log_names = ("loss", "accuracy")
    paper = "Cao et al., NeurIPS 2019 (LDAM, DRW); baselines of AEGL and Meta-IADA"

    def __init__(self, net, *, loss="ce", loss_args=None, class_counts=None,
                 reweight_epoch=None, reweight_beta=0.9999, mixup_alpha=0.0, seed=None,
                 input_range=(0.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        self.input_range = validate.value_range("input_range", input_range)
        self.net = validate.keras_model("net", net, " mapping inputs to logits")
        self.num_classes = int(net.output_shape[-1])
        if class_counts is not None:
            class_counts = validate.counts("class_counts", class_counts, self.num_classes)
        self.class_counts = class_counts
        if not isinstance(loss_args, (dict, type(None))):
            raise ValueError(f"loss_args must be a dict of the loss's arguments; got "
                             f"{loss_args!r}.")
        self.loss_object = losses.get(loss, class_counts, **(loss_args or {}))
        if reweight_epoch is not None:
            reweight_epoch = validate.integer("reweight_epoch", reweight_epoch, low=0)
            if class_counts is None:
                raise ValueError("reweight_epoch needs class_counts (training count per "
                                 "class).")
        self.reweight_epoch = reweight_epoch
        self.reweight_beta = validate.number("reweight_beta", reweight_beta, low=0, high=1,
                                             high_open=True)
        self.mixup_alpha = validate.number("mixup_alpha", mixup_alpha, low=0)
        if self.mixup_alpha > 0 and type(self).train_step is not Classifier.train_step:
            raise ValueError(f"mixup_alpha={mixup_alpha!r}: mixup is played by Classifier's "
                             f"own training step; {type(self).__name__} has its own and "
                             f"would ignore it. Use mixup_alpha=0.")
        self.seed = validate.seed("seed", seed, optional=True)
        if self.mixup_alpha > 0:  # no generator (no extra state) when mixup is off
            self.seed_generator = keras.random.SeedGenerator(self.seed)
            if keras.config.backend() == "tensorflow":
                # keras.random.beta is tf.random.stateless_gamma there, which XLA cannot
                # compile: jit_compile="auto" resolves to False, True falls back to it.
                self.supports_jit = False
        self.class_weights = self.add_weight(
            shape=(self.num_classes,), initializer=keras.initializers.Constant(
                self.initial_weights()), trainable=False, name="class_weights",
        )
        self.built = True

    @classmethod
    def from_dataset(cls, ds, **kwargs):
        """Takes ``class_counts`` from ``ds`` unless given."""
        kwargs.setdefault("class_counts", ds.class_counts())
        return super().from_dataset(ds, **kwargs)

    @property
    def classifier(self):
        """The served classifier: ``net``, [0, 1] inputs to logits."""
        return self.net

    def initial_weights(self):
        """The class weights of the first stage: the loss's own, or all ones."""
        if self.loss_object.class_weight is None:
            return np.ones(self.num_classes, "float32")
        return self.loss_object.class_weight

    def balanced_weights(self):
        """The DRW weights: class-balanced (effective number, beta ``reweight_beta``)
        weights from ``class_counts``."""
        if self.class_counts is None:
            raise ValueError("class-balanced weights need class_counts.")
        return losses.class_balanced_weights(self.class_counts, self.reweight_beta)

    def stages(self):
        """The stages: "plain", then "reweighted" from epoch ``reweight_epoch`` (when set)."""
        if self.reweight_epoch is None:
            return super().stages()
        return [Stage("plain", until_epoch=self.reweight_epoch), Stage("reweighted")]

    def enter_stage(self, name):
        """Sets ``class_weights`` to the DRW weights in "reweighted", to the first stage's
        in "plain" (a new fit from epoch 0)."""
        weights = self.balanced_weights() if name == "reweighted" else self.initial_weights()
        self.class_weights.assign(weights)

    def criterion(self, y, logits, sample_weight=None):
        """The training loss of a batch, with the current class weights.

        ``sample_weight`` (batch,) restricts or reweights the average, e.g. to a
        masked subset of the batch; an all-zero mask gives 0.
        """
        return self.loss_object(y, logits, class_weight=self.class_weights,
                            sample_weight=sample_weight)

    def mix(self, x, y):
        """Mixup of a batch: ``(x_mix, y, y_perm, lam)``, with ``lam`` (a scalar) drawn
        from ``Beta(mixup_alpha, mixup_alpha)``, ``perm`` a random permutation of the
        rows, ``x_mix = lam * x + (1 - lam) * x[perm]`` and ``y_perm = y[perm]``. One
        ``lam`` per batch, as the paper's reference implementation. Needs
        ``mixup_alpha > 0``."""
        if self.mixup_alpha == 0:
            raise ValueError("mix needs mixup_alpha > 0; this game has mixup_alpha=0.")
        x = ops.convert_to_tensor(x)
        lam = keras.random.beta((1,), self.mixup_alpha, self.mixup_alpha,
                                seed=self.seed_generator)[0]
        perm = keras.random.shuffle(ops.arange(ops.shape(x)[0]), seed=self.seed_generator)
        x_mix = lam * x + (1.0 - lam) * ops.take(x, perm, axis=0)
        return x_mix, y, ops.take(y, perm, axis=0), lam

    def call(self, x, training=False):
        return self.net(x, training=training)

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        y_perm = lam = None
        if self.mixup_alpha > 0:
            x, y, y_perm, lam = self.mix(x, y)
        variables = self.net.trainable_variables

        def loss_fn():
            logits = self.net(x, training=True)
            return mixed(self.criterion, y, y_perm, lam, logits), logits

        loss, logits = backend.descend(self.optimizer, loss_fn, variables)
        return self.record({"loss": loss, "accuracy": mixed(hits, y, y_perm, lam, logits)})

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        logits = self.net(x, training=False)
        return self.record({"loss": self.criterion(y, logits), "accuracy": hits(y, logits)})

    def check_data(self, x, y=None):
        super().check_data(x, y)
        if y is not None and isinstance(y, np.ndarray):
            check_labels(y, self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "loss": self.loss_object.name,
            "loss_args": self.loss_object.get_config(),
            "class_counts": self.class_counts,
            "reweight_epoch": self.reweight_epoch,
            "reweight_beta": self.reweight_beta,
            "mixup_alpha": self.mixup_alpha,
            "seed": self.seed,
            "input_range": None if self.input_range is None else list(self.input_range),
        }


def mixed(fn, y, y_perm, lam, logits):
    """``fn(y, logits)``; under mixup (``lam`` not None),
    ``lam * fn(y, logits) + (1 - lam) * fn(y_perm, logits)``."""
    if lam is None:
        return fn(y, logits)
    return lam * fn(y, logits) + (1.0 - lam) * fn(y_perm, logits)


def hits(y, logits):
    """1.0 where the largest logit is the label, else 0.0 (per example): ``record`` averages
    it into the accuracy."""
    y = ops.reshape(ops.cast(y, "int32"), (-1,))
    return ops.cast(ops.argmax(logits, axis=-1) == y, "float32")

