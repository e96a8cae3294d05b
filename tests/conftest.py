"""Shared fixtures and helpers for kzoo's tests."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import art  # noqa: F401  (see below)
import keras
import numpy as np
import pytest

# The Adversarial Robustness Toolbox (the `test` extra) binds a logging handler to the
# sys.stdout of its first import; imported here, outside any test's output capture, that is
# the real stream and not a captured one that is closed after its test.
ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "torch", "jax")
BACKEND = keras.config.backend()

# Tests that one pass covers (no backend work, their own process for every backend, or
# backend work that other tests run on every backend) run in one pytest pass only (`make
# test` sets KZOO_TEST_ONCE=1 on the first); another KERAS_BACKEND would repeat their work.
once = pytest.mark.skipif(
    os.environ.get("KZOO_TEST_ONCE", "1") != "1",
    reason="one pass covers it; ran in the first pass",
)


def pytest_collection_modifyitems(items):
    """The data-parallel tests first, so that one worker starts them: their module fixtures
    take minutes (JAX: two), and a worker stealing the module's later tests near the end of
    a pass would compute them again."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/test_data_parallel.py"))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture
def offline(monkeypatch):
    """Every network connection fails, and no proxy is set; returns the list of attempts."""
    for proxy in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# A warm interpreter per backend and pytest worker runs each ``run_python`` code in a fresh
# namespace: importing Keras and a framework costs 4-10 s a process on this CPU, paid once
# per worker instead of once per call (the harness loads every game's save under another
# backend). It answers one JSON line per request: the code's stdout, or its traceback; then
# it clears Keras' session. Modules a request imports stay imported for the next ones.
_SERVER = r"""
import contextlib, gc, io, json, os, sys, traceback
replies = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # stray writes to stdout (C++ logs) go to stderr, not into the replies
for line in sys.stdin:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(json.loads(line), "<run_python>", "exec"), {"__name__": "__main__"})
        reply = {"stdout": out.getvalue()}
    except BaseException:
        reply = {"stdout": out.getvalue(), "error": traceback.format_exc()}
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()
    replies.write(json.dumps(reply) + "\n")
    replies.flush()
"""
_servers = {}


def _server(backend):
    proc, log = _servers.get(backend, (None, None))
    if proc is None or proc.poll() is not None:
        env = {**os.environ, "KERAS_BACKEND": backend}
        log = tempfile.TemporaryFile("w+")  # its stderr, for the failure message
        proc = subprocess.Popen([sys.executable, "-u", "-c", _SERVER], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                                cwd=ROOT)
        _servers[backend] = proc, log
    return proc, log


def _tail(log):
    log.seek(0)
    return log.read()[-3000:]


def run_python(code, backend, timeout=300):
    """Runs ``code`` under ``backend`` in another interpreter (a warm one, kept for the
    session; each code gets a fresh namespace); returns its last stdout line parsed as
    JSON."""
    proc, log = _server(backend)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        proc.stdin.write(json.dumps(code) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
    finally:
        timer.cancel()
    assert line, (f"the {backend} interpreter ended (exit {proc.wait()}, or past {timeout} s):"
                  f"\n{_tail(log)}")
    reply = json.loads(line)
    assert "error" not in reply, reply["error"][-3000:] + _tail(log)
    return json.loads(reply["stdout"].strip().splitlines()[-1])


@pytest.fixture(scope="session", autouse=True)
def _stop_servers():
    yield
    for proc, log in _servers.values():
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# The backends of this `make test`'s pytest passes (`make test` names them; a lone pytest
# run is its own backend's only pass).
PASSES = tuple(os.environ.get("KZOO_TEST_BACKENDS", BACKEND).split())


def in_turn(index, what, slow=()):
    """Skips the case ``index`` of a list that the passes share out in turn, case i to the
    i-th (cyclically) of ``PASSES`` less the ``slow`` backends (where the cases cost several
    times as much; a pass of only slow backends shares them out among those), unless it is
    this backend's (a lone pytest run, or one whose backend ``KZOO_TEST_BACKENDS`` does not
    name, runs them all); ``what`` says why one backend suffices for each case."""
    owners = [p for p in PASSES if p not in slow] or PASSES
    owner = owners[index % len(owners)] if BACKEND in PASSES else BACKEND
    if owner != BACKEND:
        pytest.skip(f"the {owner} pass runs this case (KZOO_TEST_BACKENDS; unset, every "
                    f"case runs): {what}")


def next_backend():
    """The backend after this one in ``BACKENDS``, cyclically. Over the three passes of
    ``make test`` (all of ``BACKENDS``), every backend's saves are loaded by another and
    every backend loads another's, at half the cost of loading each save under both."""
    return BACKENDS[(BACKENDS.index(BACKEND) + 1) % len(BACKENDS)]


def data_here(name):
    """Whether data set ``name`` loads here without a download: an embedded one always, an
    IDX one (Fashion-MNIST, MNIST) when its files are found (`make data`)."""
    from kzoo.data import idx, registry

    if name in idx.PUBLISHERS:
        try:
            return idx.find(name) is not None
        except FileNotFoundError:  # some of the files only
            return False
    return registry.get(name).splits is None


def preset_cases(cards, slow=lambda card: False):
    """``cards``' names as parameters, each skipped (saying why) where its data is not here,
    and marked ``slow`` (left out of ``make test``; ``pytest -m slow`` runs it) where
    ``slow(card)``."""
    from kzoo.data import idx

    cases = []
    for card in cards:
        name = card.recipe_spec["data"].get("name")
        missing = name is not None and not data_here(name)
        how = (f"provide {idx.where_to_put(name)}" if name in idx.PUBLISHERS else
               "tests download nothing")
        reason = f"{card.name} is tested on {name}, which is not here: {how}" if missing else ""
        marks = [pytest.mark.skipif(missing, reason=reason)] + [pytest.mark.slow] * slow(card)
        cases.append(pytest.param(card.name, marks=marks))
    return cases
