"""The model zoo: presets in ``saved_models/<name>/`` (``model.keras`` + ``card.json``).

The zoo is ``kzoo/saved_models`` (in the wheel; a link to ``saved_models/`` in a checkout),
or the directory named by ``KZOO_ZOO``. ``load`` also takes a run directory, a URL of a
published preset directory or a hub handle (``kzoo.hub``; downloaded once, then cached).

Example:
    >>> import kzoo
    >>> [card["name"] for card in kzoo.presets()]
    ['digits-lt10-cnn-ce', 'digits-lt10-cnn-ldam-drw']
    >>> model = kzoo.load("digits-lt10-cnn-ce")
"""

import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path

ZOO_DIR = Path(os.environ.get("KZOO_ZOO") or Path(__file__).resolve().parent / "saved_models")
MODEL_FILE = "model.keras"
CARD_FILE = "card.json"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


CARD_KEYS = ("name", "game", "backend", "metrics", "sha256", "recipe_spec", "data")


def presets():
    """The cards of every preset in the zoo, sorted by name. A card that cannot be read is
    left out with a warning naming its file (``scan()`` lists them)."""
    cards, broken = scan()
    for path, err in broken:
        warnings.warn(f"{path}: {err}; left out of the zoo.", stacklevel=2)
    return cards


def scan():
    """``(cards, broken)``: the readable cards of the zoo, and ``[(card path, reason)]`` for
    the others."""
    cards, broken = [], []
    if ZOO_DIR.is_dir():
        for d in sorted(ZOO_DIR.iterdir()):
            if (d / CARD_FILE).is_file():
                try:
                    cards.append(read_card(d))
                except ValueError as err:
                    broken.append((d / CARD_FILE, str(err).removeprefix(f"{d / CARD_FILE}: ")))
    return cards, broken


def serves(card):
    """What the game of ``card`` serves (``Game.serves``), read from its class."""
    import kzoo.games

    return kzoo.games.get(card["game"]).serves


def preset_names():
    return [card["name"] for card in scan()[0]]


def resolve(name_or_dir):
    """The directory of a preset name, of a run directory holding a card, or the cache
    directory of a published preset (a URL or a hub handle, ``kzoo.hub``; downloaded on
    first use)."""
    from kzoo import hub

    if not isinstance(name_or_dir, (str, os.PathLike)):
        raise ValueError(f"name_or_dir must be a preset name, a run directory, a URL or a hub "
                         f"handle; got {name_or_dir!r}.")
    if hub.is_remote(name_or_dir):
        return hub.fetch(name_or_dir)
    path = Path(name_or_dir)
    if path.is_dir() and (path / CARD_FILE).is_file():
        return path
    if (ZOO_DIR / str(name_or_dir) / CARD_FILE).is_file():
        return ZOO_DIR / str(name_or_dir)
    raise ValueError(
        f"Unknown preset {str(name_or_dir)!r} (and no run directory with a {CARD_FILE} there); "
        f"presets: {', '.join(preset_names()) or 'none'}."
    )


def read_card(directory):
    """The card of a preset or run directory; ``ValueError`` naming the file if it is not
    valid JSON or lacks a key."""
    path = Path(directory) / CARD_FILE
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:  # UnicodeDecodeError is one
        raise ValueError(f"{path}: not a valid JSON card ({err}).") from err
    if not isinstance(card, dict):
        raise ValueError(f"{path}: a card is a JSON object; got {type(card).__name__}.")
    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        raise ValueError(f"{path}: the card lacks {', '.join(missing)}.")
    return card


def load(name_or_dir, verify=True):
    """Loads a preset (or run directory) on the current backend.

    Checks the sha256 of ``model.keras`` against the card, then loads it with
    ``safe_mode=True``. Works whatever backend trained it.

    Args:
        name_or_dir: str. A preset name (``kzoo.presets()``), a directory
            written by ``kzoo train``, the URL of a published preset directory
            (``https://host/path/preset``) or a hub handle (``hf://owner/repo``);
            remote presets are downloaded once into ``kzoo.hub.cache_dir()``.
        verify: bool. Check the sha256. Default True.
    """
    directory = resolve(name_or_dir)
    card = read_card(directory)
    path = directory / MODEL_FILE
    if not path.is_file():
        raise ValueError(f"{directory} has a card but no {MODEL_FILE}.")
    if verify and sha256(path) != card.get("sha256"):
        raise ValueError(
            f"{path}: sha256 {sha256(path)[:16]}... does not match its card "
            f"({str(card.get('sha256'))[:16]}...); the file changed or is corrupt."
        )
    serves(card)  # imports the module of a game defined outside kzoo, which registers it
    return load_file(path)


def load_file(path):
    """``keras.saving.load_model(path, safe_mode=True)`` with kzoo's classes registered."""
    import keras

    import kzoo.games  # noqa: F401  (registers kzoo's classes)

    if not Path(path).is_file():
        raise ValueError(f"No .keras file at {path}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable .keras archive (truncated or corrupt).")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as err:
        raise ValueError(f"{path} is not a readable .keras archive (truncated?): {err}") from err
