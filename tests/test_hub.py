"""Presets published over HTTP: downloaded once into the cache, the sha256 checked first.

A server on 127.0.0.1 stands in for a web host or a hub (no internet needed)."""

import functools
import http.server
import json
import re
import shutil
import threading
import time

import numpy as np
import pytest
from conftest import once

import kzoo
from kzoo import cli, hub, zoo

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
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
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
    assert len(cached) == 1 and zoo.ModelCard.read(cached[0]).name == PRESET
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
    card = zoo.ModelCard.read(zoo.resolve(f"hf://someone/{PRESET}"))
    assert card.name == PRESET
    assert f"/someone/{PRESET}/resolve/main/model.keras" in requests


@pytest.mark.parametrize("handle, message", [
    ("hf://just-a-name", "hf://owner/repo"),
    ("http://127.0.0.1:9/nothing", "cannot download http://127.0.0.1:9/nothing/card.json"),
])
def test_bad_handles_are_explained(handle, message, tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_CACHE", str(tmp_path))
    with pytest.raises((ValueError, OSError), match=message.replace(".", r"\.")):
        kzoo.load(handle)


@once
def test_the_figures_a_card_lists_come_with_it(served):
    """The figures a published card lists (its README shows them) are downloaded beside it;
    one the server lacks is skipped, as a missing README is; one over the cap refuses the
    preset and caches nothing."""
    root, url, requests = served
    target = _publish(root)
    card = json.loads((target / "card.json").read_text())
    (target / "card.json").write_text(json.dumps({**card, "figures": ["curves.png",
                                                                      "absent.png"]}))
    cached = hub.fetch(f"{url}/{PRESET}")
    assert (cached / "curves.png").read_bytes() == (target / "curves.png").read_bytes()
    assert f"/{PRESET}/absent.png" in requests and not (cached / "absent.png").exists()
    assert not (cached / "confusion.png").exists()  # not listed: not asked for
    shutil.rmtree(hub.cache_dir())
    (target / "curves.png").write_bytes(b"\x89PNG" + bytes(hub.MAX_CARD_BYTES))
    with pytest.raises(OSError, match=r"curves\.png: over the cap of 1048576 bytes"):
        hub.fetch(f"{url}/{PRESET}")
    assert not list((hub.cache_dir() / "presets").iterdir())


def test_a_missing_preset_names_the_url(served):
    _, url, _ = served
    with pytest.raises(OSError, match="HTTP 404"):
        kzoo.load(f"{url}/no-such-preset")


# The limits of a download: servers that misbehave on purpose.

@pytest.fixture
def serve(tmp_path, monkeypatch):
    """``serve(routes)`` starts a server on 127.0.0.1 that answers ``GET path`` with
    ``routes[path](handler, stop)`` (404 for other paths) and returns its URL and the paths
    it was asked for; ``stop`` is set when the test ends. An empty cache."""
    servers, stop = [], threading.Event()

    def start(routes):
        asked = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                asked.append(self.path)
                if self.path not in routes:
                    self.send_error(404)
                    return
                try:
                    routes[self.path](self, stop)
                except OSError:  # the client hung up, as it should
                    pass

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", asked

    monkeypatch.setenv("KZOO_CACHE", str(tmp_path / "cache"))
    yield start
    stop.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def _send(body, length=None, pause_after=None):
    """A route sending ``body`` (``length``: the Content-Length declared, None: none, the
    connection's end marks the end); with ``pause_after``, it stops 5 s after that many
    bytes (a client that reads on is caught waiting)."""
    def route(handler, stop):
        handler.send_response(200)
        if length is not None:
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        handler.wfile.write(body[:pause_after])
        if pause_after is not None and not stop.wait(5):
            handler.wfile.write(body[pause_after:])
    return route


def _trickle(n, stall_after=None, sent=None):
    """A route declaring ``n`` bytes and sending one every 0.2 s; with ``stall_after``, it
    sends that many, then nothing for 10 s. Appends each byte's time to ``sent``."""
    def route(handler, stop):
        handler.send_response(200)
        handler.send_header("Content-Length", str(n))
        handler.end_headers()
        for i in range(n):
            if i == stall_after and stop.wait(10):
                return
            handler.wfile.write(b"x")
            if sent is not None:
                sent.append(time.monotonic())
            if stop.wait(0.2):
                return
    return route


def _redirect(location):
    def route(handler, stop):
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return route


def _preset_routes(prefix=f"/{PRESET}", **card_changes):
    """Routes serving the zoo's ``PRESET`` under ``prefix``, its card changed as given (a
    field given as None left out)."""
    directory = zoo.resolve(PRESET)
    card = (directory / "card.json").read_bytes()
    if card_changes:
        changed = {**zoo.ModelCard.read(directory).to_dict(), **card_changes}
        card = json.dumps({k: v for k, v in changed.items() if v is not None}).encode()
    model = (directory / "model.keras").read_bytes()
    return {f"{prefix}/card.json": _send(card),
            f"{prefix}/model.keras": _send(model, len(model))}


def _cached():
    presets = hub.cache_dir() / "presets"
    return sorted(presets.iterdir()) if presets.is_dir() else []


def _refused_within(url, message, seconds=3):
    """``hub.fetch(url)`` raises an OSError matching ``message`` in under ``seconds`` (it
    does not wait for the bytes still to come) and caches nothing; the times it started
    and was refused."""
    start = time.monotonic()
    with pytest.raises(OSError, match=message):
        hub.fetch(url)
    end = time.monotonic()
    assert end - start < seconds
    assert not _cached()
    return start, end


# The tests from here to the served-code ones only call hub.fetch: no backend work.
@once
@pytest.mark.parametrize("stall_after", [None, 15])
def test_a_slow_server_is_cut_off_at_the_deadline(serve, monkeypatch, stall_after):
    """A byte every 0.2 s (60 s in all), or 3 s of that, then nothing for 10 s: the download
    is cut at the deadline (4 s), not 4 s after the last byte, since every read gets only
    the time left (a read timeout of the whole deadline would wait 4 s after it)."""
    routes, sent = _preset_routes(), []
    routes[f"/{PRESET}/model.keras"] = _trickle(300, stall_after, sent)
    url, _ = serve(routes)
    monkeypatch.setenv("KZOO_DOWNLOAD_DEADLINE_S", "4")
    start, end = _refused_within(  # not the 60 s the bytes would take
        f"{url}/{PRESET}", r"download of .*/model\.keras exceeded its deadline of 4 s "
                           r"\(KZOO_DOWNLOAD_DEADLINE_S\)", seconds=10)
    assert end - start >= 4
    assert sent and end - sent[-1] < 3


@once
@pytest.mark.parametrize("name, value, kwargs, message", [
    ("KZOO_DOWNLOAD_DEADLINE_S", "soon", {}, "must be a finite number > 0; got 'soon'"),
    ("KZOO_DOWNLOAD_DEADLINE_S", "0", {}, "must be a finite number > 0; got 0.0"),
    ("KZOO_DOWNLOAD_DEADLINE_S", "nan", {}, "must be a finite number > 0; got nan"),
    ("KZOO_MAX_MODEL_BYTES", "2GB", {}, "must be an int >= 1; got '2GB'"),
    ("KZOO_MAX_MODEL_BYTES", "0", {}, "must be an int >= 1; got 0"),
    ("deadline_s", None, {"deadline_s": -1}, "must be a finite number > 0; got -1"),
])
def test_bad_limits_are_explained(serve, monkeypatch, name, value, kwargs, message):
    url, asked = serve(_preset_routes())
    if value is not None:
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(f"{name} {message}")):
        hub.fetch(f"{url}/{PRESET}", **kwargs)
    assert not asked and not _cached()


