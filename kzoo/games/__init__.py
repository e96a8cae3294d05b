"""kzoo's games: ``keras.Model`` subclasses whose ``train_step`` plays the game."""

import kzoo.nets  # noqa: F401  (registers the layers players are made of)
from kzoo.games.aegl import AEGL
from kzoo.games.classifier import Classifier
from kzoo.games.drw import DRW
from kzoo.games.game import Game
from kzoo.games.gan import GAN
from kzoo.games.madry import PGDAdversarialTraining
from kzoo.games.meta_iada import MetaIADA
from kzoo.games.optimizer_group import OptimizerGroup
from kzoo.games.robust_gan import RobustGAN

GAMES = {"Classifier": Classifier, "PGDAdversarialTraining": PGDAdversarialTraining,
         "AEGL": AEGL, "MetaIADA": MetaIADA, "GAN": GAN, "RobustGAN": RobustGAN}



def trains_generator(name):
    """Whether the game called ``name`` (a key of ``GAMES``) trains a generator."""
    return name in GAMES and issubclass(GAMES[name], GAN)


__all__ = ["AEGL", "Classifier", "DRW", "GAN", "Game", "GAMES", "MetaIADA", "OptimizerGroup",
           "PGDAdversarialTraining", "RobustGAN", "trains_generator"]
