"""Presets published over HTTP: downloaded once into the cache, the sha256 checked first.

A server on 127.0.0.1 stands in for a web host or a hub (no internet needed)."""

import functools
import http.server
import json
import shutil
import threading

import numpy as np
import pytest

import kzoo
from kzoo import hub, zoo

PRESET = "digits-lt10-cnn-ce"


@pytest.fixture
def served(tmp_path, monkeypatch):
    """``(root, base_url, requests)``: a directory served on 127.0.0.1, the server's URL and
    the paths it was asked for; an empty cache."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("KZOO_CACHE", str(tmp_path / "cache"))
    yield root, f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def _publish(root, name=PRESET, as_path=None):
    target = root / (as_path or name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(zoo.resolve(name), target)
    return target


def test_a_preset_loads_over_http_once_into_the_cache(served):
    root, url, requests = served
    _publish(root)
    model = kzoo.load(f"{url}/{PRESET}/")
    local = kzoo.load(PRESET)
    x = kzoo.data.load("digits").x_test[:50]
    np.testing.assert_allclose(kzoo.metrics.predict_proba(model, x),
                               kzoo.metrics.predict_proba(local, x), atol=1e-6)
    cached = list((hub.cache_dir() / "presets").iterdir())
    assert len(cached) == 1 and zoo.read_card(cached[0])["name"] == PRESET
    downloads = len(requests)
    kzoo.load(f"{url}/{PRESET}")  # second time: from the cache
    assert len(requests) == downloads


def test_a_tampered_preset_is_refused_and_nothing_is_cached(served):
    root, url, _ = served
    target = _publish(root)
    card = json.loads((target / "card.json").read_text())
    card["sha256"] = "0" * 64
    (target / "card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="does not match its card.*refused"):
        kzoo.load(f"{url}/{PRESET}")
    assert not list((hub.cache_dir() / "presets").iterdir())


def test_a_hub_handle_maps_to_the_hub_layout(served, monkeypatch):
    root, url, requests = served
    _publish(root, as_path=f"someone/{PRESET}/resolve/main")
    monkeypatch.setenv("HF_ENDPOINT", url)
    card = zoo.read_card(zoo.resolve(f"hf://someone/{PRESET}"))
    assert card["name"] == PRESET
    assert f"/someone/{PRESET}/resolve/main/model.keras" in requests


@pytest.mark.parametrize("handle, message", [
    ("hf://just-a-name", "hf://owner/repo"),
    ("http://127.0.0.1:9/nothing", "cannot download http://127.0.0.1:9/nothing/card.json"),
])
def test_bad_handles_are_explained(handle, message, tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_CACHE", str(tmp_path))
    with pytest.raises((ValueError, OSError), match=message.replace(".", r"\.")):
        kzoo.load(handle)


def test_a_missing_preset_names_the_url(served):
    _, url, _ = served
    with pytest.raises(OSError, match="HTTP 404"):
        kzoo.load(f"{url}/no-such-preset")