@once
def test_an_oversize_card_is_refused_once_past_the_cap(serve):
    card = json.dumps({"padding": "x" * (2 << 20)}).encode()  # 2 MB, no Content-Length
    url, _ = serve({"/big/card.json": _send(card, pause_after=(1 << 20) + (256 << 10))})
    _refused_within(f"{url}/big", r"/big/card\.json: over the cap of 1048576 bytes "
                                  r"\(MAX_CARD_BYTES\)")


@once
@pytest.mark.parametrize("declared", [False, True])
def test_a_model_over_its_cards_model_bytes_is_refused_early(serve, declared):
    routes = _preset_routes(model_bytes=1000)
    body = b"x" * 5000
    routes[f"/{PRESET}/model.keras"] = _send(body, len(body) if declared else None,
                                             pause_after=2000)
    url, _ = serve(routes)
    _refused_within(f"{url}/{PRESET}", r"model\.keras: over the cap of 1000 bytes "
                                       r"\(the card's model_bytes\)")


@once
@pytest.mark.parametrize("model_bytes", [None, 208161])
def test_a_model_over_the_size_limit_is_refused(serve, monkeypatch, model_bytes):
    """Without model_bytes, once past the limit; with one over the limit, before asking."""
    url, asked = serve(_preset_routes(model_bytes=model_bytes))
    monkeypatch.setenv("KZOO_MAX_MODEL_BYTES", "1000")
    with pytest.raises(OSError, match=r"over the cap of 1000 bytes \(KZOO_MAX_MODEL_BYTES\)"):
        hub.fetch(f"{url}/{PRESET}")
    assert (f"/{PRESET}/model.keras" in asked) == (model_bytes is None) and not _cached()


