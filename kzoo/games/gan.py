"""A generative adversarial network: one generator, one critic, one base loss."""

import keras
import numpy as np
from keras import ops

from kzoo import backend, validate
from kzoo.data.scaling import from_signed
from kzoo.games.game import Game, call_frozen, check_inputs, check_labels
from kzoo.games.optimizer_group import OptimizerGroup
from kzoo.losses import gan as gan_losses
from kzoo.ops import numpy_if_host, unit_rows

# The seed of the penalty's interpolates in validation: a fixed one, so that a validation
# pass leaves the game's random stream (and with it the training that follows) as it is.
VALIDATION_PENALTY_SEED = 0


@keras.saving.register_keras_serializable(package="kzoo")
class GAN(Game):
    """A GAN whose ``train_step`` makes ``n_critic`` critic steps, then one generator step.

    Each critic step draws fresh ``z`` against the same real batch. The base loss
    is one of ``kzoo.losses.gan.LOSSES``: "ns" (DCGAN's non-saturating), "hinge",
    "wgan_gp" (Wasserstein, gradient penalty 10) and "bwgan" (Banach WGAN:
    penalty on a Sobolev dual norm, ``penalty={"s": ..., "p": ...}``). The served
    model samples: ``model(z)`` (or ``model([z, labels])`` when conditional) is
    ``generator(z, training=False)`` in the data's range; ``model.sample(n)`` draws ``z``
    for you.

    **Units**: kzoo's image generators end in tanh. A GAN of images (``signed``, the
    default for image samples) trains on images in [-1, 1], the generator's units, which
    its critic sees (``kzoo.data.signed(ds)``, or ``2 * x - 1`` for kzoo's [0, 1] images);
    ``sample``, ``generate`` and ``model(z)`` return images in [0, 1], the data's range
    (``in_data_range``: ``kzoo.data.from_signed``, ``(g + 1) / 2``). With ``signed=False``
    (flat samples, e.g. 2-D mixtures, or a generator trained on the data's own units) they
    return the generator's samples as they are.

    Logs, each with one meaning in training and validation (``val_`` prefix; validation
    runs both players in inference mode on fresh ``z``):

    - ``d_loss``: the base critic loss on (real batch, ``G(z)``), without penalty
      (training: the last critic step's, before its update);
    - ``g_loss``: the base generator loss at ``z`` (training: before the generator's
      update);
    - ``d_penalty``: the gradient penalty at random interpolates of the same pair, its
      weight included ("wgan_gp" and "bwgan" only; validation draws the interpolates
      from a fixed seed). A critic step minimises ``d_loss / gamma + d_penalty``
      (``gamma`` = 1 unless set), one without penalty ``d_loss``; the generator step
      minimises ``g_loss``.

    Args:
        generator: keras.Model. ``z`` (batch, latent_dim) -> samples; with a second
            integer label input when conditional (``kzoo.nets.dcgan_generator``, ...).
        critic: keras.Model. Samples (and labels) -> one score per sample.
        loss: str. "ns", "hinge", "wgan_gp" or "bwgan". Default "wgan_gp".
        penalty: dict or None. Overrides of the loss's penalty arguments
            (``weight`` >= 0, ``s``, ``p`` > 1, ``gamma`` > 0; ``s != 0`` needs image
            samples). Default None.
        n_critic: int >= 1. Critic steps per generator step. Default 1.
        signed: bool or None. Whether the generator makes [-1, 1] images (tanh) of [0, 1]
            data: the game then trains on [-1, 1] images and returns its samples in [0, 1].
            None: True for image samples (h, w, c), False for flat ones. Default None
            (``from_dataset`` takes it from the data set: ``kzoo.data.signed``).
        seed: int in [0, 2**32 - 1] or None. Default None.

    Examples:
        >>> ds = kzoo.data.load("digits")
        >>> gan = kzoo.games.GAN(kzoo.nets.dcgan_generator((8, 8, 1), 64),
        ...                      kzoo.nets.dcgan_critic((8, 8, 1)), loss="wgan_gp", n_critic=5)
        >>> gan.compile()                          # Adam(2e-4, beta_1=0, beta_2=0.9) for both
        >>> gan.fit(2 * ds.x_train - 1, epochs=50, batch_size=64)   # trains in [-1, 1]
        >>> images = gan.sample(16)                # in [0, 1], as ds.x_train

    Reference:
        Goodfellow et al. 2014; Radford et al. 2016 (DCGAN); Gulrajani et al. 2017
        (WGAN-GP); Adler and Lunz 2018 (BWGAN).
    """

    players = ("generator", "critic")
    serves = ("generator",)
    log_names = ("d_loss", "g_loss", "d_penalty")
    paper = ("Goodfellow et al. 2014; Radford et al. 2016 (DCGAN); Gulrajani et al. 2017 "
             "(WGAN-GP); Adler and Lunz 2018 (BWGAN)")

    def __init__(self, generator, critic, *, loss="wgan_gp", penalty=None, n_critic=1,
                 signed=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if penalty is not None and not isinstance(penalty, dict):
            raise ValueError(f"penalty must be a dict of penalty arguments or None; "
                             f"got {penalty!r}.")
        self.base_loss = gan_losses.get(loss, **(penalty or {}))
        n_critic = validate.integer("n_critic", n_critic, low=1)
        seed = validate.seed("seed", seed, optional=True)
        for player, model in (("generator", generator), ("critic", critic)):
            validate.keras_model(player, model)
        self.conditional = len(generator.inputs) == 2
        self.sample_shape = tuple(generator.outputs[0].shape[1:])
        self.signed = validate.boolean(
            "signed", len(self.sample_shape) == 3 if signed is None else signed)
        self.check_critic(generator, critic)
        if (self.base_loss.penalty or {}).get("s", 0.0) != 0 and len(self.sample_shape) != 3:
            raise ValueError(f"penalty s != 0 (a Sobolev norm) needs image samples (h, w, c); "
                             f"this generator makes {self.sample_shape}.")
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.num_classes = None
        if self.conditional:
            self.num_classes = int(label_classes(generator))
        self.generator, self.critic = generator, critic
        self.loss_name, self.penalty, self.n_critic = loss, penalty, n_critic
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.built = True

    @classmethod
    def from_dataset(cls, ds, **kwargs):
        """Takes ``signed`` from ``ds`` unless given: True for [-1, 1] images
        (``kzoo.data.signed``, a recipe's ``[data] scale = "signed"``), else False."""
        kwargs.setdefault("signed", bool(ds.extras.get("signed")))
        return super().from_dataset(ds, **kwargs)

    def check_critic(self, generator, critic):
        """Raises ``ValueError`` unless ``critic`` can score ``generator``'s samples: both
        conditional (a label input) or neither, and the critic takes the samples' shape."""
        if len(critic.inputs) != len(generator.inputs):
            raise ValueError(
                f"the generator takes {len(generator.inputs)} input(s) and the critic "
                f"{len(critic.inputs)}: both are conditional (a label input) or neither is.")
        taken = tuple(critic.inputs[0].shape[1:])
        if len(taken) != len(self.sample_shape) or any(
                t is not None and t != s for t, s in zip(taken, self.sample_shape)):
            raise ValueError(f"the generator makes samples of shape {self.sample_shape}; the "
                             f"critic takes {taken}.")

    def compile(self, optimizer="auto", **kwargs):
        """``"auto"``: Adam(2e-4, beta_1=0, beta_2=0.9) for each player; a dict
        ``{"generator": ..., "critic": ...}`` sets them apart; one optimizer is copied."""
        if optimizer == "auto":
            optimizer = {p: keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.9)
                         for p in self.players}
        elif isinstance(optimizer, keras.optimizers.Optimizer) and \
                not isinstance(optimizer, OptimizerGroup):
            optimizer = {p: type(optimizer).from_config(optimizer.get_config())
                         for p in self.players}
        super().compile(optimizer, **kwargs)

    # ----------------------------------------------------------------- pieces
    def latent(self, batch):
        return backend.replica_rows(
            lambda n: keras.random.normal((n, self.latent_dim), seed=self.seed_generator), batch)

    def in_data_range(self, samples):
        """The generator's ``samples`` in the data's range: ``kzoo.data.from_signed``
        (``(g + 1) / 2``, [-1, 1] to [0, 1]) when ``signed``, as they are otherwise. NumPy
        arrays and tensors alike; the one place a game maps its generator's samples.

        Examples:
            >>> gan = kzoo.games.GAN(*kzoo.nets.gan_pair("dcgan", (8, 8, 1), 16))
            >>> gan.in_data_range(np.array([-1.0, -0.5, 0.0, 1.0], "float32"))
            array([0.  , 0.25, 0.5 , 1.  ], dtype=float32)
        """
        return from_signed(samples) if self.signed else samples

    def _generated(self, z, labels, training, keep_state):
        inputs = z if labels is None else [z, labels]
        if keep_state:
            return numpy_if_host(z, self.generator(inputs, training=training))
        return numpy_if_host(z, call_frozen(self.generator, inputs, training=training))

    def fake(self, z, labels=None, training=True, keep_state=True):
        """``G(z)`` as the critic scores it, in the units of the data the game trains on:
        the generator's own ([-1, 1] images when ``signed``). NumPy for NumPy ``z``; a
        tensor inside a step; ``keep_state=False`` leaves batch-norm statistics as they
        are."""
        return self._generated(z, labels, training, keep_state)

    def generate(self, z, labels=None, training=True, keep_state=True):
        """Samples from ``z`` in the data's range (``in_data_range``: [0, 1] images when
        ``signed``). NumPy for NumPy ``z``; a tensor inside a step; ``keep_state=False``
        leaves batch-norm statistics as they are.

        Examples:
            >>> gan = kzoo.load("digits-wgan-gp")
            >>> images = gan.generate(np.zeros((4, gan.latent_dim), "float32"), training=False)
            >>> bool(images.min() >= 0 and images.max() <= 1)
            True
        """
        return self.in_data_range(self._generated(z, labels, training, keep_state))

    def score(self, samples, labels=None, training=True):
        return self.critic(samples if labels is None else [samples, labels], training=training)

    def critic_loss(self, real, fake, labels, training=True):
        """``(loss, logs)``: the critic's whole loss on ``real`` against ``fake`` (what a
        critic step minimises: ``d_loss / gamma + d_penalty``, or ``d_loss`` for a loss
        without penalty) and its parts ``{"d_loss": base loss, "d_penalty": penalty}``
        (no ``d_penalty`` without one). ``training=False``: the critic in inference mode
        and the penalty's interpolates from ``VALIDATION_PENALTY_SEED``."""
        critic = self.critic if labels is None else (
            lambda x, training=True: self.score(x, labels, training))
        seed = self.seed_generator if training else VALIDATION_PENALTY_SEED
        loss, (base, penalty) = self.base_loss.critic_loss(
            critic, real, fake, self.score(real, labels, training),
            self.score(fake, labels, training), seed, training=training)
        logs = {"d_loss": base}
        if penalty is not None:
            logs["d_penalty"] = penalty
        return loss, logs

    def generator_loss(self, fake, labels):
        return self.base_loss.generator(self.score(fake, labels, training=False))

    def worst_latent(self, z, eps, labels=None, training=True):
        """``z + eps * normalize(grad_z L_G(G(z)))``: the noise within ``eps`` (l2, one
        normalised-gradient step per sample) whose samples the critic scores worst.
        ``eps`` >= 0. Leaves batch-norm statistics as they are; ``training=False`` for
        evaluation. NumPy for NumPy ``z``."""
        validate.number("eps", eps, low=0)
        z_in, z = z, ops.convert_to_tensor(z)
        if labels is not None:
            labels = ops.convert_to_tensor(labels)
        grad = backend.input_grad(lambda z_: self.generator_loss(
            self.fake(z_, labels, training=training, keep_state=False), labels), z)
        return numpy_if_host(z_in, ops.stop_gradient(z + eps * unit_rows(grad)))

    # ------------------------------------------------------------------- step
    def train_step(self, data):
        real, labels = self.unpack(data)
        batch = ops.shape(real)[0]
        d_vars = self.critic.trainable_variables
        for _ in range(self.n_critic):
            z = self.latent(batch)
            fake = ops.stop_gradient(self.fake(z, labels))
            _, d_logs = backend.descend(
                self.optimizer["critic"],
                lambda fake=fake: self.critic_objective(real, fake, labels), d_vars)
        g_vars = self.generator.trainable_variables
        z = self.latent(batch)
        _, g_logs = backend.descend(
            self.optimizer["generator"], lambda: self.generator_objective(z, labels), g_vars)
        return self.record({name: ops.stop_gradient(value)
                            for name, value in {**d_logs, **g_logs}.items()})

    def critic_objective(self, real, fake, labels):
        """``(loss, logs)``: what one critic step minimises and what it logs (at least
        ``d_loss``, the base loss; a subclass may add terms and logs)."""
        return self.critic_loss(real, fake, labels)

    def generator_objective(self, z, labels):
        """``(loss, logs)``: what the generator step minimises and what it logs (at least
        ``g_loss``, the base loss at ``z``; a subclass may add terms and logs)."""
        loss = self.generator_loss(self.fake(z, labels), labels)
        return loss, {"g_loss": loss}

    def test_step(self, data):
        real, labels = self.unpack(data)
        z = self.latent(ops.shape(real)[0])
        fake = self.fake(z, labels, training=False)
        return self.record(self.test_logs(real, z, fake, labels))

    def test_logs(self, real, z, fake, labels):
        """The logs of one validation batch, in inference mode: the values a training step
        logs under the same names, for the real batch ``real``, noise ``z`` and its samples
        ``fake`` (a subclass adds its own)."""
        _, logs = self.critic_loss(real, fake, labels, training=False)
        return {**logs, "g_loss": self.generator_loss(fake, labels)}

    def unpack(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = ops.convert_to_tensor(x)  # JAX without jit passes NumPy; the critic takes [x, y]
        if not self.conditional:
            return x, None
        if y is None:
            raise ValueError("a conditional GAN trains on (samples, labels); fit(x, y).")
        return x, ops.reshape(ops.cast(y, "int32"), (-1,))

    # ---------------------------------------------------------------- serving
    def call(self, inputs, training=False):
        z = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        if len(z.shape) != 2 or z.shape[-1] not in (None, self.latent_dim):
            raise ValueError(
                f"this {type(self).__name__} is a generator: it maps z of shape (batch, "
                f"{self.latent_dim}) to samples of shape {self.sample_shape}; got an input of "
                f"shape {tuple(z.shape)}. To classify, load a classifier preset.")
        return self.in_data_range(self.generator(inputs, training=training))

    def sample(self, n, labels=None, seed=None):
        """``n`` (an int >= 1) samples as a NumPy array, in the data's range
        (``in_data_range``: [0, 1] images when ``signed``) (labels: int array of length n,
        if conditional; seed: an int in [0, 2**32 - 1], or None for the game's generator).

        Examples:
            >>> images = kzoo.load("digits-robust-wgan-gp").sample(16, seed=0)
            >>> images.shape, bool(images.min() >= 0 and images.max() <= 1)
            ((16, 8, 8, 1), True)
        """
        n = validate.integer("n", n, low=1)
        seed = validate.seed("seed", seed, optional=True)
        if self.conditional:
            labels = np.arange(n) % self.num_classes if labels is None else labels
            check_labels(labels, self.num_classes, "labels")
            if len(labels) != n:
                raise ValueError(f"labels must hold n={n} labels; got {len(labels)}.")
        z = keras.random.normal((n, self.latent_dim),
                                seed=self.seed_generator if seed is None else seed)
        if self.conditional:
            z = [z, ops.convert_to_tensor(np.asarray(labels, "int32"))]
        return self.in_data_range(ops.convert_to_numpy(self.generator(z, training=False)))

    @property
    def served_input_shape(self):
        return (self.latent_dim,)

    def check_data(self, x, y=None):
        if isinstance(x, np.ndarray):
            check_inputs(x, self.sample_shape, self.input_range)
            # a signed GAN of the generator's units (input_range None) trains on [-1, 1]
            if self.signed and self.input_range is None and x.size and float(x.min()) >= 0:
                raise ValueError(
                    f"x is in [{float(x.min()):.3g}, {float(x.max()):.3g}], and this "
                    f"{type(self).__name__} has signed=True: it trains on [-1, 1] images (its "
                    f"generator's tanh units) and maps its samples to [0, 1]. Give it "
                    f"[-1, 1] images (kzoo.data.signed(ds), 2 * x - 1), or pass signed=False "
                    f"to train on x as it is (its samples then in x's units).")
        if self.conditional and isinstance(y, np.ndarray):
            check_labels(y, self.num_classes)

    def get_config(self):
        return {**super().get_config(), "loss": self.loss_name, "penalty": self.penalty,
                "n_critic": self.n_critic, "signed": self.signed, "seed": self.seed}


def label_classes(generator):
    """The number of classes a conditional generator's label ``Embedding`` takes."""
    for layer in generator.layers:
        if isinstance(layer, keras.layers.Embedding):
            return layer.input_dim
    raise ValueError("a conditional generator needs a label Embedding layer.")


class _UnitGAN(GAN):
    """A conditional GAN of images that trains on [0, 1] images (kzoo's classifier units):
    always ``signed``, its generator's tanh samples mapped to [0, 1] (``in_data_range``)
    before its critic and classifier see them; ``generate``, ``sample`` and
    ``game([z, labels])`` return [0, 1] images, as ``GAN``'s. The base of the games that
    serve a classifier beside their generator."""

    input_range = (0.0, 1.0)

    def __init__(self, generator, critic, *, signed=True, **kwargs):
        if signed is not True:
            raise ValueError(f"{type(self).__name__} maps its generator's [-1, 1] samples "
                             f"to the [0, 1] images it trains on: signed must be True; got "
                             f"{signed!r}.")
        super().__init__(generator, critic, signed=True, **kwargs)

    @classmethod
    def from_dataset(cls, ds, **kwargs):
        """Refuses [-1, 1] data (``kzoo.data.signed``): the game trains on [0, 1]."""
        if ds.extras.get("signed"):
            raise ValueError(f"{cls.__name__} trains on images in [0, 1] (its classifier's "
                             f"units) and maps its generator's [-1, 1] samples there itself; "
                             f"{ds.name} is in [-1, 1] (drop [data] scale = \"signed\").")
        kwargs.setdefault("signed", True)
        return super().from_dataset(ds, **kwargs)

    def fake(self, z, labels=None, training=True, keep_state=True):
        """The generator's samples in [0, 1], as its critic scores them (``generate``)."""
        return self.generate(z, labels, training, keep_state)

    def check_data(self, x, y=None):
        super().check_data(x, y)  # the range: [0, 1], its classifier's units
        if isinstance(x, np.ndarray) and y is None:
            raise ValueError(f"{type(self).__name__} trains on images and their labels: "
                             f"fit(x, y).")
