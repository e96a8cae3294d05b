"""BadDataGAN: a classifier trained against the worst distribution a conditional GAN finds
near the training data (Guo et al., NeurIPS 2019)."""

import keras
import numpy as np
from keras import ops

from kzoo import backend, losses, validate
from kzoo.games.classifier import hits
from kzoo.games.game import Game
from kzoo.games.gan import VALIDATION_PENALTY_SEED, _UnitGAN

FORMS = {"wasserstein": "wgan_gp", "js": "ns"}  # form -> kzoo.losses.gan base loss
LABEL_PRIORS = ("empirical", "uniform")
ROLES = {"adversarial": -1.0, "cooperative": 1.0, "independent": 0.0}  # sign of G's C term
N_CRITIC = {"wasserstein": 5, "js": 1}  # default critic steps per generator step


def prior_labels(labels, prior, num_classes, class_counts, seed_generator):
    """A batch of labels as large as ``labels`` (the real batch's) drawn from a label
    prior: ``prior="uniform"``, or ``"empirical"``, the share of each class in
    ``class_counts`` (the real batch's own labels when ``class_counts`` is None)."""
    batch = ops.shape(labels)[0]
    if prior == "uniform":
        return backend.replica_rows(lambda n: keras.random.randint(
            (n,), 0, num_classes, dtype="int32", seed=seed_generator), batch)
    if class_counts is None:
        return labels
    counts = np.asarray(class_counts, "float32")
    log_prior = ops.convert_to_tensor(np.log(counts / counts.sum())[None, :])
    return backend.replica_rows(lambda n: ops.reshape(keras.random.categorical(
        log_prior, n, dtype="int32", seed=seed_generator), (-1,)), batch)


