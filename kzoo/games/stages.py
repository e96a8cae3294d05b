"""A game's stages: the ``Stage`` record, and the callbacks ``Game.fit`` adds to switch
between stages and to show them."""

from typing import NamedTuple

import keras
from keras import ops

from kzoo import backend


class Stage(NamedTuple):
    """One stage of a game's play: ``name`` until epoch ``until_epoch`` or training step
    ``until_step`` (absolute, 0-based, exclusive); the last stage has neither."""

    name: str
    until_epoch: int = None
    until_step: int = None

    def covers(self, epoch, step):
        return not ((self.until_epoch is not None and epoch >= self.until_epoch)
                    or (self.until_step is not None and step >= self.until_step))


def with_stage_in_logs(step):
    """``step`` whose logs carry the stage index when the game has several stages."""

    def train_step(self, data):
        logs = step(self, data)
        names = [s.name for s in self.stages()]
        if len(names) > 1:
            logs = {**logs, "stage": ops.convert_to_tensor(float(names.index(self.stage)))}
        return logs

    train_step.__doc__ = step.__doc__
    return train_step


class StageProgbar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar for a game of several stages: the stage by name on a line of its
    own when an epoch (``Stage reweighted``) or a step (``Stage meta (from step 5 of this
    epoch)``) starts a new one, and its index (in the logs and the history, for curves) left
    out of the bar."""

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.shown = None

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        if self.verbose and self.model.stage != self.shown:
            self.shown = self.model.stage
            print(f"Stage {self.shown}", flush=True)

    def on_train_batch_begin(self, batch, logs=None):
        if self.verbose and self.model.stage != self.shown:  # a stage of steps, mid-epoch
            self.shown = self.model.stage
            print(f"\nStage {self.shown} (from step {batch + 1} of this epoch)", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, _without_stage(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, _without_stage(logs))


def _without_stage(logs):
    return {k: v for k, v in (logs or {}).items() if k != "stage"}


class StageSwitcher(keras.callbacks.Callback):
    """Host side of stages: plans the steps of the fit (``Game.plan_training``) and
    switches ``game.stage`` between steps, retracing the train function on a switch."""

    def on_train_begin(self, logs=None):
        self.step = None

    def on_epoch_begin(self, epoch, logs=None):
        game, self.epoch = self.model, epoch
        if self.step is None:  # here, not at train begin: a resumed fit starts at epoch > 0
            self.step = int(ops.convert_to_numpy(game.optimizer.iterations))
            left = ((self.params.get("epochs") or 0) - epoch) * (self.params.get("steps") or 0)
            game.plan_training(self.step, self.step + left)
        self._switch()

    def on_train_batch_begin(self, batch, logs=None):
        self._switch()

    def on_train_batch_end(self, batch, logs=None):
        self.step += self.model.steps_per_execution

    def _switch(self):
        game = self.model
        name = next(s.name for s in game.stages() if s.covers(self.epoch, self.step))
        if name != game.stage:
            game.stage = name
            backend.sync_state(game)
            game.enter_stage(name)
            game.make_train_function(force=True)
