"""Presets published beyond the package: a URL or a hub handle, downloaded once into a cache.

A published preset is a directory served over HTTP(S) with the files of a zoo entry
(``card.json``, ``model.keras``, optionally ``README.md`` and the figures its card lists).
Handles:

- ``https://host/path/preset`` (or ``http://``): the directory's URL, with no user
  information (``user:password@``), query (``?``), fragment (``#``) or ``..`` segment;
- ``hf://owner/repo``: a Hugging Face model repository holding those files at its root, in
  the style of keras-hub's ``from_preset`` (``HF_ENDPOINT`` overrides the host, as in
  ``huggingface_hub``); owner and repo are letters, digits, ``.``, ``_`` and ``-``, the
  first a letter or digit, with no ``..``.

The first ``kzoo.load(handle)`` downloads the card, checks it (``ModelCard.check_code``: a game
that would import code needs ``trust_code``), downloads the model, checks its sha256 against
the card and only then moves the downloaded files into the cache (``KZOO_CACHE``, else
``$XDG_CACHE_HOME/kzoo``, else ``~/.cache/kzoo``); on any refusal nothing is cached. The
entry's ``source.txt`` records the handle, the card's URL after redirects and the sha256 of
the card and of the model; later loads check the cached card against it.

Limits of a download:

- a deadline for the whole preset (card, model, README, figures), checked between chunks
  and given to every socket read as its timeout: ``fetch``'s ``deadline_s``, else
  ``KZOO_DOWNLOAD_DEADLINE_S``, else ``DEADLINE_S`` = 600 s;
- sizes, reading stopped once one is passed: ``card.json``, ``README.md`` and each figure
  (a ``.png`` the card's ``figures`` names, at most ``model_card.MAX_FIGURES`` = 16; its
  README shows them) up to ``MAX_CARD_BYTES`` (1 MiB, ``model_card.MAX_BYTES``);
  ``model.keras`` exactly the card's ``model_bytes`` if it has one, else up to
  ``MAX_MODEL_BYTES`` (2 GiB, or ``KZOO_MAX_MODEL_BYTES``, which also bounds
  ``model_bytes``);
- redirects: followed on the same scheme, host and port; to another host only if allowed
  (``fetch``'s ``allow_redirects_to`` or ``KZOO_ALLOW_REDIRECT_HOSTS``, comma separated;
  ``.example.org`` allows its subdomains). An ``hf://`` handle on the default endpoint may
  also go to Hugging Face's file hosts (``HF_FILE_HOSTS``), where it keeps large files.

Examples:
    >>> model = kzoo.load("https://example.org/zoo/digits-lt10-cnn-ce")
    >>> model = kzoo.load("hf://someone/digits-cnn-madry")
"""

import hashlib
import http.client
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from kzoo import model_card, validate
from kzoo.files import sha256
from kzoo.model_card import CARD_FILE, MODEL_FILE, ModelCard

SCHEMES = ("http://", "https://", "hf://")
OPTIONAL_FILES = ("README.md",)
SOURCE_FILE = "source.txt"
DEADLINE_S = 600
MAX_CARD_BYTES = model_card.MAX_BYTES  # what ModelCard.read accepts; also README, figures
MAX_MODEL_BYTES = 2 << 30
HF_ENDPOINT = "https://huggingface.co"
HF_FILE_HOSTS = (".hf.co", ".huggingface.co")
CHUNK = 1 << 20
PORTS = {"http": 80, "https": 443}


class _Refused(OSError):
    """A download refused (deadline, size, truncation, redirect); its message is final."""


def is_remote(handle):
    """Whether ``handle`` names a published preset (a URL or a hub handle).

    Examples:
        >>> is_remote("hf://someone/digits-cnn-madry"), is_remote("digits-lt10-cnn-ce")
        (True, False)
    """
    return isinstance(handle, str) and handle.startswith(SCHEMES)