@keras.saving.register_keras_serializable(package="kzoo")
class BadDataGAN(_UnitGAN):
    """Three players: a classifier ``C``, a conditional generator ``G(z, y)`` and a
    conditional critic ``D(x, y)``. ``G`` looks for the worst distribution ``Q`` (law of
    ``(G(z, y), y)``) within a distance of the training data, and ``C`` learns on the data
    and on ``Q``.

    - ``form="wasserstein"`` (the paper's Eq. 10): ``D`` minimises ``lam * (mean D(G(z, y),
      y) - mean D(x, y) + 10 GP)`` (WGAN-GP, penalty weight 10 at interpolates); ``G``
      minimises ``-lam * mean D(G(z, y), y) - mean CE(C(G(z, y)), y)``: samples that look
      real to ``D`` and that ``C`` gets wrong.
    - ``form="js"`` (Eq. 14): ``D`` a conditional log-loss discriminator, minimising ``lam *
      (mean softplus(-D(x, y)) + mean softplus(D(G(z, y), y)))``; ``G`` minimises ``lam *
      mean softplus(-D(G(z, y), y)) - mean CE(C(G(z, y)), y)``.
    - ``C`` minimises ``real_weight * CE(C(x), y) + fake_weight * CE(C(G(z, y)), y)``.

    ``lam = 1 / eps``: a small ``eps`` keeps ``Q`` close to the data, a large one lets
    ``G`` wander further to hurt ``C``. ``generator_role="cooperative"`` flips the sign of
    ``G``'s classifier term (``G`` pleases ``C``: the paper's "cooperative generator"
    baseline).

    **Units.** The game trains on images in [0, 1] (kzoo's classifier units; do not
    use ``kzoo.data.signed``). ``G`` ends in tanh: the game maps its samples to [0, 1]
    (``(g + 1) / 2``) before ``C`` and ``D`` see them, so ``C`` and ``D`` both work in
    [0, 1] (the gradient penalty's Lipschitz constant is per [0, 1] pixel unit), and
    ``generate``, ``sample`` and ``game(z)`` return [0, 1] samples, the data's units.

    **One step** (``classifier_first=False``): ``n_critic`` critic steps, each on fresh
    ``z`` against the same real batch (as ``GAN``); one generator step; one classifier
    step on the real batch and a fresh batch of ``Q`` from the updated ``G``.
    ``classifier_first=True`` plays the classifier step first. The critic's fakes carry
    the real batch's labels (a conditional critic compares ``P(x | y)`` with ``Q(x | y)``,
    and the penalty's interpolates need one label per pair); the generator's and the
    classifier's fakes carry labels drawn from the label prior: ``labels="empirical"``,
    the training share of each class (``class_counts``, which ``from_dataset`` takes from
    the data; without them, the real batch's own labels), or ``"uniform"``. In the
    generator step ``C`` and ``D`` run in inference mode (``G`` attacks the classifier
    as served; batch-norm statistics stay); ``C``'s step runs it in training mode on the
    real batch and the fakes together (one batch, one batch-norm update).

    **What the paper does not give, and the reading taken here**: its Algorithm 1 (the
    order of the updates) is not in the text: the order above, with the alternative
    behind ``classifier_first``; batch size, epochs, ``n_critic`` (5 here for the
    Wasserstein form, 1 for JS), the penalty weight (10, as WGAN-GP) and whether ``lam``
    scales it (here it scales ``D``'s whole loss, so ``D``'s optimum does not depend on
    ``lam``; with Adam only ``G``'s trade-off does), and ``G``'s label prior (empirical
    by default). The paper's Adam at 0.02 for ``C`` is left to recipes.

    Logs, each with one meaning in training and validation (``val_`` prefix; validation
    runs every player in inference mode on fresh ``z``):

    - ``d_loss``: ``lam`` times the critic's base loss (Wasserstein: ``mean D(fake) -
      mean D(real)``; JS: the log-loss), without penalty (training: the last critic
      step's, before its update);
    - ``d_penalty``: ``lam`` times the weighted gradient penalty (Wasserstein only); a
      critic step minimises ``d_loss + d_penalty``;
    - ``critic_gap``: ``mean D(x, y) - mean D(G(z, y), y)`` (raw scores: the Wasserstein
      estimate in the Wasserstein form);
    - ``g_loss``: what the generator step minimises, at its ``z`` (before its update);
    - ``c_loss``: what the classifier step minimises (before its update);
    - ``accuracy``, ``fake_accuracy``: ``C``'s accuracy on the real batch and on the
      generated batch of its step.

    Args:
        generator: keras.Model. ``[z, label]`` -> images (tanh, [-1, 1]); conditional
            (``kzoo.nets.dcgan_generator(..., num_classes=k)``).
        critic: keras.Model. ``[image, label]`` -> one score per image; conditional.
        classifier: keras.Model. [0, 1] images (the generator's shape) -> ``k`` logits.
        eps: float > 0. Radius of the distribution ball; ``lam = 1 / eps``. Default 0.3
            (the paper's best on CIFAR-10-LT).
        form: "wasserstein" or "js". Default "wasserstein".
        n_critic: int >= 1 or None. Critic steps per step; None: 5 ("wasserstein"),
            1 ("js"). Default None.
        real_weight: float >= 0. Weight of ``C``'s loss on the data. Default 1.
        fake_weight: float >= 0. Weight of ``C``'s loss on ``Q`` (not both 0). Default 1.
            ``real_weight=0`` trains ``C`` on ``Q`` alone.
        labels: "empirical" or "uniform". Label prior of ``Q``. Default "empirical".
        class_counts: list of int >= 1 or None. Training count per class, the empirical
            prior (``from_dataset`` sets it). Default None (the batch's labels).
        generator_role: "adversarial", "cooperative" or "independent". Default
            "adversarial".
        classifier_first: bool. Play the classifier step first. Default False.
        seed: int in [0, 2**32 - 1] or None. Default None.

    Examples:
        >>> ds = kzoo.data.long_tail(kzoo.data.load("digits"), imbalance=10)
        >>> k = ds.num_classes
        >>> game = kzoo.games.BadDataGAN.from_dataset(
        ...     ds, generator=kzoo.nets.dcgan_generator((8, 8, 1), 64, num_classes=k),
        ...     critic=kzoo.nets.dcgan_critic((8, 8, 1), num_classes=k),
        ...     classifier=kzoo.nets.small_cnn((8, 8, 1), k), eps=0.3)
        >>> game.compile({"classifier": keras.optimizers.SGD(0.05, momentum=0.9)})
        >>> game.fit(ds.x_train, ds.y_train, epochs=60, batch_size=64)  # [0, 1] images
        >>> logits = game.classifier(ds.x_test)
        >>> images = game.sample(10, labels=range(10))       # in [0, 1]

    Reference:
        Guo, Xu, Shi, Xu and Tao, "Learning from Bad Data via Generation", NeurIPS 2019.
    """

    players = ("generator", "critic", "classifier")
    serves = ("classifier", "generator")
    log_names = ("d_loss", "d_penalty", "critic_gap", "g_loss", "c_loss", "accuracy",
                 "fake_accuracy")
    paper = "Guo et al., Learning from Bad Data via Generation, NeurIPS 2019"

    def __init__(self, generator, critic, classifier, *, eps=0.3, form="wasserstein",
                 n_critic=None, real_weight=1.0, fake_weight=1.0, labels="empirical",
                 class_counts=None, generator_role="adversarial", classifier_first=False,
                 seed=None, **kwargs):
        for key in ("loss", "penalty"):
            if key in kwargs:
                raise ValueError(f"BadDataGAN takes no {key}: form sets its losses "
                                 f"('wasserstein': WGAN-GP, penalty weight 10; 'js': the "
                                 f"log-loss); got {key}={kwargs[key]!r}.")
        eps = validate.number("eps", eps, low=0, low_open=True)
        form = validate.choice("form", form, tuple(FORMS))
        n_critic = N_CRITIC[form] if n_critic is None else validate.integer(
            "n_critic", n_critic, low=1)
        real_weight = validate.number("real_weight", real_weight, low=0)
        fake_weight = validate.number("fake_weight", fake_weight, low=0)
        if real_weight == 0 and fake_weight == 0:
            raise ValueError("real_weight and fake_weight are both 0: the classifier would "
                             "not learn; set at least one > 0.")
        labels = validate.choice("labels", labels, LABEL_PRIORS)
        generator_role = validate.choice("generator_role", generator_role, tuple(ROLES))
        classifier_first = validate.boolean("classifier_first", classifier_first)
        for player, model in (("generator", generator), ("critic", critic),
                              ("classifier", classifier)):
            validate.keras_model(player, model)
        for player, model, takes in (("generator", generator, "[z, label]"),
                                     ("critic", critic, "[image, label]")):
            if len(model.inputs) != 2:
                raise ValueError(
                    f"BadDataGAN needs a conditional {player} (inputs {takes}); this one "
                    f"takes {len(model.inputs)} input(s). Build it with num_classes=..., "
                    f"or conditional = true in a recipe.")
        super().__init__(generator, critic, loss=FORMS[form], n_critic=n_critic, seed=seed,
                         **kwargs)
        self._check_classifier(classifier)
        if class_counts is not None:
            class_counts = validate.counts("class_counts", class_counts, self.num_classes)
        self.classifier = classifier
        self.eps, self.lam, self.form = eps, 1.0 / eps, form
        self.real_weight, self.fake_weight = real_weight, fake_weight
        self.label_prior, self.class_counts = labels, class_counts
        self.generator_role, self.classifier_first = generator_role, classifier_first

    def _check_classifier(self, classifier):
        taken = tuple(classifier.inputs[0].shape[1:])
        if len(classifier.inputs) != 1 or len(taken) != len(self.sample_shape) or any(
                t is not None and t != s for t, s in zip(taken, self.sample_shape)):
            raise ValueError(f"the classifier takes inputs of shape {taken}; the generator "
                             f"makes samples of shape {self.sample_shape}, which it must "
                             f"classify.")
        out = classifier.outputs
        if len(out) != 1 or len(out[0].shape) != 2 or out[0].shape[-1] != self.num_classes:
            shape = tuple(tuple(o.shape) for o in out)
            raise ValueError(f"the classifier must output logits of shape (batch, "
                             f"{self.num_classes}), one per class of the generator's labels; "
                             f"it outputs {shape[0] if len(shape) == 1 else shape}.")
        critic_classes = [layer.input_dim for layer in self.critic.layers
                          if isinstance(layer, keras.layers.Embedding)]
        if critic_classes and critic_classes[0] != self.num_classes:
            raise ValueError(f"the generator takes {self.num_classes} classes and the critic "
                             f"{critic_classes[0]}; they must agree.")

    @classmethod
    def from_dataset(cls, ds, **kwargs):
        """Takes ``class_counts`` (the empirical label prior) from ``ds`` unless given;
        refuses [-1, 1] data (``kzoo.data.signed``): the game trains on [0, 1]."""
        kwargs.setdefault("class_counts", ds.class_counts())
        return super().from_dataset(ds, **kwargs)

    def compile(self, optimizer="auto", **kwargs):
        """``"auto"``: Adam(2e-4, beta_1=0, beta_2=0.9) for the generator and the critic
        (as ``GAN``), Adam(1e-3) for the classifier. A dict ``{player: optimizer}`` sets
        players apart, the players it leaves out taking the "auto" ones; one optimizer is
        copied to every player."""
        defaults = {"generator": keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.9),
                    "critic": keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.9),
                    "classifier": keras.optimizers.Adam(1e-3)}
        if isinstance(optimizer, str):
            optimizer = defaults if optimizer == "auto" else keras.optimizers.get(optimizer)
        elif isinstance(optimizer, dict) and "class_name" not in optimizer:
            optimizer = {**{p: o for p, o in defaults.items() if p not in optimizer},
                         **optimizer}
        super().compile(optimizer, **kwargs)

    # ----------------------------------------------------------------- pieces
    def fake_labels(self, labels):
        """Labels of a batch of ``Q`` as large as the real batch ``labels``: drawn from the
        label prior (the real batch's own labels under "empirical" without
        ``class_counts``)."""
        return prior_labels(labels, self.label_prior, self.num_classes, self.class_counts,
                            self.seed_generator)

    def critic_objective(self, real, fake, labels, training=True):
        """``(loss, logs)``: what a critic step minimises, ``lam`` times the base loss and
        its penalty, on ``real`` against ``fake`` (both labelled ``labels``), and the logs
        ``d_loss``, ``d_penalty`` (Wasserstein) and ``critic_gap``. ``training=False``:
        inference mode, the penalty's interpolates from a fixed seed."""
        real_out = self.score(real, labels, training)
        fake_out = self.score(fake, labels, training)
        seed = self.seed_generator if training else VALIDATION_PENALTY_SEED
        loss, (base, penalty) = self.base_loss.critic_loss(
            lambda x, training=True: self.score(x, labels, training), real, fake, real_out,
            fake_out, seed, training=training)
        logs = {"d_loss": self.lam * base,
                "critic_gap": ops.mean(real_out) - ops.mean(fake_out)}
        if penalty is not None:
            logs["d_penalty"] = self.lam * penalty
        return self.lam * loss, logs

    def generator_objective(self, z, labels):
        """``(loss, logs)``: the generator step's loss at ``z``, its samples labelled from
        the prior (``fake_labels(labels)``, ``labels`` the real batch's)."""
        fake_labels = self.fake_labels(labels)
        return self.generator_terms(self.generate(z, fake_labels), fake_labels)

    def generator_terms(self, fake, labels):
        """``(loss, {"g_loss": loss})``: ``lam`` times the base generator loss of ``D``
        plus (cooperative) or minus (adversarial) ``C``'s cross-entropy on ``(fake,
        labels)``, or without it (independent); ``D`` and ``C`` in inference mode."""
        loss = self.lam * self.generator_loss(fake, labels)
        sign = ROLES[self.generator_role]
        if sign:
            loss = loss + sign * losses.cross_entropy(
                labels, self.classifier(fake, training=False))
        return loss, {"g_loss": loss}

    def classifier_objective(self, real, labels, fake, fake_labels, training=True):
        """``(loss, logs)``: ``C``'s loss ``real_weight * CE(C(real), labels) + fake_weight *
        CE(C(fake), fake_labels)`` (one pass over both batches), and ``c_loss``,
        ``accuracy`` (on ``real``) and ``fake_accuracy`` (on ``fake``)."""
        n = ops.shape(real)[0]
        both = ops.concatenate([ops.cast(real, fake.dtype), fake], axis=0)
        logits = self.classifier(both, training=training)
        real_logits, fake_logits = logits[:n], logits[n:]
        loss = (self.real_weight * losses.cross_entropy(labels, real_logits)
                + self.fake_weight * losses.cross_entropy(fake_labels, fake_logits))
        return loss, {"c_loss": loss, "accuracy": hits(labels, real_logits),
                      "fake_accuracy": hits(fake_labels, fake_logits)}

    # ------------------------------------------------------------------- step
    def train_step(self, data):
        if self.classifier_first:
            c_logs = self.classifier_step(data)
            return {**c_logs, **super().train_step(data)}
        logs = super().train_step(data)  # GAN's: n_critic critic steps, one generator step
        return {**logs, **self.classifier_step(data)}

    def classifier_step(self, data):
        """One step of ``C`` on the real batch of ``data`` and a fresh batch of ``Q``;
        returns its logs (running means)."""
        real, labels = self.unpack(data)
        fake_labels = self.fake_labels(labels)
        fake = ops.stop_gradient(self.generate(self.latent(ops.shape(real)[0]), fake_labels))
        variables = self.classifier.trainable_variables
        _, logs = backend.descend(
            self.optimizer["classifier"],
            lambda: self.classifier_objective(real, labels, fake, fake_labels), variables)
        return self.record({k: ops.stop_gradient(v) for k, v in logs.items()})

    def test_step(self, data):
        real, labels = self.unpack(data)
        batch = ops.shape(real)[0]
        fake = self.generate(self.latent(batch), labels, training=False)
        _, logs = self.critic_objective(real, fake, labels, training=False)
        fake_labels = self.fake_labels(labels)
        fake = self.generate(self.latent(batch), fake_labels, training=False)
        logs.update(self.generator_terms(fake, fake_labels)[1])
        logs.update(self.classifier_objective(real, labels, fake, fake_labels,
                                              training=False)[1])
        return self.record(logs)

    def get_config(self):
        return {**Game.get_config(self), "eps": self.eps, "form": self.form,
                "n_critic": self.n_critic, "real_weight": self.real_weight,
                "fake_weight": self.fake_weight, "labels": self.label_prior,
                "class_counts": self.class_counts, "generator_role": self.generator_role,
                "classifier_first": self.classifier_first, "seed": self.seed}
