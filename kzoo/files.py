"""Writing files so that a kill or a crash at any moment leaves the old file or the new one,
never half of one (data synced to disk before the rename).

Examples:
    >>> with atomic_path("runs/x/card.json") as tmp:
    ...     Path(tmp).write_text("{}")
"""

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

TEMPORARY_PREFIX = ".tmp-"


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; on success renames it to ``path`` with the
    usual permissions (0666 less the umask; ``mkstemp`` alone gives 0600). On failure the
    temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    suffix = "".join(path.suffixes)  # Keras infers the format from it (".keras", ".weights.h5")
    fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        fsync(tmp)  # the data on disk before the name points at it
        os.replace(tmp, path)
        fsync(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fsync(path):
    """Flushes the file or directory ``path`` to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(directory):
    """Creates ``directory`` (and its parents) and a file in it, then removes the file:
    raises ``OSError`` now rather than after hours of training."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=directory)
    os.close(fd)
    os.unlink(tmp)


def is_temporary(path):
    """Whether ``path`` is a leftover of ``atomic_path`` (a crash before its rename)."""
    return Path(path).name.startswith(TEMPORARY_PREFIX)


def write_json(path, obj):
    """Writes ``obj`` as indented JSON, atomically; NumPy values become lists or numbers."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=_jsonable)
        f.write("\n")


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def sha256(path):
    """The sha256 of the file at ``path``, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