def cache_dir():
    """Where downloaded presets are kept: ``KZOO_CACHE``, else ``$XDG_CACHE_HOME/kzoo``, else
    ``~/.cache/kzoo``.

    Examples:
        >>> os.environ["KZOO_CACHE"] = "/tmp/kzoo-cache"
        >>> cache_dir()
        PosixPath('/tmp/kzoo-cache')
    """
    if os.environ.get("KZOO_CACHE"):
        return Path(os.environ["KZOO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kzoo"


def base_url(handle):
    """The URL of the directory that ``handle`` names; ``ValueError`` for a handle that is
    not allowed (see the module's docstring), before any network access.

    Examples:
        >>> base_url("hf://someone/digits-cnn-madry")  # HF_ENDPOINT unset
        'https://huggingface.co/someone/digits-cnn-madry/resolve/main'
        >>> base_url("https://example.org/zoo/digits-lt10-cnn-ce/")
        'https://example.org/zoo/digits-lt10-cnn-ce'
        >>> base_url("https://example.org/zoo/x?version=2")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: a preset URL is http(s)://host/path with no query ('?'), fragment ...
    """
    _no_credentials(handle)
    if handle.startswith("hf://"):
        owner, _, repo = handle.removeprefix("hf://").rstrip("/").partition("/")
        if not (validate.is_plain_name(owner) and validate.is_plain_name(repo)):
            raise ValueError(
                f"a hub handle is hf://owner/repo, owner and repo made of letters, digits, "
                f"'.', '_' and '-' (the first a letter or digit, no '..'); got {handle!r}.")
        endpoint = os.environ.get("HF_ENDPOINT", HF_ENDPOINT).rstrip("/")
        return _checked_url(f"{endpoint}/{owner}/{repo}/resolve/main", handle)
    return _checked_url(handle.rstrip("/"), handle)


def fetch(handle, trust_code=False, deadline_s=None, allow_redirects_to=()):
    """The local directory of the published preset ``handle``, downloaded on first use.

    Args:
        handle: str. ``https://host/path/preset`` or ``hf://owner/repo``.
        trust_code: bool. Accept a card whose game would import code (``ModelCard.check_code``).
        deadline_s: float or None. Seconds for the whole download; None: the environment's
            ``KZOO_DOWNLOAD_DEADLINE_S``, else ``DEADLINE_S``.
        allow_redirects_to: hosts (``.domain`` for its subdomains; a str is split at
            commas) that a redirect may go to, besides ``KZOO_ALLOW_REDIRECT_HOSTS``.

    Examples:
        >>> directory = kzoo.hub.fetch("https://example.org/zoo/x", deadline_s=120,
        ...                            allow_redirects_to=("cdn.example.org",))
    """
    validate.boolean("trust_code", trust_code)
    url = base_url(handle)
    target = cache_dir() / "presets" / hashlib.sha256(url.encode()).hexdigest()[:24]
    recorded = _recorded(target)
    if {"card_url", "card_sha256"} <= recorded.keys() and (target / CARD_FILE).is_file() \
            and (target / MODEL_FILE).is_file():
        if sha256(target / CARD_FILE) != recorded["card_sha256"]:
            raise ValueError(
                f"{target / CARD_FILE}: sha256 differs from the one recorded in "
                f"{SOURCE_FILE} when it was downloaded; delete the cache entry {target} to "
                f"download it again.")
        ModelCard.read(target).check_code(_directory(recorded["card_url"]), trust_code)
        return target
    if deadline_s is None:
        deadline_s = _from_env("KZOO_DOWNLOAD_DEADLINE_S", DEADLINE_S, float)
    deadline_s = validate.number("deadline_s", deadline_s, low=0, low_open=True)
    max_model_bytes = _from_env("KZOO_MAX_MODEL_BYTES", MAX_MODEL_BYTES, int)
    if isinstance(allow_redirects_to, str):
        allow_redirects_to = allow_redirects_to.split(",")
    allowed = [*allow_redirects_to, *os.environ.get("KZOO_ALLOW_REDIRECT_HOSTS", "").split(",")]
    if handle.startswith("hf://") and "HF_ENDPOINT" not in os.environ:
        allowed += HF_FILE_HOSTS
    download = _Download(deadline_s, [h.strip().lower() for h in allowed if h.strip()])
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        card_url = download(f"{url}/{CARD_FILE}", staging / CARD_FILE,
                            MAX_CARD_BYTES, "MAX_CARD_BYTES")
        try:
            card = ModelCard.read(staging)
        except ValueError as err:  # named by its URL, not by the staging file
            raise ValueError(str(err).replace(str(staging / CARD_FILE), card_url)) from None
        card.check_code(_directory(card_url), trust_code)
        download(f"{url}/{MODEL_FILE}", staging / MODEL_FILE,
                 *_model_cap(card, card_url, max_model_bytes))
        got = sha256(staging / MODEL_FILE)
        if got != card.sha256:
            raise ValueError(
                f"{url}/{MODEL_FILE}: sha256 {got[:16]}... does not match its card "
                f"({card.sha256[:16]}...); refused, nothing cached.")
        for name in (*OPTIONAL_FILES, *(card.figures or ())):  # names checked with the card
            download(f"{url}/{name}", staging / name, MAX_CARD_BYTES, "MAX_CARD_BYTES",
                     optional=True)
        (staging / SOURCE_FILE).write_text(
            f"handle: {handle}\ncard_url: {card_url}\n"
            f"card_sha256: {sha256(staging / CARD_FILE)}\nmodel_sha256: {got}\n",
            encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)  # a partial or an older version's entry
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


class _Download:
    """The downloads of one preset: one deadline for all, redirects only to allowed hosts."""

    def __init__(self, deadline_s, allowed_hosts):
        self.deadline_s, self.end = deadline_s, time.monotonic() + deadline_s
        self.opener = urllib.request.build_opener(_Redirects(allowed_hosts))

    def __call__(self, url, path, cap, cap_source, exact=False, optional=False):
        """Streams ``url`` into ``path`` (at most ``cap`` bytes; exactly ``cap`` if
        ``exact``); the final URL after redirects, or None for a missing optional file."""
        try:
            with self.opener.open(url, timeout=self._left(url)) as response, \
                    open(path, "wb") as f:
                self._stream(response, f, url, cap, cap_source, exact)
                return response.geturl()
        except _Refused:
            raise
        except urllib.error.HTTPError as err:
            if optional and err.code == 404:
                return None
            raise OSError(f"cannot download {url}: HTTP {err.code} {err.reason}.") from err
        except (OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", None) or err
            if isinstance(reason, TimeoutError):  # every timeout set is the time left
                raise self._late(url) from err
            raise OSError(f"cannot download {url}: {reason}.") from err

    def _stream(self, response, f, url, cap, cap_source, exact):
        length = response.headers.get("Content-Length", "")
        declared = int(length) if length.isdigit() else None
        over = _Refused(f"{url}: over the cap of {cap} bytes ({cap_source}); refused, "
                        f"nothing cached.")
        if declared is not None and declared > cap:
            raise over
        # The socket's timeout bounds one read: each read gets only the time left.
        sock = getattr(getattr(response.fp, "raw", None), "_sock", None)
        got = 0
        while True:
            left = self._left(url)
            if sock is not None:
                sock.settimeout(left)
            block = response.read1(min(CHUNK, cap + 1 - got))
            if not block:
                break
            got += len(block)
            if got > cap:
                raise over
            f.write(block)
        want = max(declared or 0, cap if exact else 0)
        if got < want:
            raise _Refused(f"{url}: truncated download (got {got} of {want} bytes); refused, "
                           f"nothing cached.")

    def _left(self, url):
        left = self.end - time.monotonic()
        if left <= 0:
            raise self._late(url)
        return left

    def _late(self, url):
        return _Refused(f"download of {url} exceeded its deadline of {self.deadline_s:g} s "
                        f"(KZOO_DOWNLOAD_DEADLINE_S); nothing cached.")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect on the same scheme, host and port, or to an allowed host."""

    def __init__(self, allowed_hosts):
        self.allowed_hosts = allowed_hosts

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = urllib.parse.urlsplit(newurl)
        host = (new.hostname or "").lower()
        if new.scheme not in PORTS or (_origin(newurl) != _origin(req.full_url) and not any(
                host == h or (h.startswith(".") and host.endswith(h))
                for h in self.allowed_hosts)):
            raise _Refused(
                f"{_redacted(req.full_url)} redirects to {_redacted(newurl)}, on another "
                f"scheme, host or port; refused, nothing cached (allow its host with "
                f"allow_redirects_to or KZOO_ALLOW_REDIRECT_HOSTS).")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _origin(url):
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or PORTS.get(parts.scheme)


def _redacted(url):
    """``url`` with its user information (what precedes ``@`` before the path) as ``***``."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}{sep}***@{authority.rpartition('@')[2]}{slash}{path}"


def _no_credentials(url):
    if _redacted(url) != url:
        raise ValueError(f"{_redacted(url)}: a URL with credentials (a user name or password "
                         f"before '@') is refused; they would be sent on and recorded.")


def _checked_url(url, handle):
    _no_credentials(url)  # from HF_ENDPOINT, for a hub handle
    parts = urllib.parse.urlsplit(url)
    segments = re.split(r"[/\\]", urllib.parse.unquote(parts.path))
    if (parts.scheme not in PORTS or not parts.hostname or ".." in segments
            or re.search(r"[\x00-\x20\x7f?#]", url)):
        raise ValueError(
            f"a preset URL is http(s)://host/path with no query ('?'), fragment ('#'), "
            f"whitespace or '..' segment; got {handle!r}.")
    return url


def _directory(card_url):
    """The URL of the directory of the card at ``card_url``."""
    return card_url.removesuffix(f"/{CARD_FILE}")


def _recorded(target):
    """The ``key: value`` lines of a cache entry's source file; {} if there is none."""
    try:
        lines = (target / SOURCE_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def _model_cap(card, card_url, limit):
    """``(cap, where it comes from, exact)`` for the model of ``card``."""
    size = card.model_bytes
    if size is None:
        return limit, "KZOO_MAX_MODEL_BYTES", False
    if size > limit:  # ModelCard.read checked that it is an int >= 1
        raise _Refused(f"{card_url}: model_bytes {size} is over the cap of {limit} bytes "
                       f"(KZOO_MAX_MODEL_BYTES); refused, nothing cached.")
    return size, "the card's model_bytes", True


def _from_env(name, default, kind):
    """The environment's ``name``, a positive ``kind`` (int or float), else ``default``."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = raw  # refused below, as given
    if kind is int:
        return validate.integer(name, value, low=1)
    return validate.number(name, value, low=0, low_open=True)
