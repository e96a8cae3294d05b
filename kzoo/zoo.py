"""The model zoo: presets in ``saved_models/<name>/`` (``model.keras`` + ``card.json``).

The zoo is the directory named by ``KZOO_ZOO``, else a checkout's ``saved_models/`` (through
the link ``kzoo/saved_models``), else that of the installed ``kzoo-presets`` distribution
(``pip install 'kzoo[presets]'``; kzoo's own wheel holds no preset). ``load`` also takes a
run directory, a URL of a published preset directory or a hub handle (``kzoo.hub``;
downloaded once, then cached).

Examples:
    >>> import kzoo
    >>> [card.name for card in kzoo.presets()][:2]
    ['digits-acgan', 'digits-cnn-ce']
    >>> model = kzoo.load("digits-lt10-cnn-ce")
"""

import importlib.util
import os
import re
import warnings
import zipfile
from pathlib import Path

from kzoo import hub, run_dir, validate
from kzoo.files import sha256  # noqa: F401  (kzoo.zoo.sha256: a model's checksum)
from kzoo.model_card import CARD_FILE, MODEL_FILE, ModelCard

INSTALL = "pip install 'kzoo[presets]'"  # what adds the presets to an installed kzoo


def _find_zoo():
    """``KZOO_ZOO``, a checkout's ``saved_models/``, or the installed ``kzoo_presets``
    package's (found, not imported); the checkout's path, absent, when there are none."""
    if os.environ.get("KZOO_ZOO"):
        return Path(os.environ["KZOO_ZOO"])
    checkout = Path(__file__).resolve().parent / "saved_models"
    spec = None if checkout.is_dir() else importlib.util.find_spec("kzoo_presets")
    return Path(spec.origin).parent / "saved_models" if spec else checkout


ZOO_DIR = _find_zoo()


def presets():
    """The cards (``ModelCard``) of every preset in the zoo, sorted by name. A card that
    cannot be read is left out with a warning naming its file; with no presets installed,
    a warning says how to install them (``scan()`` returns the warnings' text).

    Examples:
        >>> [card.name for card in kzoo.presets() if card.game == "PGDAdversarialTraining"]
        ['digits-cnn-madry', 'fashion_mnist-cnn-madry']
    """
    cards, problems = scan()
    for problem in problems:
        warnings.warn(problem, stacklevel=2)
    return cards


def scan():
    """``(cards, problems)``: the readable cards of the zoo, and a sentence for each card
    left out (naming its file and why) or for a zoo not installed.

    Examples:
        >>> cards, problems = kzoo.zoo.scan()
        >>> cards[0].name, problems
        ('digits-acgan', [])
    """
    if not ZOO_DIR.is_dir():
        return [], [f"No presets are installed (no {ZOO_DIR}): {INSTALL}."]
    cards, problems = [], []
    for d in sorted(ZOO_DIR.iterdir()):
        if (d / CARD_FILE).is_file():
            try:
                cards.append(ModelCard.read(d))
            except ValueError as err:
                problems.append(f"{err}".removesuffix(".") + "; left out of the zoo.")
    return cards, problems


def preset_names():
    return [card.name for card in scan()[0]]


def resolve(name_or_dir, trust_code=False):
    """The directory of a preset name, of a run directory holding a card, or the cache
    directory of a published preset (a URL or a hub handle, ``kzoo.hub``; downloaded on
    first use, ``trust_code`` as in ``load``).

    Examples:
        >>> directory = kzoo.zoo.resolve("digits-lt10-cnn-ce")  # in the zoo
        >>> directory.name, (directory / "card.json").is_file()
        ('digits-lt10-cnn-ce', True)
        >>> kzoo.zoo.resolve("runs/digits-lt10-cnn-ce")  # a run kzoo train wrote: as given
        PosixPath('runs/digits-lt10-cnn-ce')
    """
    if not isinstance(name_or_dir, (str, os.PathLike)):
        raise ValueError(f"name_or_dir must be a preset name, a run directory, a URL or a hub "
                         f"handle; got {name_or_dir!r}.")
    validate.boolean("trust_code", trust_code)
    if hub.is_remote(name_or_dir):
        return hub.fetch(name_or_dir, trust_code=trust_code)
    path = Path(name_or_dir)
    if path.is_dir() and (path / CARD_FILE).is_file():
        return path
    if run_dir.interrupted(path):
        raise ValueError(f"{path} holds an interrupted kzoo train (no {CARD_FILE} yet): run the "
                         f"same kzoo train command to resume and finish it.")
    preset = ZOO_DIR / str(name_or_dir)
    if validate.is_plain_name(str(name_or_dir)) and (preset / CARD_FILE).is_file():
        return preset
    if not ZOO_DIR.is_dir():
        raise ValueError(
            f"{str(name_or_dir)!r} is not a run directory with a {CARD_FILE}, and no presets "
            f"are installed (no {ZOO_DIR}): {INSTALL} adds them, or KZOO_ZOO=/dir names a zoo."
        )
    raise ValueError(
        f"Unknown preset {str(name_or_dir)!r} (and no run directory with a {CARD_FILE} there); "
        f"presets: {', '.join(preset_names()) or 'none'}."
        f"{validate.did_you_mean(name_or_dir, preset_names())}"
    )


