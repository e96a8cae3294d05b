"""The run directory of ``kzoo train``: one writer at a time, what it may already hold, and
its files replaced as a whole.

- ``lock(out)``: an advisory lock (``fcntl.flock``) on ``out/.kzoo-lock`` for the whole
  run; a second ``kzoo train`` into ``out`` is refused at once, naming the holder's pid.
- ``finished(out, identity)``: the card of the same run, completed in ``out`` (``kzoo train``
  reports it done); ``check(out, identity, overwrite)``: whether ``out`` may take the run
  (absent or empty, or its interrupted run to resume; another recipe's, epochs' or backend's
  run only with ``overwrite``).
- ``staging(out)`` and ``commit(out, staged)``: a run's files are written into
  ``out/.tmp-run/``, then moved in with the card last; until then a completed run in
  ``out`` keeps its model and card as a pair. A kill during the moves leaves no card (an
  interrupted run, ``kzoo.zoo.resolve`` says so, and the same command finishes it),
  never a card beside another run's model.

Examples:
    >>> with lock("runs/x"):
    ...     resuming = check("runs/x", identity, overwrite=False)
    ...     prepare("runs/x", resuming)
    ...     staged = staging("runs/x")          # write model.keras, card.json, ... there
    ...     commit("runs/x", staged)
"""

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from kzoo.files import check_writable, fsync, is_temporary
from kzoo.model_card import CARD_FILE, MODEL_FILE, ModelCard, listed_figures

CHECKPOINT_DIR = "checkpoint"
LOCK_FILE = ".kzoo-lock"
STAGING_DIR = ".tmp-run"  # a temporary name: a later run removes what a kill left


class RunLocked(FileExistsError):
    """Another process holds the run directory's lock (it is training that run)."""


@contextlib.contextmanager
def lock(out):
    """Holds the lock of the run directory ``out`` (created if absent, and removed again if
    the block leaves it empty) for the block; ``RunLocked`` at once when another process
    holds it."""
    out = Path(out)
    created = not out.exists()
    try:
        check_writable(out)
    except OSError as err:
        raise OSError(f"cannot write the run directory {out}: {err.strerror or err}.") from err
    path = out / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLocked(f"{out} is being written by another kzoo train (pid "
                                  f"{holder}); wait for it to finish, or choose another "
                                  f"--out.") from None
        try:  # the holder may have removed the file between our open and our lock
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # while still holding it: see the inode check above
        os.close(fd)
        if created and not any(out.iterdir()):  # a run refused before writing anything
            out.rmdir()


def identity(recipe_sha256, epochs, backend, data_sha256=None):
    """What makes two runs the same run: the recipe (its sha256), the epochs and the backend
    (the seed is the recipe's), and for data of one's own (``[data] path``) the sha256 of its
    file or folder."""
    return {"recipe_sha256": recipe_sha256, "epochs": epochs, "backend": backend,
            **({} if data_sha256 is None else {"data_sha256": data_sha256})}


def of_card(card, run):
    """The ``identity`` of the run whose card is ``card``, with the data's sha256 (its
    provenance's first step: ``file_sha256`` or ``files_sha256``) where ``run`` has one."""
    data = None
    if "data_sha256" in run:
        read = (card.data.get("provenance") or [{}])[0]
        data = read.get("file_sha256") or read.get("files_sha256") or "unknown"
    return identity(card.recipe_sha256, card.epochs, card.backend, data)


def finished(out, run):
    """The card in ``out`` when it holds the completed run ``run`` (an ``identity``), else
    None: ``kzoo train`` then says the run is done instead of training it again."""
    try:
        card = ModelCard.read(out)
    except (ValueError, OSError):
        return None
    return card if of_card(card, run) == run else None


def check(out, run, overwrite):
    """Whether ``out`` may take the run ``run`` (an ``identity``); returns True when it
    holds an interrupted run of it to resume. Writes nothing.

    ``out`` may be absent or empty, or hold an interrupted run of the same recipe, epochs
    and backend (it resumes). Anything else, a completed run too (``finished`` finds the
    same run), is refused unless ``overwrite``; a directory named as the run's card or model
    is refused even so. A checkpoint that cannot be read is refused
    (``kzoo.resume.CheckpointError``) whatever it holds.
    """
    from kzoo.resume import mismatch, read_progress

    out = Path(out)
    if overwrite:
        blocked = [out / name for name in (CARD_FILE, MODEL_FILE) if (out / name).is_dir()]
        if blocked:  # found now, not after the training, when the files are moved in
            raise FileExistsError(
                f"{blocked[0]} is a directory, where the run writes its "
                f"{'card' if blocked[0].name == CARD_FILE else 'model'}; remove it or "
                f"choose another --out.")
        return False
    progress = read_progress(out / CHECKPOINT_DIR)
    if progress is not None:
        if progress["identity"] != run:
            raise FileExistsError(
                f"{out} holds an interrupted run of another recipe or setting "
                f"({mismatch(progress['identity'], run)}); run that command to resume "
                f"it, or choose another --out, or pass --overwrite.")
        return True
    if out.is_dir() and any(not is_temporary(p) and p.name != LOCK_FILE
                            for p in out.iterdir()):
        try:
            card = ModelCard.read(out)
        except (ValueError, OSError):
            raise FileExistsError(
                f"{out} already holds a different run (or other files); choose another "
                f"--out or pass --overwrite.") from None
        there = of_card(card, run)
        what = "this recipe" if there["recipe_sha256"] == run["recipe_sha256"] else \
            "a different recipe"
        raise FileExistsError(
            f"{out} already holds a different run: a finished run of {what} "
            f"({mismatch(there, run)}); choose another --out or pass --overwrite to replace "
            f"it.")
    return False


def _figures(out):
    """The figures of the finished run in ``out``: those its card lists
    (``model_card.listed_figures``); every ``*.png`` file there when its card has no such
    list (an older kzoo's card) or cannot be read."""
    listed = listed_figures(out)
    if listed is None:
        return {p.name for p in out.glob("*.png") if p.is_file()}
    return {name for name in listed if (out / name).is_file()}


def interrupted(path):
    """Whether ``path`` holds what ``kzoo train`` writes before a run's card (a model, a
    checkpoint, staged files) and no card: an interrupted run."""
    path = Path(path)
    return path.is_dir() and not (path / CARD_FILE).exists() and any(
        (path / name).exists() for name in (MODEL_FILE, CHECKPOINT_DIR, STAGING_DIR))


def prepare(out, resuming):
    """Removes what a kill left in ``out`` (temporary files, a staging directory), and the
    checkpoint unless ``resuming``."""
    out = Path(out)
    for path in out.iterdir():
        if is_temporary(path):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    if not resuming:
        shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)


def staging(out):
    """A fresh, empty ``out/.tmp-run/`` for the run's files."""
    staged = Path(out) / STAGING_DIR
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    return staged


def commit(out, staged):
    """Moves the files of ``staged`` into ``out``: replacing a finished run, its figures
    (``_figures``) that this run does not write, then its card; then each file, the new
    card last; then removes ``staged`` and the checkpoint."""
    out, staged = Path(out), Path(staged)
    files = sorted(staged.iterdir(), key=lambda p: p.name == CARD_FILE)  # card last
    if (out / CARD_FILE).exists():  # figures first: a kill between leaves the old card
        for old in _figures(out) - {p.name for p in files}:
            (out / old).unlink()
        (out / CARD_FILE).unlink()
    fsync(out)
    for path in files:
        os.replace(path, out / path.name)
        if path.name == CARD_FILE:
            fsync(out)
    staged.rmdir()
    shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
