"""Games for testing the Game machinery (imported by the harness's loaders): a two-player
game, and a GAN subclass that extends the GAN's step."""

import keras
from keras import ops

from kzoo import backend
from kzoo.games import GAN, Game


@keras.saving.register_keras_serializable(package="kzoo_tests")
class TwoPlayers(Game):
    """Player ``a`` regresses the target, player ``b`` its negation; two optimizers."""

    players = ("a", "b")

    def __init__(self, a, b, **kwargs):
        super().__init__(**kwargs)
        self.a, self.b = a, b
        self.a_loss = keras.metrics.Mean(name="a_loss")
        self.b_loss = keras.metrics.Mean(name="b_loss")
        self.built = True  # its players are built nets, as kzoo's games' are

    def call(self, x, training=False):
        return self.a(x, training=training) - self.b(x, training=training)

    def train_step(self, data):
        x, y = data
        y = ops.cast(ops.reshape(y, (-1, 1)), "float32")
        for player, target, tracker in ((self.a, y, self.a_loss), (self.b, -y, self.b_loss)):
            variables = player.trainable_variables

            def loss_fn(player=player, target=target):
                return ops.mean((player(x, training=True) - target) ** 2)

            (loss, _), grads = backend.value_and_grad(loss_fn, variables)
            backend.apply(self.optimizer[player.name], grads, variables)
            tracker.update_state(loss)
        return {"a_loss": self.a_loss.result(), "b_loss": self.b_loss.result()}

    @property
    def metrics(self):
        return [self.a_loss, self.b_loss]


@keras.saving.register_keras_serializable(package="kzoo_tests")
class RealScoreGAN(GAN):
    """A ``GAN`` whose step is the GAN's, plus one log of its own: ``real_score``, the
    critic's mean score of the real batch after the step (inference mode)."""

    log_names = (*GAN.log_names, "real_score")

    def train_step(self, data):
        logs = super().train_step(data)
        real, labels = self.unpack(data)
        score = ops.mean(self.score(real, labels, training=False))
        return {**logs, **self.record({"real_score": score})}


def make(input_dim=4):
    def player(name):
        inputs = keras.Input((input_dim,))
        return keras.Model(inputs, keras.layers.Dense(1)(inputs), name=name)

    return TwoPlayers(player("a"), player("b"))
