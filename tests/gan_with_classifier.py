"""A game defined outside kzoo that serves a classifier and a generator: a GAN whose
step is the GAN's step (``super()``) followed by a cross-entropy step of a classifier
on the real batch. It shows that a new game is one file."""

import keras
import numpy as np

from kzoo import backend, losses
from kzoo.games import GAN
from kzoo.games.classifier import hits
from kzoo.games.game import check_labels


@keras.saving.register_keras_serializable(package="kzoo_tests")
class GANWithClassifier(GAN):
    """``GAN`` plus a classifier trained on the real images and their labels.

    Args:
        generator, critic: as ``GAN`` (unconditional).
        classifier: keras.Model. Images to logits.
        **kwargs: the other ``GAN`` arguments.
    """

    players = ("generator", "critic", "classifier")
    serves = ("classifier", "generator")
    log_names = (*GAN.log_names, "loss", "accuracy")
    paper = "kzoo's test of the game protocol"

    def __init__(self, generator, critic, classifier, **kwargs):
        super().__init__(generator, critic, **kwargs)
        self.classifier = classifier
        self.num_labels = int(classifier.output_shape[-1])

    def train_step(self, data):
        logs = super().train_step(data)
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.classifier.trainable_variables
        (loss, logits), grads = backend.value_and_grad(
            lambda: self.classification_loss(x, y, training=True), variables)
        backend.apply(self.optimizer["classifier"], grads, variables)
        return {**logs, **self.record({"loss": loss, "accuracy": hits(y, logits)})}

    def classification_loss(self, x, y, training):
        """The classifier's cross-entropy on ``(x, y)``, and its logits."""
        logits = self.classifier(x, training=training)
        return losses.cross_entropy(y, logits), logits

    def test_step(self, data):
        logs = super().test_step(data)
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        loss, logits = self.classification_loss(x, y, training=False)
        return {**logs, **self.record({"loss": loss, "accuracy": hits(y, logits)})}

    def check_data(self, x, y=None):
        super().check_data(x, y)
        if isinstance(y, np.ndarray):
            check_labels(y, self.num_labels)
