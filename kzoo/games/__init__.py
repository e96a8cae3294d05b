"""kzoo's games: ``keras.Model`` subclasses whose ``train_step`` plays the game.

Every module of this package is imported here, and defining a ``Game`` subclass
registers it: a new game is one new file. ``GAMES`` maps each registered name to its
class; ``get(name)`` also takes ``"module:Class"`` for a game defined outside kzoo.
"""

import importlib
import pkgutil

import kzoo.nets  # noqa: F401  (registers the layers players are made of)
from kzoo.games.game import GAMES, Game, get
from kzoo.games.optimizer_group import OptimizerGroup
from kzoo.games.stages import Stage

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
globals().update({name: cls for name, cls in GAMES.items() if ":" not in name})

__all__ = ["GAMES", "Game", "OptimizerGroup", "Stage", "get"]
__all__ += sorted(name for name in GAMES if ":" not in name)
