"""Training that an interruption does not spoil.

``kzoo train`` feeds ``fit`` through ``EpochBatches`` and checkpoints with ``Checkpoint``:
after every epoch, the game's weights (every player, every optimizer of the group, seed
generators and state such as Meta-IADA's covariances and per-sample history) and the run's
progress (logs so far, the records of its monitors, the wall time) are written atomically.
A run killed at any moment resumes from its last completed epoch and ends with the weights
an uninterrupted run would have.

A checkpoint directory holds ``progress.json``, a JSON object of exactly these keys:
``identity`` (recipe hash, epochs, backend), ``epoch`` (completed, at most the identity's
``epochs``), ``weights`` and ``sha256`` (the plain name, ``epoch-<epoch>.npz``, and the hash
of the state file; null at epoch 0), ``logs`` (a dict of numbers per epoch), ``records``
(each record's ``history``) and ``wall_time_s``; and that state file. Both are data:
``read_progress`` checks every key, type and bound and the state file's sha256, anything
else (a hand-edited epoch, a name outside the directory, a truncated file) raises
``CheckpointError``, and nothing outside the directory is ever read or deleted.

Keras' ``BackupAndRestore`` is not enough here: its weights file leaves out the seed
generators' states, it writes the weights and then the epoch number in place (a kill between
the two resumes from the wrong epoch), and ``fit``'s own shuffle cannot be replayed from an
epoch on (torch and JAX draw from NumPy's global random state; TensorFlow replays one
permutation every epoch; a ``PyDataset``'s batches are shuffled unless ``shuffle=False``).

Examples:
    >>> batches = EpochBatches(x, y, batch_size=64, seed=0)
    >>> checkpoint = Checkpoint("runs/x/checkpoint", batches, identity={"recipe": "..."})
    >>> start = checkpoint.epoch      # 0, or the last completed epoch of an earlier run
    >>> model.fit(batches, epochs=10, initial_epoch=start, callbacks=[checkpoint])
"""

import json
import math
import time
import zipfile
from pathlib import Path

import keras
import numpy as np

from kzoo import validate
from kzoo.data.augment import augment_images
from kzoo.files import atomic_path, is_temporary, sha256, write_json

PROGRESS_FILE = "progress.json"
FIELDS = {"identity": dict, "epoch": int, "weights": (str, type(None)),  # progress.json's
          "sha256": (str, type(None)), "logs": list, "records": dict,  # keys and JSON types
          "wall_time_s": (int, float)}


class CheckpointError(ValueError):
    """A checkpoint not as ``Checkpoint`` writes it (hand-edited, truncated): not resumed."""


