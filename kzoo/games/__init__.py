"""kzoo's games: ``keras.Model`` subclasses whose ``train_step`` plays the game."""

import kzoo.nets  # noqa: F401  (registers the layers players are made of)
from kzoo.games.classifier import Classifier
from kzoo.games.drw import DRW
from kzoo.games.game import Game
from kzoo.games.optimizer_group import OptimizerGroup

GAMES = {"Classifier": Classifier}

__all__ = ["Classifier", "DRW", "Game", "GAMES", "OptimizerGroup"]