@once
@pytest.mark.parametrize("model_bytes", [0, "208161", True])
def test_a_bad_model_bytes_is_refused_before_the_model_is_downloaded(serve, model_bytes):
    url, asked = serve(_preset_routes(model_bytes=model_bytes))
    with pytest.raises(ValueError, match=f"^{url}/{PRESET}/card.json: model_bytes must be"):
        hub.fetch(f"{url}/{PRESET}")
    assert f"/{PRESET}/model.keras" not in asked and not _cached()


@once
@pytest.mark.parametrize("model_bytes, length", [(None, "all"), ("all", None), ("all", "half")])
def test_a_short_model_is_a_truncated_download(serve, model_bytes, length):
    size = (zoo.resolve(PRESET) / "model.keras").stat().st_size
    sizes = {None: None, "all": size, "half": size // 2}
    routes = _preset_routes(model_bytes=size if model_bytes else None)
    body = (zoo.resolve(PRESET) / "model.keras").read_bytes()[:size // 2]
    routes[f"/{PRESET}/model.keras"] = _send(body, sizes[length])
    url, _ = serve(routes)
    with pytest.raises(OSError, match=rf"^{url}/{PRESET}/model\.keras: truncated download "
                                      rf"\(got {size // 2} of {size} bytes\)"):
        hub.fetch(f"{url}/{PRESET}")
    assert not _cached()


@once
def test_credentials_in_a_url_are_refused_unsaid(served):
    _, url, requests = served
    secret = url.replace("http://", "http://user:secret@")
    with pytest.raises(ValueError, match="credentials") as refusal:
        hub.fetch(f"{secret}/{PRESET}")
    assert "secret" not in str(refusal.value) and "user:" not in str(refusal.value)
    assert "http://***@127.0.0.1" in str(refusal.value)
    assert not requests


@once
@pytest.mark.parametrize("handle", [
    "hf://owner/..", "hf://../p", "hf://o/r#x", "hf://o/r?x", "hf://o/r x", "hf://o/r/extra",
    "hf://o/a..b", "https://host/p?x", "https://host/p#x", "https://host/a/../b",
    "https://host/a/%2e%2e/b", "https://host/a b", "https:///p",
])
def test_handles_that_are_not_allowed_are_explained(handle, tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="with no query|owner and repo made of") as refusal:
        hub.fetch(handle)
    assert repr(handle) in str(refusal.value)


@once
@pytest.mark.parametrize("allowed_by", ["argument", "environment"])
def test_a_redirect_to_another_host_is_refused_unless_allowed(serve, monkeypatch, allowed_by):
    """Another port of 127.0.0.1 is another server: refused, unless its host is allowed."""
    other, other_asked = serve(_preset_routes())
    url, _ = serve({f"/{PRESET}/{name}": _redirect(f"{other}/{PRESET}/{name}")
                    for name in ("card.json", "model.keras")})
    with pytest.raises(OSError, match=r"redirects to http://127\.0\.0\.1:\d+/.*card\.json, "
                                      r"on another scheme, host or port; refused"):
        hub.fetch(f"{url}/{PRESET}", allow_redirects_to=(".example.org",))
    assert not other_asked and not _cached()
    allowed = ["cdn.example.org", "127.0.0.1"]
    if allowed_by == "environment":
        monkeypatch.setenv("KZOO_ALLOW_REDIRECT_HOSTS", " , ".join(allowed))
        directory = hub.fetch(f"{url}/{PRESET}")
    else:
        directory = hub.fetch(f"{url}/{PRESET}", allow_redirects_to=allowed)
    assert f"card_url: {other}/{PRESET}/card.json" in (directory / "source.txt").read_text()


@once
def test_a_redirect_on_the_same_host_is_followed_and_recorded(serve):
    routes = _preset_routes("/new")
    routes["/old/card.json"] = _redirect("/new/card.json")
    routes["/old/model.keras"] = _redirect("/new/model.keras")
    url, _ = serve(routes)
    directory = hub.fetch(f"{url}/old/")
    source = dict(line.split(": ", 1)
                  for line in (directory / "source.txt").read_text().splitlines())
    assert source == {"handle": f"{url}/old/", "card_url": f"{url}/new/card.json",
                      "card_sha256": zoo.sha256(zoo.resolve(PRESET) / "card.json"),
                      "model_sha256": zoo.ModelCard.read(zoo.resolve(PRESET)).sha256}


@once
def test_a_changed_card_in_the_cache_is_refused(served):
    root, url, _ = served
    _publish(root)
    directory = hub.fetch(f"{url}/{PRESET}")
    card = json.loads((directory / "card.json").read_text())
    card["metrics"] = {"accuracy": 1.0}
    (directory / "card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match=re.escape(
            f"{directory / 'card.json'}: sha256 differs from the one recorded in source.txt "
            f"when it was downloaded; delete the cache entry {directory} to download")):
        hub.fetch(f"{url}/{PRESET}")


@once
def test_the_card_is_checked_for_code_before_the_model_is_downloaded(served, monkeypatch):
    root, url, requests = served
    _publish(root)
    calls = []

    def check_code(card, source, trust_code):
        calls.append((card.name, source, trust_code))
        if not trust_code:
            raise ValueError(f"{source}: its game would import code.")

    monkeypatch.setattr(hub.ModelCard, "check_code", check_code)
    with pytest.raises(ValueError, match="would import code"):
        hub.fetch(f"{url}/{PRESET}/")
    assert f"/{PRESET}/model.keras" not in requests and not _cached()
    hub.fetch(f"{url}/{PRESET}", trust_code=True)
    with pytest.raises(ValueError, match="would import code"):  # from the cache: again
        hub.fetch(f"{url}/{PRESET}")
    assert calls == [(PRESET, f"{url}/{PRESET}", trust) for trust in (False, True, False)]


PAYLOAD = '''
import pathlib
pathlib.Path({marker!r}).write_text("ran")

from kzoo.games import Classifier


class G(Classifier):
    pass
'''


@pytest.mark.parametrize("where", ["load", "eval", "sample", "card"])
def test_a_served_card_naming_a_module_never_runs_it(served, tmp_path, monkeypatch, capsys,
                                                     where):
    """A published card whose game is "payload:G", with payload.py importable here (in
    the working directory, as an attacker would hope): refused before anything is imported
    or cached, for kzoo.load and each command; trust_code=True is the only way in."""
    root, url, requests = served
    target = _publish(root)
    card = json.loads((target / "card.json").read_text())
    card["game"] = card["recipe_spec"]["game"]["name"] = "payload:G"
    (target / "card.json").write_text(json.dumps(card))
    marker = tmp_path / "marker"
    work = tmp_path / "work"
    work.mkdir()
    (work / "payload.py").write_text(PAYLOAD.format(marker=str(marker)))
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    handle = f"{url}/{PRESET}"
    if where == "load":
        with pytest.raises(ValueError, match=r"names the game 'payload:G', defined outside "
                                             r"kzoo; loading it would import and run code"):
            kzoo.load(handle)
    else:
        argv = [where, handle] + (["--out", str(tmp_path / "s.png")] if where == "sample"
                                  else [])
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "'payload:G', defined outside kzoo" in err and "--trust-code" in err
        assert len(err.strip().splitlines()) == 1
    assert not marker.exists(), "the card's module was imported"
    assert f"/{PRESET}/model.keras" not in requests and not _cached()
    if where == "load":  # only True lets it in: a truthy string is refused, importing nothing
        for word in ("False", "no", 1):
            with pytest.raises(ValueError, match=r"trust_code must be true or false; got "):
                kzoo.load(handle, trust_code=word)
        assert not marker.exists()
        kzoo.load(handle, trust_code=True)  # the user's explicit choice: the module is imported
        assert marker.exists()