def open_card(name_or_dir, trust_code=False):
    """``(directory, card)`` of a preset, run, URL or hub handle: ``resolve``,
    ``ModelCard.read`` and, for a URL or hub handle, ``ModelCard.check_code``, so that
    nothing the card names is imported before it is checked.

    Examples:
        >>> directory, card = kzoo.zoo.open_card("digits-lt10-cnn-ce")
        >>> card.name, card.game, card.backend
        ('digits-lt10-cnn-ce', 'Classifier', 'torch')
    """
    directory = resolve(name_or_dir, trust_code)
    card = ModelCard.read(directory)
    if hub.is_remote(name_or_dir):
        card.check_code(name_or_dir, trust_code)
    return directory, card


def load(name_or_dir, verify=True, trust_code=False):
    """Loads a preset (or run directory) on the current backend.

    Checks the card (``ModelCard.read``), the sha256 of ``model.keras`` against it, then loads
    it with ``safe_mode=True``. Works whatever backend trained it.

    Args:
        name_or_dir: str. A preset name (``kzoo.presets()``), a directory
            written by ``kzoo train``, the URL of a published preset directory
            (``https://host/path/preset``) or a hub handle (``hf://owner/repo``);
            remote presets are downloaded once into ``kzoo.hub.cache_dir()``.
        verify: bool. Check the sha256. Default True.
        trust_code: bool. Whether a URL's or hub handle's card may name a game defined
            outside kzoo (``"module:Class"``), whose module is then imported: only for a
            publisher you trust. Default False. A local directory's card may always.

    Examples:
        >>> model = kzoo.load("digits-lt10-cnn-ce")
        >>> type(model).__name__, model.serves
        ('Classifier', ('classifier',))
        >>> model = kzoo.load("runs/digits-lt10-cnn-ce")  # a run written by kzoo train
        >>> model = kzoo.load("hf://someone/digits-cnn-madry")  # downloaded once, then cached
    """
    validate.boolean("verify", verify)
    directory, card = open_card(name_or_dir, trust_code)
    path = directory / MODEL_FILE
    if not path.is_file():
        raise ValueError(f"{directory} has a card but no {MODEL_FILE}.")
    if verify and sha256(path) != card.sha256:
        raise ValueError(
            f"{path}: sha256 {sha256(path)[:16]}... does not match its card "
            f"({card.sha256[:16]}...); the file changed or is corrupt."
        )
    import kzoo.games

    kzoo.games.get(card.game)  # imports the module of a game defined outside kzoo (registers it)
    return load_file(path)


def load_file(path, safe_mode=True):
    """``keras.saving.load_model(path, safe_mode=safe_mode)`` with kzoo's classes registered.

    In safe mode (``kzoo.load`` always loads so) a file that holds a torch module
    (``keras.layers.TorchModuleWrapper``, which Keras stores as a pickle) is refused, saying
    so. ``safe_mode=False`` loads it, running the pickle's code: only for a file you saved
    yourself, never for one from elsewhere.

    Examples:
        >>> game.save("game.keras")  # a game whose net wraps a torch module
        >>> game = kzoo.zoo.load_file("game.keras", safe_mode=False)
    """
    import keras

    import kzoo.games  # noqa: F401  (registers kzoo's classes)

    validate.boolean("safe_mode", safe_mode)
    if not Path(path).is_file():
        raise ValueError(f"No .keras file at {path}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable .keras archive (truncated or corrupt).")
    try:
        return keras.saving.load_model(path, safe_mode=safe_mode)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as err:
        raise ValueError(f"{path} is not a readable .keras archive (truncated?): {err}") from err
    except (TypeError, ValueError) as err:
        if PICKLED_TORCH in str(err):
            raise ValueError(
                f"{Path(path).name} holds a torch module (keras.layers.TorchModuleWrapper), "
                f"which Keras stores as a pickle: loading it runs code, so safe mode refuses "
                f"it. A file you saved yourself loads with kzoo.zoo.load_file(path, "
                f"safe_mode=False); never load a file from elsewhere that way.") from err
        unknown = UNLOCATED.search(str(err))
        if unknown is None:
            raise
        name = ".".join(part for part in unknown.group(2, 1) if part)
        raise ValueError(f"{Path(path).name} names the class {name[:60]!r}, which is not "
                         f"one of Keras' or kzoo's: refused (KZOO_DEBUG=1 shows more).") from err


# Keras' refusal, in safe mode, of a torch module (TorchModuleWrapper pickles it).
PICKLED_TORCH = "via `torch.load()`"
# Keras' message for a config class it cannot locate (the module follows, in the config).
UNLOCATED = re.compile(r"Could not locate class '([^']*)'(?:.*?'module': '([^']*)')?",
                       re.DOTALL)