class EpochBatches(keras.utils.PyDataset):
    """Batches of ``(x, y)`` whose order depends on ``(seed, epoch)`` alone.

    Args:
        x: array, or tuple of arrays with the same number of rows.
        y: array (rows,), or None (``x`` alone, as a GAN takes).
        batch_size: int >= 1.
        seed: int >= 0. Seed of the per-epoch permutation.
        epoch: int >= 0. The epoch the next batches belong to (``Checkpoint`` sets it at
            the start of every epoch).
        augment: ``kzoo.data.augment.Augment`` or None. Applied to the images of each
            batch, with a seed drawn from ``(seed, epoch, batch index)``: a resumed run
            sees the same augmented batches. Default None.
        workers: int >= 1. Threads that make batches ahead of the training step, in
            order (1: none of its own; TensorFlow's input pipeline still prefetches).
            Default 1.
        shuffle: bool. A new permutation every epoch; False keeps the rows' order.
            Default True.

    Data parallel (``shard``): each batch stays the global batch, split into equal
    contiguous blocks, one per replica; an epoch's last, partial batch is cut to a
    multiple of the replica count (fewer than ``replicas`` rows an epoch left out, other
    rows each epoch).

    Examples:
        >>> batches = EpochBatches(ds.x_train, ds.y_train, batch_size=64, seed=0)
        >>> x0, y0 = batches[0]
    """

    def __init__(self, x, y, batch_size, seed, epoch=0, augment=None, workers=1,
                 shuffle=True):
        super().__init__(workers=validate.integer("workers", workers, low=1))
        self.x, self.y = x, None if y is None else np.asarray(y)
        self.size = len(keras.tree.flatten(x)[0])
        self.augment = augment
        self.batch_size = validate.integer("batch_size", batch_size, low=1)
        self.seed = validate.integer("seed", seed, low=0)
        self.epoch = validate.integer("epoch", epoch, low=0)
        self.shuffle = validate.boolean("shuffle", shuffle)
        self.replicas, self.rank, self.processes = 1, None, 1
        self._order = (None, None)
        self._in_epoch = False

    def shard(self, replicas, rank=None, processes=None):
        """Splits every batch over ``replicas`` (which must divide ``batch_size``; the
        last batch is cut to a multiple of them); with ``rank``, this process's block of
        ``processes`` equal blocks (default: one per replica, as torch.distributed) is all
        a batch gives; without, the whole batch (an engine that splits it in one process,
        as TensorFlow's strategies and JAX's distribution on one host)."""
        if self.batch_size % replicas:
            raise ValueError(f"batch_size {self.batch_size} does not split over {replicas} "
                             f"devices; give a multiple of {replicas}.")
        processes = replicas if processes is None else processes
        if replicas % processes:
            raise ValueError(f"{replicas} devices do not split over {processes} processes.")
        self.replicas, self.rank, self.processes = replicas, rank, processes

    @property
    def _rows(self):
        """The rows an epoch uses."""
        n = self.size
        return n - (n % self.batch_size) % self.replicas

    def __len__(self):
        return math.ceil(self._rows / self.batch_size)

    def on_epoch_begin(self):
        self._in_epoch = True

    def on_epoch_end(self):
        """The next epoch's batches, after an epoch of ``fit`` (``Checkpoint`` also sets the
        epoch, at each epoch's start; Keras also calls this when it resets its iterator,
        outside an epoch)."""
        if self._in_epoch:
            self.epoch += 1
            self._in_epoch = False

    def order(self):
        """The permutation of the rows for the current epoch."""
        if self._order[0] != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch])
            order = rng.permutation(self.size) if self.shuffle else np.arange(self.size)
            self._order = (self.epoch, order)
        return self._order[1]

    def __getitem__(self, index):
        stop = min((index + 1) * self.batch_size, self._rows)
        rows = self.order()[index * self.batch_size:stop]
        x = keras.tree.map_structure(lambda a: a[rows], self.x)
        if self.augment is not None:
            seed = np.random.default_rng([self.seed, self.epoch, index]).integers(2**31)
            x = augment_images(x, self.augment, seed)
        if self.rank is not None:  # augmented as the whole batch: as on one device
            block = slice(self.rank * len(rows) // self.processes,
                          (self.rank + 1) * len(rows) // self.processes)
            x, rows = keras.tree.map_structure(lambda a: a[block], x), rows[block]
        return x if self.y is None else (x, self.y[rows])


class Checkpoint(keras.callbacks.Callback):
    """Saves the run after each epoch and restores it when ``fit`` starts.

    ``directory`` holds ``progress.json`` (see the module's docstring) and the state file
    it names (``epoch-N.npz``: every variable of the game and of its optimizer, in order).
    The state is written first, under a new name, then ``progress.json`` is replaced: a kill
    at any moment leaves a consistent pair. A checkpoint that fails ``read_progress``'s
    checks, or whose state file does not load, raises ``CheckpointError``.

    Args:
        directory: path. Created if absent.
        batches: ``EpochBatches``. Told the epoch at the start of each epoch.
        identity: dict (JSON values). What makes two runs the same (recipe hash, epochs,
            backend); ``mismatch`` says how two differ.
        records: dict of name to an object with a ``history`` list (callbacks that keep a
            record per epoch, e.g. ``StepTimer``, ``EpsilonShares``), saved and restored.
    """

    def __init__(self, directory, batches, identity, records=None):
        super().__init__()
        self.directory, self.batches = Path(directory), batches
        # compared with the JSON-read identity of a saved checkpoint
        self.identity = json.loads(json.dumps(identity))
        self.records = dict(records or {})
        self.directory.mkdir(parents=True, exist_ok=True)
        self.progress = read_progress(self.directory) or {
            "identity": self.identity, "epoch": 0, "weights": None, "sha256": None,
            "logs": [], "records": {}, "wall_time_s": 0.0}
        if self.progress["identity"] != self.identity:
            raise ValueError(f"{self.directory} holds a checkpoint of another run "
                             f"({mismatch(self.progress['identity'], self.identity)}).")
        for name in self.progress["records"]:
            if name in self.records:
                self.records[name].history = list(self.progress["records"][name])
        self.batches.epoch = self.epoch
        for path in self.directory.iterdir():  # leftovers of a kill
            if is_temporary(path) or (path.suffix == ".npz" and path.name != self._weights):
                _inside(self.directory, path.name).unlink()
        if self.epoch == 0:
            write_json(self.directory / PROGRESS_FILE, self.progress)

    @property
    def epoch(self):
        """The number of completed epochs: ``fit``'s ``initial_epoch``."""
        return self.progress["epoch"]

    @property
    def _weights(self):
        return self.progress["weights"]

    @property
    def history(self):
        """``History.history`` of the whole run, earlier sessions included."""
        keys = dict.fromkeys(k for logs in self.progress["logs"] for k in logs)
        return {k: [logs.get(k, float("nan")) for logs in self.progress["logs"]] for k in keys}

    @property
    def wall_time_s(self):
        return self.progress["wall_time_s"]

    def _variables(self):
        # Keras' save_weights leaves out seed-generator states; this list has them.
        optimizer = self.model.optimizer
        if not optimizer.built:  # TensorFlow builds it (or a group's member) at first use
            optimizer.build(self.model.trainable_variables)
        return [*self.model.variables, *optimizer.variables]

    def on_train_begin(self, logs=None):
        if not self._weights:
            return
        variables = self._variables()
        path = _inside(self.directory, self._weights)
        try:
            with np.load(path, allow_pickle=False) as saved:
                arrays = [saved[f"v{i}"] for i in range(len(saved.files))]
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
            raise _unreadable(path, f"{type(err).__name__}: {err}") from err
        # Layer names carry a per-process counter ("dense_3"): compare shapes, not paths.
        if [a.shape for a in arrays] != [tuple(v.shape) for v in variables]:
            raise _unreadable(path, "it holds other variables than this game's")
        for v, a in zip(variables, arrays):
            v.assign(a)

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        previous = self._weights
        weights = f"epoch-{epoch + 1}.npz"
        variables = self._variables()
        with atomic_path(self.directory / weights) as tmp:
            np.savez(tmp, **{f"v{i}": keras.ops.convert_to_numpy(v)
                             for i, v in enumerate(variables)})
            digest = sha256(tmp)
        self.progress.update(
            epoch=epoch + 1, weights=weights, sha256=digest,
            logs=[*self.progress["logs"], {k: float(v) for k, v in (logs or {}).items()}],
            records={name: r.history for name, r in self.records.items()},
            wall_time_s=self.wall_time_s + time.perf_counter() - self._start)
        write_json(self.directory / PROGRESS_FILE, self.progress)
        if previous and previous != weights:
            _inside(self.directory, previous).unlink(missing_ok=True)


def read_progress(directory, epochs=None):
    """The checked ``progress.json`` of a checkpoint directory, or None where there is none;
    ``CheckpointError`` where it is not UTF-8 JSON, a key, type or bound is off (module
    docstring; ``epochs`` defaults to the identity's), or its state file is absent, a link
    or does not match its sha256."""
    directory = Path(directory)
    path = directory / PROGRESS_FILE
    if not path.exists():
        return None
    try:
        progress = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise _unreadable(path, f"{type(err).__name__}: {err}") from err
    why = _malformed(progress, epochs)
    if why:
        raise _unreadable(path, why)
    if progress["weights"] is not None:
        state = _inside(directory, progress["weights"])
        if state.is_symlink():
            raise _unreadable(state, "a link, not a file of the directory")
        try:
            digest = sha256(state)
        except OSError as err:
            raise _unreadable(state, err.strerror or err) from err
        if digest != progress["sha256"]:
            raise _unreadable(state, "its sha256 is not progress.json's (changed or corrupt)")
    return progress


def _malformed(progress, epochs):
    """What is wrong with ``progress`` (parsed JSON) as a checkpoint's progress, or None."""
    if not isinstance(progress, dict) or set(progress) != set(FIELDS):
        return f"not a JSON object with exactly the keys {', '.join(FIELDS)}"
    wrong = [key for key, kind in FIELDS.items()
             if not isinstance(progress[key], kind) or isinstance(progress[key], bool)]
    if wrong:
        return f"wrong JSON type of {', '.join(wrong)}"
    epoch, logs, weights = progress["epoch"], progress["logs"], progress["weights"]
    epochs = progress["identity"].get("epochs") if epochs is None else epochs
    if epoch < 0 or (_is_number(epochs) and epoch > epochs):
        return f"epoch {epoch} is out of range (0 to {epochs})"
    if len(logs) != epoch or not all(isinstance(entry, dict) and all(map(
            _is_number, entry.values())) for entry in logs):
        return f"logs are not {epoch} dicts of numbers"
    if not all(isinstance(history, list) for history in progress["records"].values()):
        return "records are not lists"
    if not (math.isfinite(progress["wall_time_s"]) and progress["wall_time_s"] >= 0):
        return f"wall_time_s {progress['wall_time_s']} is not a finite number >= 0"
    expected = f"epoch-{epoch}.npz" if epoch else None
    if weights != expected:
        return f"weights {weights!r} where {expected!r} belongs"
    if (progress["sha256"] is None) != (weights is None):
        return f"sha256 {progress['sha256']!r} with weights {weights!r}"
    return None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _inside(directory, name):
    """``directory / name`` for a plain file name; anything that could reach outside
    ``directory`` (a path, ``..``, an absolute name) raises ``CheckpointError``."""
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
        raise _unreadable(directory, f"{name!r} is not a plain file name in it")
    return Path(directory) / name


def _unreadable(path, why):
    return CheckpointError(f"interrupted run, checkpoint unreadable: {path}: "
                           f"{' '.join(str(why).split())}; rerun with --overwrite to start "
                           f"again.")


def mismatch(found, expected):
    """What differs between two run identities, as ``key: found -> expected`` phrases."""
    keys = sorted(set(found) | set(expected))
    return "; ".join(f"{k}: {found.get(k)!r} there, {expected.get(k)!r} here"
                     for k in keys if found.get(k) != expected.get(k))
