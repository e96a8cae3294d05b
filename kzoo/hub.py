"""Presets published beyond the package: a URL or a hub handle, downloaded once into a cache.

A published preset is a directory served over HTTP(S) with the files of a zoo entry
(``card.json``, ``model.keras``, optionally ``README.md``). Handles:

- ``https://host/path/preset`` (or ``http://``): the directory's URL;
- ``hf://owner/repo``: a Hugging Face model repository holding those files at its root, in
  the style of keras-hub's ``from_preset`` (``HF_ENDPOINT`` overrides the host, as in
  ``huggingface_hub``).

The first ``kzoo.load(handle)`` downloads the card, then the model, checks the model's
sha256 against the card and only then moves both into the cache (``KZOO_CACHE``, else
``$XDG_CACHE_HOME/kzoo``, else ``~/.cache/kzoo``); a model that does not match is refused
and nothing is cached. Later loads read the cache (and check the sha256 again).

Example:
    >>> model = kzoo.load("https://example.org/zoo/digits-lt10-cnn-ce")
    >>> model = kzoo.load("hf://someone/digits-cnn-madry")
"""

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from kzoo import zoo

SCHEMES = ("http://", "https://", "hf://")
OPTIONAL_FILES = ("README.md",)
TIMEOUT_S = 60
CHUNK = 1 << 20


def is_remote(handle):
    """Whether ``handle`` names a published preset (a URL or a hub handle)."""
    return isinstance(handle, str) and handle.startswith(SCHEMES)


def cache_dir():
    """Where downloaded presets are kept."""
    if os.environ.get("KZOO_CACHE"):
        return Path(os.environ["KZOO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kzoo"


def base_url(handle):
    """The URL of the directory that ``handle`` names."""
    if handle.startswith("hf://"):
        repo = handle.removeprefix("hf://").strip("/")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise ValueError(f"a hub handle is hf://owner/repo; got {handle!r}.")
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        return f"{endpoint}/{repo}/resolve/main"
    return handle.rstrip("/")


def fetch(handle):
    """The local directory of the published preset ``handle``, downloaded on first use."""
    url = base_url(handle)
    target = cache_dir() / "presets" / hashlib.sha256(url.encode()).hexdigest()[:24]
    if (target / zoo.CARD_FILE).is_file() and (target / zoo.MODEL_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        _download(f"{url}/{zoo.CARD_FILE}", staging / zoo.CARD_FILE)
        card = zoo.read_card(staging)
        _download(f"{url}/{zoo.MODEL_FILE}", staging / zoo.MODEL_FILE)
        got = zoo.sha256(staging / zoo.MODEL_FILE)
        if got != card["sha256"]:
            raise ValueError(
                f"{url}/{zoo.MODEL_FILE}: sha256 {got[:16]}... does not match its card "
                f"({str(card['sha256'])[:16]}...); refused, nothing cached.")
        for name in OPTIONAL_FILES:
            _download(f"{url}/{name}", staging / name, optional=True)
        (staging / "source.txt").write_text(handle + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)  # a partial entry an old version left
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(url, path, optional=False):
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(path, "wb") as f:
            shutil.copyfileobj(response, f, CHUNK)
    except urllib.error.HTTPError as err:
        if optional and err.code == 404:
            return
        raise OSError(f"cannot download {url}: HTTP {err.code} {err.reason}.") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise OSError(f"cannot download {url}: {reason}.") from err
