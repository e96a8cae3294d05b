"""Shared fixtures and helpers for kzoo's tests."""

import json
import os
import subprocess
import sys
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

# Tests that start their own process for every backend run in one pytest pass only
# (`make test` sets KZOO_TEST_ONCE=1 on the first); running them again under
# another KERAS_BACKEND would repeat identical work.
once = pytest.mark.skipif(
    os.environ.get("KZOO_TEST_ONCE", "1") != "1",
    reason="backend-independent (runs every backend in subprocesses); ran in the first pass",
)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def run_python(code, backend, timeout=300):
    """Runs ``code`` in a fresh interpreter under ``backend``; returns its last stdout line
    parsed as JSON."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def next_backend():
    """The backend after this one in ``BACKENDS``, cyclically. Over the three passes of
    ``make test`` (all of ``BACKENDS``), every backend's saves are loaded by another and
    every backend loads another's, at half the cost of loading each save under both."""
    return BACKENDS[(BACKENDS.index(BACKEND) + 1) % len(BACKENDS)]
