"""Rob-GAN's second step: the class head of a co-trained critic fine-tuned on attacked real
and attacked generated images (Liu and Hsieh, CVPR 2019, Eq. 10)."""

import keras
from keras import ops

from kzoo import validate
from kzoo.attacks.pgd import check_attack, pgd
from kzoo.games.game import Game
from kzoo.games.generator_augmented import GeneratorAugmented
from kzoo.nets.acgan import check_acgan_critic, class_head


@keras.saving.register_keras_serializable(package="kzoo")
class RobGANFineTune(GeneratorAugmented):
    """Fine-tunes the classifier inside an AC-GAN critic, ``f``, against attacks on real
    and generated images, the generator frozen:

        ``CE(f(x_adv), y) + lam_fake * CE(f(G(z, y')_adv), y')``

    ``x_adv`` and ``G(z, y')_adv`` are l_inf PGD attacks on ``f``'s cross-entropy
    (``kzoo.attacks.pgd``: ``steps`` sign steps of ``step_size`` inside ``epsilon``, no
    random start, ``f`` in inference mode); ``G``'s samples are mapped to [0, 1] first;
    ``y'`` is drawn from the label prior. The update runs ``f`` (the critic's body and
    class head; the real/fake head is frozen, on the critic given) in training mode, batch norm
    included, on both attacked batches in one pass. Staged learning rates (the paper's
    stages of 20/20/10/10 epochs, the rate divided by 10 at each) come from the
    optimizer: in a recipe, ``schedule = "steps"`` with ``decay_epochs``.

    It starts from a co-training run: the critic and the generator of a ``RobGAN`` (or
    an ``ACGAN``); in a recipe ``[net.critic] preset = "<run or preset>"`` and
    ``[net.generator] preset = "<the same>"``. Anything else as ``critic`` (a plain
    GAN's critic, a classifier) is refused before training.

    Serves a classifier: ``game.classifier`` (= ``kzoo.nets.class_head(critic)``),
    [0, 1] images to logits.

    Logs (``val_``: inference mode, each batch attacked the same way): ``loss`` and
    ``accuracy`` on the attacked real batch, ``fake_loss`` and ``fake_accuracy`` on
    the attacked generated batch.

    Args:
        critic: keras.Model. An AC-GAN critic (``kzoo.nets.acgan_critic``), trained.
        generator: keras.Model. Its conditional generator (frozen: ``trainable`` set to
            False on the object given).
        epsilon: float >= 0. Attack radius (l_inf, [0, 1] units). Default 4/255.
        step_size: float > 0 or None. Default ``epsilon / 5``.
        steps: int >= 1. PGD steps. Default 5.
        lam_fake: float >= 0. Weight of the generated batch's loss. Default 0.3.
        labels: "uniform" or "empirical". Label prior of ``y'``. Default "uniform".
        seed: int in [0, 2**32 - 1] or None. Default None.
        **kwargs: ``Classifier``'s (``loss``, ``class_counts``, ...), mixup excepted.

    Examples:
        >>> ds = kzoo.data.load("digits")
        >>> run = kzoo.load("digits-robgan")        # a RobGAN preset (or a run directory)
        >>> game = kzoo.games.RobGANFineTune(run.critic, run.generator, epsilon=0.1)
        >>> game.compile(keras.optimizers.Adam(1e-3))
        >>> game.fit(ds.x_train, ds.y_train, epochs=20, batch_size=64)

    Reference:
        Liu and Hsieh, "Rob-GAN: Generator, Discriminator, and Adversarial Attacker",
        CVPR 2019.
    """

    players = ("critic", "generator")
    paper = "Liu and Hsieh, Rob-GAN: Generator, Discriminator, and Adversarial Attacker, CVPR 2019"

    def __init__(self, critic, generator, *, epsilon=4 / 255, step_size=None, steps=5,
                 lam_fake=0.3, labels="uniform", seed=None, **kwargs):
        check_acgan_critic(critic)
        if step_size is None:
            step_size = validate.number("epsilon", epsilon, low=0) / 5.0
        check_attack(epsilon=epsilon, step_size=step_size, steps=steps, norm="linf")
        lam_fake = validate.number("lam_fake", lam_fake, low=0)
        net = class_head(critic)
        head = {id(layer) for layer in net.layers}
        for layer in critic.layers:  # the real/fake head: frozen, so that the game's
            if id(layer) not in head:  # trainable variables are the classifier's
                layer.trainable = False
        super().__init__(net, generator, real_weight=1.0, fake_weight=lam_fake,
                         labels=labels, seed=seed, **kwargs)
        self.critic = critic
        self.epsilon, self.step_size, self.steps = float(epsilon), float(step_size), int(steps)

    @property
    def lam_fake(self):
        return self.fake_weight

    def attack(self, x, y):
        """``x`` attacked on the classifier's cross-entropy (NumPy for NumPy ``x``)."""
        return pgd(self.net, x, y, epsilon=self.epsilon, step_size=self.step_size,
                   steps=self.steps, random_start=False)

    def batches(self, x, y):
        """The real batch and a generated one, both attacked."""
        x, y, fake, fake_y = super().batches(x, y)
        x_adv = self.attack(ops.cast(x, fake.dtype), y)
        return x_adv, y, self.attack(fake, fake_y), fake_y

    def compile(self, optimizer="adam", **kwargs):
        """One optimizer, the classifier's (a dict ``{"critic": ...}`` gives it)."""
        if isinstance(optimizer, dict) and "class_name" not in optimizer:
            if set(optimizer) - {"critic", "generator"} or "critic" not in optimizer:
                raise ValueError(f"RobGANFineTune trains one player, critic (its generator is "
                                 f"frozen): give one optimizer or {{'critic': ...}}; got "
                                 f"{sorted(optimizer)}.")
            optimizer = optimizer["critic"]
        Game.compile(self, optimizer, **kwargs)

    def get_config(self):
        config = {**super().get_config(), "epsilon": self.epsilon,
                  "step_size": self.step_size, "steps": self.steps, "lam_fake": self.lam_fake}
        for key in ("real_weight", "fake_weight"):
            config.pop(key)
        return config
